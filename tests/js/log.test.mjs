// The debug log never shows a secret: not as given, not URL-encoded, not form-encoded, not in JSON or a query.

import assert from "node:assert/strict";
import { test } from "node:test";

import { redact } from "../../static/js/log.js";

test("redaction removes secrets in every form", () => {
  const secrets = ["p&ss word/+", "KEY_abc-123"];
  const out = redact("pw p&ss word/+ enc p%26ss%20word%2F%2B form p%26ss+word%2F%2B "
    + 'ws://h/ws?auth_key=KEY_abc-123&x=1 json {"password":"other"} q password=zzz', secrets);
  for (const gone of ["p&ss", "p%26ss", "KEY_abc"]) assert.ok(!out.includes(gone), out);
  for (const kept of ['"password":"[redacted]"', "password=[redacted]", "auth_key=[redacted]"]) {
    assert.ok(out.includes(kept), out);
  }
});
