// CRM embedding (README, "CRM embedding"): commands by postMessage from the parent frame or the opener window,
// only from `crm_origin`; events posted back to that origin alone.

import { PhoneError } from "./errors.js";

const FORWARDED_EVENTS = [
  "registered", "unregistered", "incoming", "calling", "ringing", "connected", "held", "muted", "dtmf", "ended",
  "expiring", "expired", "error", "link", "quality",
];

/** Check a command's shape; returns [command, null] or [null, message]. Pure. */
export function parseCommand(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return [null, "a command must be an object"];
  const text = (v) => typeof v === "string" && v.length > 0 && v.length <= 64;
  switch (data.type) {
    case "dial":
      return text(data.number) ? [{ type: "dial", number: data.number }, null] : [null, "dial needs a number"];
    case "answer":
    case "reject":
    case "hangup":
    case "getState":
      return [{ type: data.type }, null];
    case "mute":
    case "hold":
      return typeof data.on === "boolean"
        ? [{ type: data.type, on: data.on }, null]
        : [null, `${data.type} needs on: true or false`];
    case "dtmf":
      return text(data.digits) ? [{ type: "dtmf", digits: data.digits }, null] : [null, "dtmf needs digits"];
    case "transfer":
      return text(data.target) ? [{ type: "transfer", target: data.target }, null] : [null, "transfer needs a target"];
    default:
      return [null, `unknown command ${JSON.stringify(String(data.type ?? "")).slice(0, 40)}`];
  }
}

export class CrmBridge {
  /** @param {string} origin  the crm_origin parameter, already validated as an origin */
  constructor({ origin, phone, log, win = window }) {
    this.origin = origin;
    this.phone = phone;
    this.log = log;
    this.win = win;
    // An iframe talks to its parent; a window the CRM opened talks to its opener.
    this.target = win.parent !== win ? win.parent : win.opener;
  }

  start() {
    if (!this.target) {
      this.log.warn(`crm_origin ${this.origin} is set, but the page has neither a parent frame nor an opener`);
      return;
    }
    this.win.addEventListener("message", (event) => this.onMessage(event));
    for (const type of FORWARDED_EVENTS) {
      this.phone.addEventListener(type, (event) => this.post({ type, ...pick(type, event.detail) }));
    }
    this.log.info(`CRM bridge ready for ${this.origin}`);
  }

  onMessage(event) {
    // Only the CRM's own window at the CRM's origin may drive the phone.
    if (event.origin !== this.origin || event.source !== this.target) return;
    const [command, problem] = parseCommand(event.data);
    if (!command) {
      const type = typeof event.data?.type === "string" ? event.data.type.slice(0, 40) : undefined;
      this.post({ type: "error", message: `bad command: ${problem}`, command: type });
      return;
    }
    this.log.info(`CRM command ${command.type}`);
    try {
      this.run(command);
      this.post({ type: "ok", command: command.type });
    } catch (error) {
      const message = error instanceof PhoneError ? error.message : `${command.type} failed: ${error.message}`;
      this.post({ type: "error", message, command: command.type });
    }
  }

  run(command) {
    const { phone } = this;
    switch (command.type) {
      case "dial": return phone.dial(command.number);
      case "answer": return phone.answer();
      case "reject": return phone.reject();
      case "hangup": return phone.hangup();
      case "mute": return phone.mute(command.on);
      case "hold": return phone.hold(command.on);
      case "dtmf": return phone.sendDtmf(command.digits);
      case "transfer": return phone.transfer(command.target);
      case "getState": return this.post({ type: "state", ...phone.snapshot() });
      default: return undefined;
    }
  }

  post(message) {
    try {
      this.target.postMessage(message, this.origin);
    } catch (error) {
      this.log.warn(`posting to the CRM failed: ${error.message}`);
    }
  }
}

/** The public fields of each event (README, "CRM embedding"), nothing internal; call events name their call. */
export function pick(type, detail = {}) {
  const callId = detail.call ? { call_id: detail.call.id } : {};
  switch (type) {
    case "incoming": return { ...callId, from: detail.from, displayName: detail.displayName };
    case "calling": return { ...callId, number: detail.number };
    case "ringing": return { ...callId };
    case "connected": return { ...callId, remote: detail.remote, direction: detail.direction };
    case "held":
    case "muted": return { ...callId, on: detail.on };
    case "dtmf": return { ...callId, direction: detail.direction, tones: detail.tones };
    case "expiring": return { at: detail.at, minutes: detail.minutes };
    case "ended": return { ...callId, cause: detail.cause, quality: detail.quality ?? null };
    case "quality": return { ...callId, mos: detail.mos, loss: detail.loss, jitter_ms: detail.jitter_ms, rtt_ms: detail.rtt_ms };
    case "unregistered": return { cause: detail.cause };
    case "error": return { message: detail.message };
    case "expired": return { message: detail.message };
    case "link": return { up: detail.up };
    default: return {};
  }
}
