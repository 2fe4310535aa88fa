// The session's end (expiry.js): a warning five minutes before, the expiry itself a moment before expire_date
// (by the timer, or by the clock's tick after a late timer), and the wind-down every end shares: the call ended,
// a registered UA unregistered before it is closed, and nothing after it.

import assert from "node:assert/strict";
import { test } from "node:test";

import { windDownAt } from "../../static/js/expiry.js";
import { FakeUa, newPhone } from "./phone-fixture.mjs";

const MINUTE = 60_000;

test("the phone winds down two seconds before expire_date, so its BYE and un-REGISTER still get through", () => {
  assert.equal(windDownAt(1_000_000), 998_000);
  const { phone } = newPhone({ expiresAt: 5_000_000 });
  assert.equal(phone.windDownAt, 4_998_000);
});

test("the clock warns once, five minutes before the end, and expires the phone when its timer came late", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const expiresAt = 1_000_000 + 10 * MINUTE;
  const { phone, events } = newPhone({ expiresAt });
  let ticks = 0;
  phone.addEventListener("tick", () => { ticks += 1; });
  phone.tick();
  assert.deepEqual([ticks, events], [1, []]);

  t.mock.timers.tick(5 * MINUTE);
  phone.tick();
  phone.tick();
  assert.equal(ticks, 3);
  assert.equal(events.length, 2);
  const [[noticeType, notice], expiring] = events;
  assert.equal(noticeType, "notice");
  assert.deepEqual([notice.id, notice.level, notice.scope], ["expiry", "warn", null]);
  assert.match(notice.text, /^This session ends at .+ \(in 5 min\)\. Ask for a new link to keep working\.$/);
  assert.deepEqual(expiring, ["expiring", { at: new Date(expiresAt).toISOString(), minutes: 5 }]);

  t.mock.timers.tick(5 * MINUTE - 2000);
  phone.tick();
  assert.deepEqual([ticks, phone.connection, phone.state, phone.finished], [3, "expired", "expired", true]);
  assert.match(events[2][1].message, /^The session ended on .+\. Ask for a new webphone link\.$/);
  phone.expire();
  phone.tick();
  assert.deepEqual([ticks, events.length], [3, 3]);
});

test("the expiry timer fires at the wind-down, not before; a session already past it expires at once", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { phone } = newPhone({ expiresAt: 1_000_000 + MINUTE });
  phone.scheduleExpiry();
  t.mock.timers.tick(MINUTE - 2001);
  assert.equal(phone.connection, "connecting");
  t.mock.timers.tick(1);
  assert.equal(phone.connection, "expired");

  const late = newPhone({ expiresAt: 1_000_000 + 1000 }).phone;
  late.scheduleExpiry();
  assert.equal(late.connection, "expired");
});

test("every end ends the call, unregisters a registered UA and then closes it; the first end wins", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const ended = [];
  const { phone, events } = newPhone();
  phone.ua = new FakeUa();
  phone.call = { end: (cause) => ended.push(cause) };
  phone.fail("The server refused this session.");
  assert.deepEqual([ended, phone.ua.done], [["Error"], ["unregister"]]);
  phone.ua.emit("unregistered");
  assert.deepEqual(phone.ua.done, ["unregister", "stop"]);
  phone.logOut();
  assert.deepEqual([phone.connection, phone.message], ["error", "The server refused this session."]);
  assert.deepEqual(events, [["error", { message: "The server refused this session." }]]);

  // No answer to the un-REGISTER: the UA is closed all the same.
  const silent = newPhone().phone;
  silent.ua = new FakeUa();
  silent.logOut();
  t.mock.timers.tick(1499);
  assert.deepEqual(silent.ua.done, ["unregister"]);
  t.mock.timers.tick(1);
  assert.deepEqual(silent.ua.done, ["unregister", "stop"]);

  // Not registered (or not connected): closed at once, and a UA that throws on closing is only logged.
  const { phone: down, warnings } = newPhone();
  down.ua = new FakeUa({ connected: false });
  down.ua.stop = () => { throw new Error("already stopped"); };
  down.expire();
  assert.equal(down.connection, "expired");
  assert.equal(warnings.at(-1), "closing the UA: Error: already stopped");
});
