// A Phone as the page builds it (the real SIP.js module, Watchdog and SessionCheck), outside a browser: the
// window it listens on is a bare EventTarget, the service answers through `answer`, and the UA, which needs a
// WebSocket, is a recording stand-in for connection.test.mjs and expiry.test.mjs.

import { EventEmitter } from "node:events";
import { createRequire } from "node:module";

import { Phone } from "../../static/js/phone.js";
import { SessionCheck } from "../../static/js/turn.js";

export const SIP = createRequire(import.meta.url)("sip.js");

/** The SIP.js UA as the phone uses it: what it was asked to do, in order. */
export class FakeUa extends EventEmitter {
  constructor({ registered = true, connected = true } = {}) {
    super();
    this.done = [];
    this.registered = registered;
    this.transport = {
      isConnected: () => connected,
      disconnect: (options) => this.done.push(["disconnect", options]),
    };
  }

  isRegistered() { return this.registered; }
  unregister() { this.done.push("unregister"); }
  stop() { this.done.push("stop"); }
}

/**
 * A new Phone whose session ends at `expiresAt` (epoch ms) and whose session check gets `answer()`, a
 * {status, body}; with `events`, the type and detail of what it dispatched, and the `warnings` it logged.
 */
export function newPhone({ expiresAt = Date.now() + 3_600_000, answer = () => ({ status: 200, body: {} }) } = {}) {
  globalThis.window ??= new EventTarget();
  const quiet = () => {};
  const warnings = [];
  const phone = new Phone({
    params: {
      server: "pbx.example.com", username: "1001", password: "secret", expiresAt, expire_date: String(expiresAt),
      auth_key: "k", customer_id: "c", user_id: "u", turn_port: 443,
    },
    log: { info: quiet, warn: (text) => warnings.push(text), error: quiet, enabled: false, sipJsOptions: () => ({}) },
    tones: { play: quiet, stop: quiet },
    audio: {},
    location: { protocol: "https:" },
    SIP,
  });
  phone.sessionCheck = new SessionCheck({
    url: "https://pbx.example.com/webphone/turn-credentials",
    fetch: async () => {
      const { status, body } = answer();
      return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    },
  });
  const events = [];
  const record = (e) => events.push([e.type, e.detail ?? null]);
  for (const type of ["registered", "unregistered", "link", "expired", "expiring", "logged-out", "error", "notice",
    "refreshed"]) {
    phone.addEventListener(type, record);
  }
  return { phone, events, warnings };
}
