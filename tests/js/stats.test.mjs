// Call statistics from an RTCStatsReport-shaped map.

import assert from "node:assert/strict";
import { test } from "node:test";

import { summarizeStats } from "../../static/js/stats.js";

const report = (entries) => new Map(entries.map((s) => [s.id, s]));

test("audio counters are summed and the selected pair's candidate types named", () => {
  const out = summarizeStats(report([
    { id: "T", type: "transport", selectedCandidatePairId: "P2" },
    { id: "O", type: "outbound-rtp", kind: "audio", bytesSent: 1200 },
    { id: "V", type: "outbound-rtp", kind: "video", bytesSent: 99999 },
    { id: "I1", type: "inbound-rtp", kind: "audio", bytesReceived: 800, packetsReceived: 10, totalAudioEnergy: 0.5 },
    { id: "I2", type: "inbound-rtp", kind: "audio", bytesReceived: 200, packetsReceived: 3 },
    { id: "P1", type: "candidate-pair", nominated: true, state: "succeeded", localCandidateId: "LH", remoteCandidateId: "RH" },
    { id: "P2", type: "candidate-pair", localCandidateId: "LR", remoteCandidateId: "RR" },
    { id: "LH", type: "local-candidate", candidateType: "host" },
    { id: "RH", type: "remote-candidate", candidateType: "host" },
    { id: "LR", type: "local-candidate", candidateType: "relay" },
    { id: "RR", type: "remote-candidate", candidateType: "srflx" },
  ]), "sendrecv");
  assert.deepEqual(out, {
    bytesSent: 1200, bytesReceived: 1000, packetsReceived: 13, audioEnergy: 0.5,
    localCandidateType: "relay", remoteCandidateType: "srflx", direction: "sendrecv",
  });
});

test("without a selected pair id the nominated succeeded pair counts; an empty report gives zeros", () => {
  const out = summarizeStats(report([
    { id: "P", type: "candidate-pair", nominated: true, state: "succeeded", localCandidateId: "L", remoteCandidateId: "R" },
    { id: "L", type: "local-candidate", candidateType: "relay" },
    { id: "R", type: "remote-candidate", candidateType: "relay" },
  ]));
  assert.equal(out.localCandidateType, "relay");
  assert.equal(out.direction, null);
  assert.deepEqual(summarizeStats(new Map(), "sendonly"), {
    bytesSent: 0, bytesReceived: 0, packetsReceived: 0, audioEnergy: 0,
    localCandidateType: null, remoteCandidateType: null, direction: "sendonly",
  });
});

test("quality counters: packets, loss, the worst jitter, and the RTCP round trip before the pair's", async () => {
  const { qualityCounters } = await import("../../static/js/stats.js");
  const out = qualityCounters(report([
    { id: "T", type: "transport", selectedCandidatePairId: "P" },
    { id: "I", type: "inbound-rtp", kind: "audio", packetsReceived: 990, packetsLost: 10, jitter: 0.012 },
    { id: "R", type: "remote-inbound-rtp", kind: "audio", roundTripTime: 0.05 },
    { id: "P", type: "candidate-pair", currentRoundTripTime: 0.002 },
  ]));
  assert.deepEqual(out, { packetsReceived: 990, packetsLost: 10, jitter: 0.012, rtt: 0.05 });
  const pairOnly = qualityCounters(report([
    { id: "T", type: "transport", selectedCandidatePairId: "P" },
    { id: "P", type: "candidate-pair", currentRoundTripTime: 0.002 },
  ]));
  assert.deepEqual(pairOnly, { packetsReceived: 0, packetsLost: 0, jitter: null, rtt: 0.002 });
});

test("the E-model MOS: about 4.4 on a clean line, falling with loss and with delay", async () => {
  const { mosFrom } = await import("../../static/js/stats.js");
  const clean = mosFrom({ lossPercent: 0, jitterMs: 2, rttMs: 20 });
  assert.ok(clean > 4.3 && clean <= 4.5, `clean ${clean}`);
  const lossy = mosFrom({ lossPercent: 5, jitterMs: 2, rttMs: 20 });
  assert.ok(lossy < clean - 0.3, `lossy ${lossy}`);
  const slow = mosFrom({ lossPercent: 0, jitterMs: 30, rttMs: 600 });
  assert.ok(slow < 4 && slow > 1, `slow ${slow}`);
  assert.equal(mosFrom({ lossPercent: 60, jitterMs: 0, rttMs: 0 }), 1);
});

test("quality between two samples counts only that interval; a summary takes means and worsts", async () => {
  const { qualityBetween, summarizeQuality } = await import("../../static/js/stats.js");
  const q = qualityBetween({ packetsReceived: 100, packetsLost: 0 },
    { packetsReceived: 290, packetsLost: 10, jitter: 0.004, rtt: 0.03 });
  assert.equal(q.loss, 5);
  assert.equal(q.jitter_ms, 4);
  assert.equal(q.rtt_ms, 30);
  assert.equal(qualityBetween(null, { packetsReceived: 0, packetsLost: 0, jitter: null, rtt: null }).loss, 0);
  assert.deepEqual(summarizeQuality([
    { mos: 4.4, loss: 0, jitter_ms: 2, rtt_ms: 20 }, { mos: 3.4, loss: 5, jitter_ms: null, rtt_ms: 40 },
  ]), { samples: 2, mos: 3.9, mos_min: 3.4, loss: 2.5, jitter_ms: 2, rtt_ms: 40 });
  assert.equal(summarizeQuality([]), null);
});
