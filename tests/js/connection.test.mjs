// The phone's connection (connection.js): registration raises the signalling link, a loss drops it and schedules
// the watchdog's next attempt with the reason in the agent's words, the relay's 4001 ends the session for good,
// a refused registration fails the phone, and the session check's answers become TURN settings or an end.

import assert from "node:assert/strict";
import { test } from "node:test";

import { FakeUa, SIP, newPhone } from "./phone-fixture.mjs";

const settle = () => new Promise((resolve) => setImmediate(resolve));

test("registering raises the link; a relay close drops it and schedules a retry in the agent's words", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { phone, events } = newPhone();
  phone.onRegistered();
  phone.onRegistered(); // SIP.js's REGISTER refresh: nothing changes
  assert.equal(phone.connection, "registered");
  assert.deepEqual(events, [["registered", {}]]);

  phone.onDisconnected({ code: 1013, reason: "upstream full" });
  assert.deepEqual([phone.connection, phone.linkUp], ["reconnecting", false]);
  assert.deepEqual(events.slice(1), [["unregistered", { cause: "reconnecting" }], ["link", { up: false }]]);
  assert.match(phone.retry.reason, /^the phone system is full/);
  assert.ok(phone.retry.at > Date.now());

  phone.onRegistered();
  assert.deepEqual([phone.connection, phone.linkUp], ["registered", true]);
  assert.deepEqual(events.slice(3), [["registered", {}], ["link", { up: true }]]);
  assert.deepEqual(phone.retry, { at: null, reason: "" });
});

test("a phone that never registered stays connecting; a lost registration is retried with its cause", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { phone, events } = newPhone();
  phone.onRegistrationFailed({ statusCode: 503 }, "Unavailable");
  assert.equal(phone.connection, "connecting");
  assert.equal(phone.retry.reason, "registration failed: 503");
  assert.deepEqual(events, []);

  phone.onRegistered();
  phone.onUnregistered("Expired");
  assert.equal(phone.connection, "reconnecting");
  assert.equal(phone.retry.reason, "unregistered: Expired");
});

test("a refused registration fails the phone for good: no retry", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { phone, events } = newPhone();
  phone.onRegistrationFailed({ statusCode: 403, reasonPhrase: "Forbidden" }, SIP.C.causes.REJECTED);
  assert.deepEqual([phone.connection, phone.finished, phone.state], ["error", true, "error"]);
  const message = "Registration refused (403 Forbidden): check the username and password in the webphone link.";
  assert.deepEqual(events, [["error", { message }]]);
  phone.onDisconnected({ code: 1006, reason: "" });
  assert.deepEqual([phone.connection, phone.retry.at], ["error", null]);
});

test("the relay's 4001 ends the session: expired, or logged out of ViciDial; nothing reconnects", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const expired = newPhone();
  expired.phone.onDisconnected({ code: 4001, reason: "session expired" });
  assert.equal(expired.phone.connection, "expired");
  assert.deepEqual(expired.events,
    [["expired", { message: "The session has expired (the server closed the connection)." }]]);

  const out = newPhone();
  out.phone.onRegistered();
  out.phone.onDisconnected({ code: 4001, reason: "logged out" });
  assert.equal(out.phone.state, "logged-out");
  assert.match(out.events.at(-1)[1].message, /^You logged out of ViciDial/);
  out.phone.retryNow();
  out.phone.onDisconnected(null);
  assert.deepEqual([out.phone.connection, out.phone.retry.at], ["logged-out", null]);
});

test("an unanswered keep-alive or the browser going offline drops the socket and reconnects", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  for (const lose of [(phone) => phone.onKeepAliveTimeout(), (phone) => phone.onOffline()]) {
    const { phone } = newPhone();
    phone.ua = new FakeUa();
    phone.onRegistered();
    lose(phone);
    assert.deepEqual(phone.ua.done, [["disconnect", { force: true }]]);
    assert.deepEqual([phone.connection, phone.linkUp, phone.retry.reason], ["reconnecting", false, "connection closed"]);
  }
});

test("once the link is back, a call in progress is refreshed and says how that went", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  for (const [outcome, shown] of [["refreshed", true], ["gone", true], ["none", false], ["stopped", false]]) {
    const { phone, events } = newPhone();
    const links = [];
    phone.call = { state: "in-call", setLink: (up) => links.push(up), refresh: async () => outcome };
    phone.onRegistered();
    phone.onDisconnected({ code: 1006, reason: "" });
    phone.onRegistered();
    await settle();
    assert.deepEqual(links, [false, true]);
    assert.deepEqual(events.filter(([type]) => type === "refreshed"), shown ? [["refreshed", { outcome }]] : []);
  }
});

test("the session check's answer: TURN settings (refreshed before they lapse), or the end of the session", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  let checks = 0;
  const turn = { uris: ["turn:pbx.example.com:3478"], username: "u", password: "p", ttl: 600, ice_transport_policy: "relay" };
  const { phone } = newPhone({ answer: () => { checks += 1; return { status: 200, body: turn }; } });
  assert.equal(await phone.checkSession(), true);
  assert.deepEqual(phone.rtc.iceServers, [{ urls: turn.uris, username: "u", credential: "p" }]);
  assert.equal(phone.rtc.iceTransportPolicy, "relay");
  t.mock.timers.tick(480_000); // 80 % of the ttl
  await settle();
  assert.equal(checks, 2);

  const none = newPhone({ answer: () => ({ status: 503, body: { message: "no TURN here" } }) }).phone;
  assert.equal(await none.checkSession(), true);
  assert.deepEqual([none.rtc.iceServers, none.rtc.iceTransportPolicy], [[], "all"]);

  const ends = [
    [{ status: 401, body: { reason: "session_expired" } }, "expired", "The server says this session has expired."],
    [{ status: 401, body: { reason: "logged_out" } }, "logged-out", /^You logged out of ViciDial/],
    [{ status: 403, body: { message: "bad key" } }, "error", "The server refused this session: bad key. Ask for a new webphone link."],
  ];
  for (const [answer, connection, message] of ends) {
    const { phone: ended } = newPhone({ answer: () => answer });
    assert.equal(await ended.checkSession(), false);
    assert.equal(ended.connection, connection);
    if (typeof message === "string") assert.equal(ended.message, message);
    else assert.match(ended.message, message);
  }
  const busy = newPhone({ answer: () => ({ status: 500, body: {} }) }).phone;
  await assert.rejects(busy.checkSession(), /the service answered HTTP 500/);
});

test("the agent's retry runs an attempt at once, which checks the session first", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { phone } = newPhone({ answer: () => ({ status: 401, body: { reason: "session_expired" } }) });
  phone.onDisconnected({ code: 1006, reason: "" });
  assert.notEqual(phone.retry.at, null);
  phone.retryNow();
  assert.equal(phone.retry.at, null);
  for (let i = 0; i < 5 && phone.connection !== "expired"; i += 1) await settle();
  assert.equal(phone.connection, "expired");
});
