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
