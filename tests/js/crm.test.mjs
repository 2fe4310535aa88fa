// The CRM bridge: which commands are accepted, what each event carries (its call's id), and that it obeys only
// the CRM's own window at the CRM's origin, posting events back to that origin alone.

import assert from "node:assert/strict";
import { test } from "node:test";

import { CrmBridge, parseCommand, pick } from "../../static/js/crm.js";

test("getState is a command; unknown ones and bad shapes are refused with a reason", () => {
  assert.deepEqual(parseCommand({ type: "getState" }), [{ type: "getState" }, null]);
  assert.deepEqual(parseCommand({ type: "mute", on: "yes" }), [null, "mute needs on: true or false"]);
  assert.equal(parseCommand({ type: "explode" })[0], null);
  assert.equal(parseCommand([])[0], null);
});

test("call events carry the call's id and their public fields only", () => {
  const call = { id: "abc@x", secret: "no" };
  assert.deepEqual(pick("calling", { number: "1002", call }), { call_id: "abc@x", number: "1002" });
  assert.deepEqual(pick("ringing", { call }), { call_id: "abc@x" });
  assert.deepEqual(pick("held", { on: true, call }), { call_id: "abc@x", on: true });
  assert.deepEqual(pick("muted", { on: false, call }), { call_id: "abc@x", on: false });
  assert.deepEqual(pick("dtmf", { direction: "out", tones: "12", method: "info", call }),
    { call_id: "abc@x", direction: "out", tones: "12" });
  assert.deepEqual(pick("ended", { cause: "Hangup", call }), { call_id: "abc@x", cause: "Hangup", quality: null });
  assert.deepEqual(pick("quality", { mos: 4.4, loss: 0, jitter_ms: 2, rtt_ms: 20, call, extra: 1 }),
    { call_id: "abc@x", mos: 4.4, loss: 0, jitter_ms: 2, rtt_ms: 20 });
  assert.deepEqual(pick("link", { up: false }), { up: false });
  assert.deepEqual(pick("expiring", { at: "2026-01-01T00:00:00.000Z", minutes: 5 }),
    { at: "2026-01-01T00:00:00.000Z", minutes: 5 });
});

test("CRM commands are checked", () => {
  const [ok, badMute, badDtmf, unknown, notObject, hold] = [
    { type: "dial", number: "1002" }, { type: "mute", on: "yes" }, { type: "dtmf", digits: "" },
    { type: "reboot" }, "dial", { type: "hold", on: false },
  ].map((c) => parseCommand(c));
  assert.deepEqual(ok, [{ type: "dial", number: "1002" }, null]);
  assert.deepEqual(hold, [{ type: "hold", on: false }, null]);
  assert.equal(badMute[0], null);
  assert.ok(badMute[1].includes("on: true or false"), badMute[1]);
  assert.equal(badDtmf[0], null);
  assert.equal(unknown[0], null);
  assert.equal(notObject[0], null);
});

test("the CRM bridge obeys only its origin and window", () => {
  const calls = [];
  const phone = new EventTarget();
  phone.dial = (n) => calls.push(["dial", n]);
  const parent = { postMessage: (m, o) => calls.push(["posted", m.type, o]) };
  const win = new EventTarget();
  win.parent = parent;
  const log = { info() {}, warn() {} };
  new CrmBridge({ origin: "https://crm.example.com", phone, log, win }).start();
  const send = (origin, source, data) =>
    win.dispatchEvent(Object.assign(new Event("message"), { origin, source, data }));
  send("https://evil.example.net", parent, { type: "dial", number: "1" });
  send("https://crm.example.com", {}, { type: "dial", number: "2" });
  send("https://crm.example.com", parent, { type: "dial", number: "3" });
  send("https://crm.example.com", parent, { type: "format-disk" });
  phone.dispatchEvent(new CustomEvent("incoming", { detail: { from: "1002", secret: "x" } }));
  assert.deepEqual(calls, [
    ["dial", "3"],
    ["posted", "ok", "https://crm.example.com"],
    ["posted", "error", "https://crm.example.com"],
    ["posted", "incoming", "https://crm.example.com"],
  ]);
});
