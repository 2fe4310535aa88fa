// Which key does what, and where: a text field keeps its keys (Escape only leaves it), the phone's shortcuts
// act elsewhere on the page, never outside the phone.

import assert from "node:assert/strict";
import { test } from "node:test";

import { keyAction } from "../../static/js/ui.js";

test("Escape in a text field only leaves the field, whatever the call", () => {
  for (const call of ["idle", "ringing", "calling", "in-call"]) {
    assert.equal(keyAction("Escape", "text", call), "leave-field");
    for (const key of ["Enter", "5", "#", "Backspace", " "]) assert.equal(keyAction(key, "text", call), null);
  }
});

test("on the page: Escape rejects or hangs up, Enter answers or dials a typed number, digits dial or send tones", () => {
  assert.equal(keyAction("Escape", "phone", "ringing"), "reject");
  assert.equal(keyAction("Escape", "phone", "calling"), "hangup");
  assert.equal(keyAction("Escape", "phone", "in-call"), "hangup");
  assert.equal(keyAction("Escape", "phone", "idle"), null);
  assert.equal(keyAction("Enter", "phone", "ringing"), "answer");
  assert.equal(keyAction("Enter", "phone", "idle", { hasNumber: true }), "dial");
  assert.equal(keyAction("Enter", "phone", "idle", { hasNumber: false }), null);
  assert.equal(keyAction("Enter", "phone", "in-call", { hasNumber: true }), null);
  assert.equal(keyAction("7", "phone", "idle"), "digit");
  assert.equal(keyAction("*", "phone", "in-call"), "digit");
  assert.equal(keyAction("Backspace", "phone", "idle"), "backspace");
  assert.equal(keyAction("Backspace", "phone", "in-call"), null);
  assert.equal(keyAction("a", "phone", "idle"), null);
});

test("buttons keep Enter and Space; digits and Escape still work there", () => {
  assert.equal(keyAction("Enter", "control", "ringing"), null);
  assert.equal(keyAction(" ", "control", "idle"), null);
  assert.equal(keyAction("3", "control", "in-call"), "digit");
  assert.equal(keyAction("Escape", "control", "in-call"), "hangup");
});

test("nothing acts outside the phone or with a modifier held", () => {
  for (const key of ["Escape", "Enter", "1", "Backspace"]) {
    assert.equal(keyAction(key, "outside", "in-call", { hasNumber: true }), null);
    assert.equal(keyAction(key, "phone", "ringing", { modifiers: true, hasNumber: true }), null);
  }
});
