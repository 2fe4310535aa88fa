// CRM embedding (README, "CRM embedding"): commands by postMessage from the parent frame or the opener window,
// only from `crm_origin`; events posted back to that origin alone.

import { PhoneError } from "./errors.js";

const FORWARDED_EVENTS = ["registered", "unregistered", "incoming", "connected", "ended", "expired", "error", "link"];

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
      this.post({ type: "error", message: `bad command: ${problem}` });
      return;
    }
    this.log.info(`CRM command ${command.type}`);
    try {
      this.run(command);
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

/** The public fields of each event (README, "CRM embedding"), nothing internal. */
function pick(type, detail = {}) {
  switch (type) {
    case "incoming": return { from: detail.from, displayName: detail.displayName };
    case "connected": return { remote: detail.remote, direction: detail.direction };
    case "ended": return { cause: detail.cause };
    case "unregistered": return { cause: detail.cause };
    case "error": return { message: detail.message };
    case "expired": return { message: detail.message };
    case "link": return { up: detail.up };
    default: return {};
  }
}
