// The phone's pure rules: the keep-alive's timing, a relay close in the agent's words, a number to dial, the
// caller to show, a call's media constraints. No SIP.js, no DOM: tested by node --test tests/js/phone-rules.test.mjs.

const KEEPALIVE_S = 30;
const KEEPALIVE_ANSWER_S = 10;
// setTimeout holds at most ~24.8 days: longer waits are chained or capped at this.
export const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * The CRLF keep-alive's interval and how long its answer may take, in seconds (SIP.js takes whole seconds):
 * 30 and 10. The relay answers the keep-alive itself once the PBX's leg has shown it is alive, so a PBX that
 * ignores keep-alives (Asterisk) tears nothing down. Test hook: `window.webphoneKeepAliveS`, a whole number of
 * seconds under 30 set before the page loads (Playwright's add_init_script), shortens the interval so a test
 * can watch many keep-alives quickly; the answer then may take as long as the interval, at most 10 s. Pure.
 */
export function keepAliveSettings(override = undefined) {
  const seconds = Number(override);
  if (Number.isInteger(seconds) && seconds >= 1 && seconds < KEEPALIVE_S) {
    return { interval: seconds, debounce: Math.min(KEEPALIVE_ANSWER_S, seconds) };
  }
  return { interval: KEEPALIVE_S, debounce: KEEPALIVE_ANSWER_S };
}

/**
 * Why the signalling connection closed, in the agent's words, from the WebSocket close the relay sent (its
 * close-code table in the README): 1013 with `upstream full` is a phone system at its connection limit, other
 * 1013s one that is down or stopped answering. Pure.
 */
export function closeReason(event) {
  if (event?.code === 1013) {
    if (event.reason === "upstream full") return "the phone system is full: it takes no more phones right now";
    if (event.reason === "upstream not responding") return "the phone system stopped answering";
    return "the phone system is unavailable";
  }
  return "connection closed";
}
const DIALABLE = /^[A-Za-z0-9*#+._~-]{1,64}$/;

/** Strip what people type between digits: spaces, dashes, dots between digits, brackets. Pure. */
export function normalizeNumber(text) {
  const raw = String(text ?? "").trim();
  const compact = /^[+\d\s().-]+$/.test(raw) ? raw.replace(/[\s().-]/g, "") : raw;
  return DIALABLE.test(compact) ? compact : null;
}

const ANONYMOUS = /^(anonymous|unknown|restricted|unavailable)$/i;

/**
 * The caller of an incoming call as shown, {from, displayName}, from its identities best first (see
 * callerIdentities): the first number and the first name that are not "anonymous" (Asterisk's
 * `"Anonymous" <sip:anonymous@anonymous.invalid>`), wherever each came from; "Anonymous" only when none of
 * them names anyone ("unknown" when there is nothing at all). Pure.
 */
export function callerOf(identities) {
  const named = (text) => Boolean(text) && !ANONYMOUS.test(String(text).trim());
  let from = "";
  let displayName = "";
  for (const { user, displayName: name, host } of identities) {
    if (!from && named(user) && host !== "anonymous.invalid") from = user;
    if (!displayName && named(name)) displayName = name;
  }
  if (!from && !displayName) {
    const first = identities[0];
    return { from: first && (first.user || first.displayName) ? "Anonymous" : "unknown", displayName: "" };
  }
  const shown = from || displayName;
  return { from: shown, displayName: displayName === shown ? "" : displayName };
}

/** The media constraints of a call: audio only (SIP.js 0.15's default asks for video too), on `micId`. Pure. */
export function audioConstraints(micId = "", processing = {}) {
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...processing };
  // exact: with an ideal deviceId Chrome keeps using a microphone it already has open.
  if (micId) audio.deviceId = { exact: micId };
  return { audio, video: false };
}
