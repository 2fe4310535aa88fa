// The CRM bridge's pure parts: which commands are accepted, and what each event carries (its call's id).

import assert from "node:assert/strict";
import { test } from "node:test";

import { parseCommand, pick } from "../../static/js/crm.js";

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
