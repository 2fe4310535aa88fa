// A number to dial: punctuation dropped, a SIP user part kept, anything that could name another host refused.

import assert from "node:assert/strict";
import { test } from "node:test";

import { normalizeNumber } from "../../static/js/phone.js";

test("numbers are checked", () => {
  assert.deepEqual(
    ["+27 (11) 555-0100", " 1002 ", "sales.team", "1002@evil", "", "x".repeat(65)].map(normalizeNumber),
    ["+27115550100", "1002", "sales.team", null, null, null]);
});
