// A number to dial: punctuation dropped, a SIP user part kept, anything that could name another host refused.

import assert from "node:assert/strict";
import { test } from "node:test";

import { normalizeNumber } from "../../static/js/phone-rules.js";

test("numbers are checked", () => {
  assert.deepEqual(
    ["+27 (11) 555-0100", " 1002 ", "sales.team", "1002@evil", "", "x".repeat(65)].map(normalizeNumber),
    ["+27115550100", "1002", "sales.team", null, null, null]);
});

test("the caller shown is never Anonymous when From, P-Asserted-Identity or Remote-Party-ID names someone", async () => {
  const { callerOf } = await import("../../static/js/phone-rules.js");
  const anonymous = { user: "anonymous", displayName: "Anonymous", host: "anonymous.invalid" };
  assert.deepEqual(callerOf([{ user: "1002", displayName: "Sales", host: "pbx" }]), { from: "1002", displayName: "Sales" });
  assert.deepEqual(callerOf([{ user: "1002", displayName: "1002", host: "pbx" }]), { from: "1002", displayName: "" });
  assert.deepEqual(callerOf([anonymous, { user: "8600051", displayName: "VDAD", host: "10.0.0.1" }]),
    { from: "8600051", displayName: "VDAD" });
  assert.deepEqual(callerOf([{ user: "8600051", displayName: "Anonymous", host: "pbx" }]), { from: "8600051", displayName: "" });
  assert.deepEqual(callerOf([{ user: "anonymous", displayName: "Campaign 7", host: "anonymous.invalid" }]),
    { from: "Campaign 7", displayName: "" });
  assert.deepEqual(callerOf([anonymous]), { from: "Anonymous", displayName: "" });
  assert.deepEqual(callerOf([{ user: "", displayName: "", host: "pbx" }]), { from: "unknown", displayName: "" });
  assert.deepEqual(callerOf([]), { from: "unknown", displayName: "" });
});

test("the keep-alive runs every 30 s with 10 s to be answered; a test may shorten it to whole seconds", async () => {
  const { keepAliveSettings } = await import("../../static/js/phone-rules.js");
  assert.deepEqual(keepAliveSettings(), { interval: 30, debounce: 10 });
  assert.deepEqual(keepAliveSettings(1), { interval: 1, debounce: 1 });
  assert.deepEqual(keepAliveSettings(15), { interval: 15, debounce: 10 });
  for (const bad of [0, -1, 1.5, 30, 300, "x", null]) assert.deepEqual(keepAliveSettings(bad), { interval: 30, debounce: 10 });
});

test("a close from the relay is put in the agent's words: full, stopped answering, unavailable", async () => {
  const { closeReason } = await import("../../static/js/phone-rules.js");
  assert.match(closeReason({ code: 1013, reason: "upstream full" }), /^the phone system is full/);
  assert.equal(closeReason({ code: 1013, reason: "upstream not responding" }), "the phone system stopped answering");
  assert.equal(closeReason({ code: 1013, reason: "upstream unavailable" }), "the phone system is unavailable");
  assert.equal(closeReason({ code: 1006, reason: "" }), "connection closed");
  assert.equal(closeReason(null), "connection closed");
});
