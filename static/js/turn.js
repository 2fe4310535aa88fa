// The session's HTTP side: the URLs the page talks to, GET /webphone/turn-credentials (the same checks as /ws,
// with a reason a refused WebSocket upgrade cannot give) and the ICE configuration built from its answer.
// `readSessionAnswer` and `iceSettings` are pure; `SessionCheck` is their thin fetch adapter.

import { sessionQuery, parseServer } from "./params.js";

const TURN_CHECK_TIMEOUT_MS = 8000;

/** The WebSocket URL, the credentials URL and the SIP domain for these launch parameters. Pure. */
export function sessionUrls(params, location) {
  const secure = location.protocol === "https:";
  const query = sessionQuery(params);
  return {
    wsUrl: `${secure ? "wss" : "ws"}://${params.server}/ws?${query}`,
    turnUrl: `${location.protocol}//${params.server}/webphone/turn-credentials?${query}`
      + `&server=${encodeURIComponent(params.server)}&turn_port=${params.turn_port}`,
    domain: parseServer(params.server).host,
  };
}

/**
 * The RTCPeerConnection configuration every call shares (SIP.js keeps the object by reference, so TURN
 * refreshes apply to the next call). "balanced" takes offers with and without a BUNDLE group (a PBX or
 * rtpengine without bundle sends one m-line per transport); rtcp-mux stays required, the only policy
 * Chromium still implements.
 */
export function newRtcConfiguration() {
  return { iceServers: [], iceTransportPolicy: "all", bundlePolicy: "balanced", rtcpMuxPolicy: "require" };
}

/** Whether every media section of an SDP offers rtcp-mux. Pure. */
export function offersRtcpMux(sdp) {
  const sections = String(sdp).split(/\r?\n(?=m=)/).slice(1);
  return sections.length > 0 && sections.every((m) => /^a=rtcp-mux\s*$/m.test(m));
}

/**
 * The configuration to answer `offerSdp` with: the shared one, or, for an offer without rtcp-mux (an older PBX,
 * rtpengine without it) where the browser still negotiates it, a copy with rtcpMuxPolicy "negotiate". Pure.
 */
export function rtcConfigurationFor(shared, offerSdp, canNegotiateMux) {
  if (!offerSdp || !canNegotiateMux || offersRtcpMux(offerSdp)) return shared;
  return { ...shared, rtcpMuxPolicy: "negotiate" };
}

/**
 * Whether this browser cannot answer `offerSdp` at all: it offers audio without rtcp-mux and the browser takes
 * only rtcpMuxPolicy "require". An INVITE without an offer (null) is answerable. Pure.
 */
export function cannotAnswer(offerSdp, canNegotiateMux) {
  return Boolean(offerSdp) && !canNegotiateMux && !offersRtcpMux(offerSdp);
}

/** Whether this browser still takes rtcpMuxPolicy "negotiate" (Chromium deprecated it; others may refuse it). */
export function canNegotiateRtcpMux(PeerConnection = globalThis.RTCPeerConnection) {
  if (typeof PeerConnection !== "function") return false;
  try {
    const pc = new PeerConnection({ rtcpMuxPolicy: "negotiate" });
    const ok = pc.getConfiguration().rtcpMuxPolicy === "negotiate";
    pc.close();
    return ok;
  } catch {
    return false;
  }
}

/**
 * ICE servers and transport policy from a credentials answer (null: none), and when to fetch fresh ones
 * (ms, or null when the answer has no ttl). Pure.
 */
export function iceSettings(body) {
  const uris = Array.isArray(body?.uris) ? body.uris.filter((u) => typeof u === "string" && /^turns?:/.test(u)) : [];
  const ttl = Number(body?.ttl);
  return {
    uris,
    iceServers: uris.length ? [{ urls: uris, username: String(body.username), credential: String(body.password) }] : [],
    iceTransportPolicy: body?.ice_transport_policy === "relay" ? "relay" : "all",
    // Well before these expire, for the calls still to come.
    refreshMs: Number.isFinite(ttl) && ttl > 0 ? Math.max(30, ttl * 0.8) * 1000 : null,
  };
}

/**
 * What an answer of the credentials endpoint means. Pure.
 * {kind: "turn", body} | {kind: "no-turn", why} | {kind: "expired"} | {kind: "logged-out"} | {kind: "refused", message}
 * | {kind: "retry", message}
 */
export function readSessionAnswer(status, body) {
  if (status >= 200 && status < 300) return { kind: "turn", body };
  if (status === 401 || status === 403) {
    if (body.reason === "session_expired") return { kind: "expired" };
    if (body.reason === "logged_out") return { kind: "logged-out" };
    return { kind: "refused", message: `The server refused this session: ${body.message || `HTTP ${status}`}. `
      + "Ask for a new webphone link." };
  }
  // No TURN here (not configured): calls still work where the networks let media through directly.
  if (status === 503 || status === 404) return { kind: "no-turn", why: body.message || status };
  return { kind: "retry", message: `the service answered HTTP ${status}` };
}

/** One GET of the credentials URL, read into an answer; a network failure or timeout throws. */
export class SessionCheck {
  constructor({ url, fetch = globalThis.fetch.bind(globalThis) }) {
    this.url = url;
    this.fetch = fetch;
  }

  async check() {
    let response;
    try {
      response = await this.fetch(this.url, {
        cache: "no-store", credentials: "omit", signal: AbortSignal.timeout(TURN_CHECK_TIMEOUT_MS),
      });
    } catch (error) {
      throw new Error(`the service did not answer (${error.name})`);
    }
    let body = {};
    try {
      body = await response.json();
    } catch {
      // Not JSON: only the status says anything.
    }
    return readSessionAnswer(response.status, body ?? {});
  }
}
