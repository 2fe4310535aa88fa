// The page's launch parameters: any order, each malformed or missing one named, expiry judged against a clock,
// and the server address held to the page's own host.

import assert from "node:assert/strict";
import { test } from "node:test";

import { serverMismatch, validateParams } from "../../static/js/params.js";

const VALID = {
  auth_key: "abc_DEF-123", server: "phone.example.com:8443", turn_port: "3478", customer_id: "7",
  user_id: "1001", username: "agent.1001", password: "p&ss word", expire_date: "2099-01-01T08:00:00Z",
};

function validate(entries, now = Date.now()) {
  const r = validateParams(entries, now);
  return { problems: r.problems.map((p) => p.message), expired: r.expired, params: r.params };
}

const withValue = (name, value) => Object.entries({ ...VALID, [name]: value });

test("parameters in any order validate", () => {
  const entries = Object.entries(VALID);
  for (const order of [entries, [...entries].reverse(), [...entries.slice(3), ...entries.slice(0, 3), ["vendor_extra", "x"]]]) {
    const result = validate(order);
    assert.deepEqual(result.problems, []);
    assert.equal(result.expired, false);
    assert.equal(result.params.turn_port, 3478);
    assert.equal(result.params.password, "p&ss word");
  }
});

const MALFORMED = [
  ["auth_key", "has space", "auth_key is malformed"],
  ["server", "", "server is missing"],
  ["server", "wss://phone.example.com", "server must be"],
  ["server", "host:0", "server must be"],
  ["server", "ho st", "server must be"],
  ["turn_port", "65536", "turn_port must be"],
  ["turn_port", "3478.0", "turn_port must be"],
  ["customer_id", "-1", "customer_id must be"],
  ["user_id", "1e3", "user_id must be"],
  ["username", "a b", "username must be"],
  ["username", "x".repeat(65), "username must be"],
  ["expire_date", "2026-02-30T00:00:00Z", "expire_date must be"],
  ["expire_date", "31/12/2026", "expire_date must be"],
  ["expire_date", "9999-12-31T23:59:59-23:59", "expire_date must be"],
  ["expire_date", "0001-01-01T00:00:00+01:00", "expire_date must be"],
  ["debug_console", "yes", "debug_console must be"],
  ["crm_origin", "https://crm.example.com/path", "crm_origin must be"],
];

test("each malformed parameter is named", () => {
  for (const [name, value, message] of MALFORMED) {
    const { problems } = validate(withValue(name, value));
    assert.equal(problems.length, 1, `${name}=${value}: ${problems}`);
    assert.ok(problems[0].startsWith(message), `${name}=${value}: ${problems}`);
  }
});

test("missing and repeated parameters are named", () => {
  const entries = [...Object.entries(VALID).filter(([k]) => k !== "password" && k !== "server"), ["user_id", "2"]];
  assert.deepEqual(new Set(validate(entries).problems),
    new Set(["server is missing", "password is missing", "user_id is given more than once"]));
});

test("expiry is judged against the clock", () => {
  // 2026-01-01T08:00:00Z: exactly then.
  const result = validate(withValue("expire_date", "2026-01-01T10:00:00+02:00"), 1767254400000);
  assert.deepEqual(result.problems, []);
  assert.equal(result.expired, true);
});

test("server must be the page's own host", () => {
  const page = { protocol: "https:", host: "phone.example.com" };
  const verdicts = [serverMismatch("phone.example.com", page), serverMismatch("PHONE.example.com:443", page),
    serverMismatch("phone.example.com:8443", page), serverMismatch("evil.example.net", page)];
  assert.deepEqual(verdicts.slice(0, 2), [null, null]);
  for (const v of verdicts.slice(2)) assert.ok(v.includes("phone.example.com"), v);
});
