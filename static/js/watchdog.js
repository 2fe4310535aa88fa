// The reconnect watchdog: SIP.js 0.15.11 gives up on a WebSocket after a few tries; this one does not.
// It retries with jittered exponential back-off, without limit, until the session's expire_date, and at once
// when the browser says it is back online.

/** Delay before attempt `attempt` (0-based): 0.5 s, 1 s, 2 s ... capped at `max`, with ±20 % jitter. Pure. */
export function backoffDelay(attempt, { base = 500, max = 30000, jitter = 0.2, random = Math.random } = {}) {
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (1 - jitter + 2 * jitter * random()));
}

export class Watchdog {
  /**
   * @param {() => Promise<void>|void} attempt  one reconnect attempt (its outcome is reported via
   *   `succeeded()` / `failed()` by whoever observes the connection)
   * @param {() => number} deadline  epoch ms after which no attempt is made (expire_date)
   */
  constructor({ attempt, deadline, log, timers = globalThis }) {
    this.attemptFn = attempt;
    this.deadline = deadline;
    this.log = log;
    this.timers = timers;
    this.failures = 0;
    this.timer = null;
    this.stopped = false;
    this.nextAt = null; // epoch ms of the attempt scheduled, for the page's countdown
    this.reason = ""; // why the last attempt or connection failed
  }

  /** The connection is up and registered: the next loss starts the back-off from the beginning. */
  succeeded() {
    this.failures = 0;
    this.reason = "";
    this.cancel();
  }

  /** The connection (or an attempt) failed: schedule the next attempt unless one is already pending. */
  failed(reason = "") {
    if (this.stopped || this.timer !== null) return;
    this.reason = reason;
    const delay = backoffDelay(this.failures++);
    if (Date.now() + delay >= this.deadline()) {
      this.log?.(`not reconnecting (${reason}): the session ends before the next attempt`);
      return;
    }
    this.log?.(`reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${this.failures}${reason ? `; ${reason}` : ""})`);
    this.nextAt = Date.now() + delay;
    this.timer = this.timers.setTimeout(() => this.run(), delay);
  }

  /** Try now (the browser's `online` event), replacing any pending attempt. */
  now(reason = "") {
    if (this.stopped) return;
    this.cancel();
    this.log?.(`reconnecting now${reason ? ` (${reason})` : ""}`);
    this.run();
  }

  run() {
    this.timer = null;
    this.nextAt = null;
    if (this.stopped || Date.now() >= this.deadline()) return;
    Promise.resolve()
      .then(() => this.attemptFn())
      .catch((error) => this.failed(String(error?.message ?? error)));
  }

  cancel() {
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    this.nextAt = null;
  }

  stop() {
    this.stopped = true;
    this.cancel();
  }
}
