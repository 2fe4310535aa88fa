// The reconnect watchdog: when the next attempt is and why, for the page's countdown; "now" replaces it.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Watchdog, backoffDelay } from "../../static/js/watchdog.js";

test("a failure schedules the next attempt and remembers why; success forgets both", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  let attempts = 0;
  const dog = new Watchdog({ attempt: () => { attempts += 1; }, deadline: () => Infinity });
  assert.deepEqual([dog.nextAt, dog.reason], [null, ""]);
  dog.failed("connection closed");
  assert.equal(dog.reason, "connection closed");
  const delay = dog.nextAt - Date.now();
  assert.ok(delay >= 400 && delay <= 600, delay);
  t.mock.timers.tick(delay);
  assert.equal(dog.nextAt, null);
  dog.failed("registration failed: 503");
  assert.ok(dog.nextAt - Date.now() >= 800);
  dog.now("asked by the agent");
  assert.equal(dog.nextAt, null);
  dog.succeeded();
  assert.deepEqual([dog.nextAt, dog.reason], [null, ""]);
});

test("no attempt is scheduled past the deadline", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const dog = new Watchdog({ attempt: () => {}, deadline: () => Date.now() + 100 });
  dog.failed("connection closed");
  assert.equal(dog.nextAt, null);
  assert.equal(backoffDelay(0, { random: () => 0.5 }), 500);
});

test("the back-off grows without limit but is capped", () => {
  const delays = [0, 1, 2, 3, 10, 1000].map(
    (n) => [backoffDelay(n, { random: () => 0 }), backoffDelay(n, { random: () => 1 })]);
  assert.deepEqual(delays[0], [400, 600]);
  assert.deepEqual(delays[1], [800, 1200]);
  assert.deepEqual(delays.at(-1), [24000, 36000]);
  assert.deepEqual(delays.at(-2), delays.at(-1));
});
