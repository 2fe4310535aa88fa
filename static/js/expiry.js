// The session's end (the Phone's half that stops it for good): the expiry timer and the warning before
// expire_date, the expiry itself, a ViciDial log-out, a failure, and the wind-down they share (end the call,
// unregister, close the UA, stop every timer). A mixin over the Phone's fields (expiresAt, windDownAt, finished,
// message, ua, call, watchdog), which phone.js's constructor sets up.

import { MAX_TIMEOUT } from "./phone-rules.js";

const EXPIRY_WARNING_MS = 5 * 60 * 1000;
// The relay closes the WebSocket at expire_date itself: wind down a moment earlier, so the BYE and the
// un-REGISTER still reach the other side.
const EXPIRY_LEAD_MS = 2000;

/** When the phone winds down for a session that expires at `expiresAt` (epoch ms). Pure. */
export function windDownAt(expiresAt) {
  return expiresAt - EXPIRY_LEAD_MS;
}

/** The expiry half of the Phone, over `Base` (an EventTarget with the Phone's emit, changed, notice). */
export const withExpiry = (Base) => class extends Base {
  scheduleExpiry() {
    const left = this.windDownAt - Date.now();
    if (left <= 0) {
      this.expire();
      return;
    }
    // setTimeout holds at most ~24.8 days: chain shorter waits for sessions that long.
    this.expiryTimer = setTimeout(() => this.scheduleExpiry(), Math.min(left, MAX_TIMEOUT));
  }

  tick() {
    if (this.finished) return;
    const left = this.windDownAt - Date.now();
    if (left <= 0) {
      this.expire(); // a late timer (sleeping laptop) is caught here too
      return;
    }
    if (!this.warned && left <= EXPIRY_WARNING_MS) {
      this.warned = true;
      const at = new Date(this.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const minutes = Math.max(1, Math.round(left / 60000));
      this.notice("expiry", "warn", `This session ends at ${at} (in ${minutes} min). Ask for a new link to keep working.`);
      this.emit("expiring", { at: new Date(this.expiresAt).toISOString(), minutes });
    }
    this.dispatchEvent(new Event("tick"));
  }

  /** At expire_date: end the call, unregister, say so, and never reconnect. */
  expire(message = null) {
    if (this.connection === "expired") return;
    const at = new Date(this.expiresAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    message ??= `The session ended on ${at}. Ask for a new webphone link.`;
    this.log.warn("session expired");
    this.stopEverything("Session expired");
    this.message = message;
    this.setConnection("expired");
    this.emit("expired", { message });
  }

  /** The agent logged out of ViciDial: the server closed the session (4001 "logged out"); never reconnect. */
  logOut(message = "You logged out of ViciDial, so this phone has stopped. Log in to the agent screen again.") {
    if (this.finished) return;
    this.log.warn("logged out of ViciDial");
    this.stopEverything("Logged out");
    this.message = message;
    this.setConnection("logged-out");
    this.emit("logged-out", { message });
  }

  /** The phone cannot go on (session refused, credentials wrong). */
  fail(message) {
    if (this.finished) return;
    this.log.error(message);
    this.stopEverything("Error");
    this.message = message;
    this.setConnection("error");
    this.emit("error", { message });
  }

  stopEverything(cause) {
    this.finished = true;
    this.watchdog.stop();
    clearTimeout(this.expiryTimer);
    clearTimeout(this.turnRefresh);
    clearInterval(this.clock);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.call?.end(cause);
    const ua = this.ua;
    if (!ua) return;
    // Unregister (best effort: the relay closes at expire_date too), then close the UA.
    const close = () => {
      try {
        ua.stop();
      } catch (error) {
        this.log.warn(`closing the UA: ${error}`);
      }
    };
    if (ua.isRegistered() && ua.transport.isConnected()) {
      ua.once("unregistered", close);
      ua.unregister();
      setTimeout(close, 1500);
    } else {
      close();
    }
  }
};
