// The recent-calls list: newest first, at most five, missed calls counted until the agent looks.

import assert from "node:assert/strict";
import { test } from "node:test";

import { RecentCalls, describe } from "../../static/js/recent.js";

const fmt = (ms) => `${Math.round(ms / 1000)}s`;

test("answered, unanswered, refused and turned-away calls", () => {
  const recent = new RecentCalls();
  recent.ended({ peer: "1002", direction: "outgoing", startedAt: 1000, cause: "Hangup", at: 61000 });
  recent.ended({ peer: "1003", direction: "incoming", startedAt: null, cause: "Canceled", at: 62000 });
  recent.ended({ peer: "1004", direction: "incoming", startedAt: null, cause: "Rejected", at: 63000 });
  recent.ended({ peer: "1005", direction: "outgoing", startedAt: null, cause: "Busy", at: 64000 });
  recent.turnedAway({ peer: "1006", at: 65000 });
  assert.deepEqual(recent.items.map((i) => [i.peer, i.missed]),
    [["1006", true], ["1005", false], ["1004", false], ["1003", true], ["1002", false]]);
  assert.equal(recent.missed, 2);
  assert.equal(recent.items[4].durationMs, 60000);
  assert.match(describe(recent.items[4], fmt).time, /, 60s$/);
  assert.equal(describe(recent.items[4], fmt).what, "To 1002");
  assert.equal(describe(recent.items[0], fmt).what, "Missed call from 1006");
  assert.match(describe(recent.items[1], fmt).time, /not answered$/);
  recent.acknowledge();
  assert.equal(recent.missed, 0);
});

test("only the last five are kept", () => {
  const recent = new RecentCalls();
  for (let i = 0; i < 8; i++) recent.ended({ peer: String(i), direction: "outgoing", startedAt: 1, cause: "Hangup", at: 2 });
  assert.deepEqual(recent.items.map((i) => i.peer), ["7", "6", "5", "4", "3"]);
});
