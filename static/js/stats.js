// Media statistics of a call from an RTCStatsReport: plain data in, plain data out (no browser needed).

/**
 * Sum the audio counters of `report` (anything with forEach and get, e.g. an RTCStatsReport or a Map) and
 * name the candidate types of the selected pair. `direction` is the transceiver's current direction.
 */
export function summarizeStats(report, direction = null) {
  const out = {
    bytesSent: 0, bytesReceived: 0, packetsReceived: 0, audioEnergy: 0,
    localCandidateType: null, remoteCandidateType: null, direction,
  };
  let pairId = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") out.bytesSent += s.bytesSent ?? 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.bytesReceived += s.bytesReceived ?? 0;
      out.packetsReceived += s.packetsReceived ?? 0;
      out.audioEnergy += s.totalAudioEnergy ?? 0;
    }
    if (s.type === "candidate-pair" && (s.id === pairId || (!pairId && s.nominated && s.state === "succeeded"))) {
      out.localCandidateType = report.get(s.localCandidateId)?.candidateType ?? null;
      out.remoteCandidateType = report.get(s.remoteCandidateId)?.candidateType ?? null;
    }
  });
  return out;
}
