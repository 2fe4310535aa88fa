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

/**
 * The counters call quality is computed from: audio packets received and lost, the receive jitter (s) and the
 * round trip (s: the far end's RTCP receiver reports, else the selected candidate pair's STUN checks). Pure.
 */
export function qualityCounters(report) {
  const out = { packetsReceived: 0, packetsLost: 0, jitter: null, rtt: null };
  let pairRtt = null;
  let pairId = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packetsReceived += s.packetsReceived ?? 0;
      out.packetsLost += Math.max(0, s.packetsLost ?? 0);
      if (typeof s.jitter === "number") out.jitter = Math.max(out.jitter ?? 0, s.jitter);
    }
    if (s.type === "remote-inbound-rtp" && s.kind === "audio" && typeof s.roundTripTime === "number") {
      out.rtt = s.roundTripTime;
    }
    if (s.type === "candidate-pair" && s.id === pairId && typeof s.currentRoundTripTime === "number") {
      pairRtt = s.currentRoundTripTime;
    }
  });
  out.rtt ??= pairRtt;
  return out;
}

/**
 * Mean opinion score (1 to 4.5) by the E-model (ITU-T G.107) reduced to what a browser measures, for G.711 or
 * Opus narrowband: the delay impairment from one-way delay (half the round trip), twice the jitter for the
 * jitter buffer and 10 ms of codec delay; 2.5 R points per percent of packets lost. Pure.
 */
export function mosFrom({ lossPercent, jitterMs, rttMs }) {
  const delay = (rttMs ?? 0) / 2 + 2 * (jitterMs ?? 0) + 10;
  let r = delay < 160 ? 93.2 - delay / 40 : 93.2 - (delay - 120) / 10;
  r -= 2.5 * (lossPercent ?? 0);
  r = Math.min(100, Math.max(0, r));
  const mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
  return Math.round(Math.min(4.5, Math.max(1, mos)) * 100) / 100;
}

/** Quality over the interval between two qualityCounters samples: {mos, loss (%), jitter_ms, rtt_ms}. Pure. */
export function qualityBetween(before, after) {
  const received = Math.max(0, after.packetsReceived - (before?.packetsReceived ?? 0));
  const lost = Math.max(0, after.packetsLost - (before?.packetsLost ?? 0));
  const loss = received + lost > 0 ? Math.round((lost / (received + lost)) * 1000) / 10 : 0;
  const jitterMs = after.jitter === null ? null : Math.round(after.jitter * 1000);
  const rttMs = after.rtt === null ? null : Math.round(after.rtt * 1000);
  return { mos: mosFrom({ lossPercent: loss, jitterMs, rttMs }), loss, jitter_ms: jitterMs, rtt_ms: rttMs };
}

/** A call's quality summary from its samples: mean and lowest MOS, mean loss, worst jitter and round trip. Pure. */
export function summarizeQuality(samples) {
  if (!samples.length) return null;
  const mean = (xs) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100;
  const known = (key) => samples.map((s) => s[key]).filter((v) => v !== null);
  return {
    samples: samples.length,
    mos: mean(samples.map((s) => s.mos)),
    mos_min: Math.min(...samples.map((s) => s.mos)),
    loss: mean(samples.map((s) => s.loss)),
    jitter_ms: known("jitter_ms").length ? Math.max(...known("jitter_ms")) : null,
    rtt_ms: known("rtt_ms").length ? Math.max(...known("rtt_ms")) : null,
  };
}
