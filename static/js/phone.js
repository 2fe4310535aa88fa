// The agent's phone on SIP.js 0.15.11's legacy API (global SIP, SIP.UA): registration with its own reconnect
// watchdog, the session's expire_date, and one call at a time (a Call, see call.js). It emits events (see
// EVENTS) for the page (ui.js) and the CRM bridge (crm.js), which alone touch the DOM; the phone only plays
// the remote audio through the <audio> element it is given.

import { Call, endNotice } from "./call.js";
import { PhoneError } from "./errors.js";
import { callerIdentities, checkSipJs, sdhFactory } from "./adapter-sipjs.js";
import {
  SessionCheck, canNegotiateRtcpMux, cannotAnswer, iceSettings, newRtcConfiguration, rtcConfigurationFor,
  sessionUrls,
} from "./turn.js";
import { Watchdog } from "./watchdog.js";

export { PhoneError };

/** Events dispatched (CustomEvent, details in brackets). */
export const EVENTS = [
  "change", // any state or flag changed: re-render
  "tick", // once a second while the phone runs
  "registered", "unregistered", // {cause}
  "incoming", // {from, displayName}
  "connected", // {remote, direction}
  "ended", // {cause, call}
  "missed", // {from, displayName}: a caller turned away while busy
  "expired",
  "logged-out", // {message}: the agent logged out of ViciDial (a ViciDial launch): nothing reconnects
  "error", // {message}: the phone cannot go on
  "notice", // {id, level, text, scope}: something the agent should read; scope "call" goes with the call,
  // "after-call" with the next call, none stays
  "dtmf", // {direction, tones, method}
  "calling", // {number, call}: an outgoing call was placed
  "ringing", // {call}: the far end of an outgoing call is ringing
  "held", // {on, call}: hold taken (or resume taken) by the other side
  "muted", // {on, call}
  "expiring", // {at, minutes}: the session ends soon
  "quality", // {mos, loss, jitter_ms, rtt_ms, call}: every 5 s during a call
  "link", // {up}: the signalling link went down or came back (a call stays up meanwhile)
  "refreshed", // {outcome}: a call was refreshed over a new connection ("refreshed"), or found gone ("gone"), or
  // got no usable answer in time ("unanswered"); the last two end it as "Connection lost"
  "autoplay-blocked",
];

const REGISTER_EXPIRES = 300; // s: a tab closed without unregistering is forgotten by the registrar within minutes
const EXPIRY_WARNING_MS = 5 * 60 * 1000;
// SIP.js waits for ICE gathering before sending an offer or answer: bound it (the Call ends it earlier still,
// once a TURN relay candidate is in).
const ICE_GATHERING_TIMEOUT_MS = 2000;
const KEEPALIVE_S = 30;
const KEEPALIVE_ANSWER_S = 10;

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
const EXPIRY_LEAD_MS = 2000;
const MAX_TIMEOUT = 2 ** 31 - 1;
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

export class Phone extends EventTarget {
  constructor({ params, log, tones, audio, location = window.location, SIP = window.SIP }) {
    super();
    this.params = params;
    this.log = log;
    this.tones = tones;
    this.audio = audio;
    this.SIP = checkSipJs(SIP);
    const { wsUrl, turnUrl, domain } = sessionUrls(params, location);
    this.wsUrl = wsUrl;
    this.domain = domain;
    this.sessionCheck = new SessionCheck({ url: turnUrl });
    this.expiresAt = params.expiresAt;
    // The relay closes the WebSocket at expire_date itself: wind down a moment earlier, so the BYE and the
    // un-REGISTER still reach the other side.
    this.windDownAt = params.expiresAt - EXPIRY_LEAD_MS;

    this.connection = "connecting"; // connecting | registered | reconnecting | expired | error
    this.linkUp = true; // false while a registered phone has lost its signalling link (<body data-link>)
    this.call = null; // the current Call, if any
    this.callEvents = null; // AbortController of the phone's listeners on it
    this.everRegistered = false;
    this.finished = false; // expired or failed for good: nothing reconnects
    this.message = ""; // why, when finished
    this.autoAnswer = false;
    this.micId = "";
    this.processing = {}; // the microphone's processing, where a launch sets it (vicidial.js)
    this.turnRefresh = null;
    this.expiryTimer = null;
    this.warned = false;

    // Shared by reference with every session SIP.js creates: TURN refreshes and a new microphone apply to the
    // next call without rebuilding the UA.
    this.rtc = newRtcConfiguration();
    this.canMux = canNegotiateRtcpMux(); // rtcpMuxPolicy "negotiate" still there
    this.sdhOptions = {
      constraints: audioConstraints(this.micId),
      peerConnectionOptions: { rtcConfiguration: this.rtc, iceCheckingTimeout: ICE_GATHERING_TIMEOUT_MS },
    };
    this.watchdog = new Watchdog({
      attempt: () => this.connect(),
      deadline: () => this.windDownAt,
      log: (m) => this.log.info(m),
    });
    this.onOnline = () => {
      this.log.info("the browser is online again");
      if (!this.finished && this.connection !== "registered") this.watchdog.now("the browser is back online");
    };
    // The browser knows the network is gone before a WebSocket does (it may sit open, silent, for a while):
    // drop it, keep the call, and reconnect once the network is back.
    this.onOffline = () => {
      this.log.warn("the browser went offline");
      if (this.finished || !this.ua?.transport.isConnected()) return;
      this.ua.transport.disconnect({ force: true });
      this.onDisconnected({ code: 1006, reason: "the browser went offline" });
    };
  }

  // ---- life cycle -------------------------------------------------------------------------------------------

  start() {
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.scheduleExpiry();
    this.clock = setInterval(() => this.tick(), 1000);
    this.watchdog.run();
  }

  /** One connection attempt: check the session (and fetch TURN), then open the WebSocket and register. */
  async connect() {
    if (this.finished) return;
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    if (!(await this.checkSession()) || this.finished) return;
    if (!this.ua) {
      this.ua = this.createUa();
      this.ua.start();
    } else if (this.ua.transport.isConnected()) {
      this.ua.register();
    } else {
      await this.ua.transport.connect();
    }
  }

  /**
   * Check the session with the service (which fetches TURN credentials too). False when the service refused
   * it for good (the phone has then expired or failed); throws when it should be tried again.
   */
  async checkSession() {
    const answer = await this.sessionCheck.check();
    switch (answer.kind) {
      case "turn":
        this.applyTurn(answer.body);
        return true;
      case "no-turn":
        this.log.warn(`no TURN credentials: ${answer.why}; calling without TURN`);
        this.applyTurn(null);
        return true;
      case "expired":
        this.expire("The server says this session has expired.");
        return false;
      case "logged-out":
        this.logOut();
        return false;
      case "refused":
        this.fail(answer.message);
        return false;
      default:
        throw new Error(answer.message);
    }
  }

  applyTurn(body) {
    const ice = iceSettings(body);
    this.rtc.iceServers = ice.iceServers;
    this.rtc.iceTransportPolicy = ice.iceTransportPolicy;
    this.log.info(`TURN: ${ice.uris.length ? ice.uris.join(", ") : "none"}; ICE transport policy ${this.rtc.iceTransportPolicy}`);
    clearTimeout(this.turnRefresh);
    if (ice.refreshMs !== null) this.scheduleTurnRefresh(ice.refreshMs);
  }

  scheduleTurnRefresh(delay) {
    clearTimeout(this.turnRefresh);
    this.turnRefresh = setTimeout(() => {
      if (this.finished) return;
      this.checkSession().catch((error) => {
        this.log.warn(`TURN refresh failed (${error.message}): trying again in a minute`);
        this.scheduleTurnRefresh(60000);
      });
    }, Math.min(MAX_TIMEOUT, delay));
  }

  createUa() {
    const { SIP } = this;
    const keepAlive = keepAliveSettings(window.webphoneKeepAliveS);
    const ua = new SIP.UA({
      uri: `sip:${this.params.username}@${this.domain}`,
      authorizationUser: this.params.username,
      password: this.params.password,
      displayName: this.params.username,
      // The Contact's user is the agent's username (SIP.js makes up a random one): Asterisk's `sip show peers`
      // then lists 1001/1001. Its host stays SIP.js's made-up `<random>.invalid` (RFC 7118): the relay's
      // identity rules recognise an agent's own Contact after a reconnect by that `.invalid` host.
      contactName: this.params.username,
      register: true,
      registerOptions: { expires: REGISTER_EXPIRES },
      autostart: false,
      autostop: true,
      transportOptions: {
        wsServers: [this.wsUrl],
        traceSip: this.log.enabled,
        connectionTimeout: 5,
        // SIP.js's own retries stop after a few tries; the watchdog owns reconnection instead.
        maxReconnectionAttempts: 0,
        // CRLF pings (RFC 5626) find a dead path that never closes; see onKeepAliveTimeout.
        keepAliveInterval: keepAlive.interval,
        keepAliveDebounce: keepAlive.debounce,
      },
      sessionDescriptionHandlerFactoryOptions: this.sdhOptions,
      // Offers without rtcp-mux are answered with rtcpMuxPolicy "negotiate" where the browser still has it.
      sessionDescriptionHandlerFactory: sdhFactory(SIP, (rtc, offer) => rtcConfigurationFor(rtc, offer, this.canMux)),
      // RFC 4733 through RTCDTMFSender; Call.sendDtmf falls back to INFO where the call has no telephone-event.
      dtmfType: SIP.C.dtmfType.RTP,
      noAnswerTimeout: 60,
      // 0.15.11 has no session timers and no UPDATE: nothing extra is advertised.
      rel100: SIP.C.supported.UNSUPPORTED,
      replaces: SIP.C.supported.UNSUPPORTED,
      userAgentString: `TForge OmniSense Webphone (SIP.js ${SIP.version})`,
      log: this.log.sipJsOptions(),
    });
    ua.on("registered", () => this.onRegistered());
    ua.on("unregistered", (response, cause) => this.onUnregistered(cause));
    ua.on("registrationFailed", (response, cause) => this.onRegistrationFailed(response, cause));
    ua.on("invite", (session) => this.onInvite(session));
    ua.transport.on("connected", () => this.log.info("signalling connected"));
    ua.transport.on("disconnected", (e) => this.onDisconnected(e));
    ua.transport.on("closed", () => this.onDisconnected(null));
    ua.transport.on("keepAliveDebounceTimeout", () => this.onKeepAliveTimeout());
    return ua;
  }

  setConnection(next) {
    if (this.connection === next) return;
    const was = this.connection;
    this.connection = next;
    if (was === "registered") this.emit("unregistered", { cause: next });
    if (next === "registered") this.emit("registered", {});
    if (next === "reconnecting") this.setLink(false);
    if (next === "registered") this.setLink(true);
    this.changed();
  }

  /** The signalling link is down from its loss until the phone has registered again. */
  setLink(up) {
    if (this.linkUp === up) return;
    this.linkUp = up;
    this.log[up ? "info" : "warn"](up ? "signalling link restored" : "signalling link lost");
    this.call?.setLink(up);
    this.emit("link", { up });
    if (up) this.refreshCall();
  }

  /** After a reconnect, move the call in progress onto the new connection (see Call.refresh). */
  refreshCall() {
    const call = this.call;
    if (call?.state !== "in-call") return;
    call.refresh().then((outcome) => {
      if (outcome === "refreshed") performance.mark("webphone:refreshed"); // User Timing, for bench/webphone.py
      if (outcome !== "stopped" && outcome !== "none") this.emit("refreshed", { outcome });
    });
  }

  onRegistered() {
    this.watchdog.succeeded();
    // SIP.js fires `registered` again on every refresh: only the first one after a loss changes anything.
    if (this.connection === "registered" || this.finished) return;
    if (!this.everRegistered) performance.mark("webphone:registered"); // User Timing, for bench/webphone.py
    this.everRegistered = true;
    this.log.info("registered");
    this.setConnection("registered");
  }

  onUnregistered(cause) {
    if (this.finished || this.connection !== "registered") return;
    this.log.warn(`unregistered (${cause || "no reason given"})`);
    this.setConnection("reconnecting");
    this.watchdog.failed(`unregistered: ${cause}`);
  }

  onRegistrationFailed(response, cause) {
    if (this.finished) return;
    const code = response?.statusCode;
    const { causes } = this.SIP.C;
    if (cause === causes.AUTHENTICATION_ERROR || cause === causes.REJECTED || [401, 403, 407].includes(code)) {
      this.fail(`Registration refused (${code ?? cause}${response?.reasonPhrase ? ` ${response.reasonPhrase}` : ""}): `
        + "check the username and password in the webphone link.");
      return;
    }
    this.log.warn(`registration failed (${code ?? cause})`);
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    this.watchdog.failed(`registration failed: ${code ?? cause}`);
  }

  onDisconnected(event) {
    if (this.finished) return;
    if (event?.code === 4001 && event.reason === "logged out") {
      this.logOut();
      return;
    }
    if (event?.code === 4001) {
      this.expire("The session has expired (the server closed the connection).");
      return;
    }
    if (event) this.log.warn(`signalling connection closed (code ${event.code}${event.reason ? `, ${event.reason}` : ""})`);
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    this.watchdog.failed(closeReason(event));
  }

  /** No answer to a CRLF ping: the path is dead even if the socket says open. Drop it and reconnect. */
  onKeepAliveTimeout() {
    if (this.finished) return;
    this.log.warn("no answer to the keep-alive: reconnecting");
    // A disconnect SIP.js asked for emits no `disconnected`, so the watchdog is told here.
    this.ua.transport.disconnect({ force: true });
    this.onDisconnected({ code: 1006, reason: "keep-alive timeout" });
  }

  /** The next reconnection attempt while not registered: {at (epoch ms) or null, reason}. */
  get retry() {
    return { at: this.watchdog.nextAt, reason: this.watchdog.reason };
  }

  /** The agent asked: try to connect now instead of waiting for the back-off. */
  retryNow() {
    if (this.finished || this.connection === "registered") return;
    this.watchdog.now("asked by the agent");
  }

  // ---- expiry ----------------------------------------------------------------------------------------------

  scheduleExpiry() {
    const left = this.windDownAt - Date.now();
    if (left <= 0) {
      this.expire();
      return;
    }
    // setTimeout holds at most ~24.8 days: chain shorter waits for sessions that long.
    this.expiryTimer = setTimeout(() => this.scheduleExpiry(), Math.min(left, MAX_TIMEOUT));
  }

  tick() {
    if (this.finished) return;
    const left = this.windDownAt - Date.now();
    if (left <= 0) {
      this.expire(); // a late timer (sleeping laptop) is caught here too
      return;
    }
    if (!this.warned && left <= EXPIRY_WARNING_MS) {
      this.warned = true;
      const at = new Date(this.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const minutes = Math.max(1, Math.round(left / 60000));
      this.notice("expiry", "warn", `This session ends at ${at} (in ${minutes} min). Ask for a new link to keep working.`);
      this.emit("expiring", { at: new Date(this.expiresAt).toISOString(), minutes });
    }
    this.dispatchEvent(new Event("tick"));
  }

  /** At expire_date: end the call, unregister, say so, and never reconnect. */
  expire(message = null) {
    if (this.connection === "expired") return;
    const at = new Date(this.expiresAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    message ??= `The session ended on ${at}. Ask for a new webphone link.`;
    this.log.warn("session expired");
    this.stopEverything("Session expired");
    this.message = message;
    this.setConnection("expired");
    this.emit("expired", { message });
  }

  /** The agent logged out of ViciDial: the server closed the session (4001 "logged out"); never reconnect. */
  logOut(message = "You logged out of ViciDial, so this phone has stopped. Log in to the agent screen again.") {
    if (this.finished) return;
    this.log.warn("logged out of ViciDial");
    this.stopEverything("Logged out");
    this.message = message;
    this.setConnection("logged-out");
    this.emit("logged-out", { message });
  }

  /** The phone cannot go on (session refused, credentials wrong). */
  fail(message) {
    if (this.finished) return;
    this.log.error(message);
    this.stopEverything("Error");
    this.message = message;
    this.setConnection("error");
    this.emit("error", { message });
  }

  stopEverything(cause) {
    this.finished = true;
    this.watchdog.stop();
    clearTimeout(this.expiryTimer);
    clearTimeout(this.turnRefresh);
    clearInterval(this.clock);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.call?.end(cause);
    const ua = this.ua;
    if (!ua) return;
    // Unregister (best effort: the relay closes at expire_date too), then close the UA.
    const close = () => {
      try {
        ua.stop();
      } catch (error) {
        this.log.warn(`closing the UA: ${error}`);
      }
    };
    if (ua.isRegistered() && ua.transport.isConnected()) {
      ua.once("unregistered", close);
      ua.unregister();
      setTimeout(close, 1500);
    } else {
      close();
    }
  }

  // ---- calls -----------------------------------------------------------------------------------------------

  /** idle | ringing | calling | in-call */
  get callState() {
    return this.call ? this.call.state : "idle";
  }

  audioConstraints() {
    return audioConstraints(this.micId, this.processing);
  }

  requireRegistered() {
    if (this.finished) throw new PhoneError(this.message || "The phone is not available.");
    if (this.connection !== "registered") throw new PhoneError("The phone is not connected yet.");
  }

  requireCall(what) {
    if (!this.call) throw new PhoneError(`There is no call to ${what}.`);
    return this.call;
  }

  dial(text) {
    this.requireRegistered();
    if (this.call) throw new PhoneError("Hang up the current call first.");
    const number = normalizeNumber(text);
    if (!number) throw new PhoneError("Enter a number or extension (digits, letters, * # + . _ ~ -).");
    let session;
    performance.mark("webphone:dial");
    try {
      session = this.ua.invite(number, { sessionDescriptionHandlerOptions: { constraints: this.audioConstraints() } });
    } catch (error) {
      throw new PhoneError(`Cannot call ${number}: ${error.message}`);
    }
    const call = new Call({ session, direction: "outgoing", peer: number, state: "calling", ...this.callDeps() });
    this.adopt(call);
    this.log.info(`calling ${number}`);
    this.emit("calling", { number, call });
    return number;
  }

  onInvite(session) {
    const { from, displayName } = callerOf(callerIdentities(this.SIP, session));
    if (this.finished) {
      session.reject({ statusCode: 480 });
      return;
    }
    if (this.call) {
      // One call at a time: a second caller hears busy at once instead of ringing out.
      this.log.info(`incoming call from ${from} while busy: 486 Busy Here`);
      session.reject({ statusCode: 486, reasonPhrase: "Busy Here" });
      this.notice("busy", "info", `Missed a call from ${displayName || from} while on this call (they heard busy).`,
        "call");
      this.emit("missed", { from, displayName });
      return;
    }
    if (cannotAnswer(session.request?.body, this.canMux)) {
      // Answering would fail inside SIP.js, the call vanishing unexplained: refuse it now and say why.
      this.log.warn(`incoming call from ${from} offers no rtcp-mux, which this browser requires: 488`);
      session.reject({ statusCode: 488, reasonPhrase: "Not Acceptable Here" });
      this.notice("offer", "warn", `Could not take a call from ${displayName || from}: its audio comes without `
        + "rtcp-mux, which this browser requires. Ask for rtcp-mux on the PBX, or use Chrome or Edge.", "after-call");
      return;
    }
    const peer = displayName && displayName !== from ? `${displayName} (${from})` : from;
    const call = new Call({ session, direction: "incoming", peer, state: "ringing", ...this.callDeps() });
    this.adopt(call);
    this.tones.play("ringtone");
    if (this.tones.blocked) this.emit("autoplay-blocked", {});
    this.log.info(`incoming call from ${from}`);
    this.emit("incoming", { from, displayName, call });
    if (this.autoAnswer) setTimeout(() => call.state === "ringing" && this.answer(), 0);
  }

  callDeps() {
    return { SIP: this.SIP, ua: this.ua, log: this.log };
  }

  /** Make `call` the current one; the phone hears only the current call's events. */
  adopt(call) {
    this.callEvents?.abort();
    this.callEvents = new AbortController();
    const on = (type, fn) => call.addEventListener(type, fn, { signal: this.callEvents.signal });
    on("change", () => this.changed());
    on("notice", (e) => this.notice(e.detail.id, e.detail.level, e.detail.text, e.detail.scope));
    on("ringback", () => {
      this.tones.play("ringback");
      this.emit("ringing", { call });
    });
    on("held", (e) => this.emit("held", { on: e.detail.on, call }));
    on("muted", (e) => this.emit("muted", { on: e.detail.on, call }));
    on("track", () => this.attachRemoteAudio(call));
    on("connected", () => this.onConnected(call));
    on("dtmf", (e) => this.emit("dtmf", { ...e.detail, call }));
    on("refer", (e) => {
      if (this.finished) return;
      e.preventDefault();
      this.followRefer(call, e.detail.context, e.detail.target);
    });
    on("quality", (e) => this.emit("quality", { ...e.detail, call }));
    on("ended", (e) => this.onEnded(call, e.detail.cause, e.detail.quality));
    this.call = call;
    this.changed();
  }

  onConnected(call) {
    performance.mark("webphone:connected");
    this.tones.stop();
    this.changed();
    this.attachRemoteAudio(call);
    this.log.info(`call connected with ${call.peer}`);
    this.emit("connected", { remote: call.peer, direction: call.direction, call });
  }

  onEnded(call, cause, quality = null) {
    this.callEvents.abort();
    this.callEvents = null;
    this.call = null;
    this.tones.stop();
    this.audio.srcObject = null;
    this.changed();
    this.log.info(`call ended (${cause})`);
    const notice = endNotice(cause, call.peer, this.SIP.C.causes);
    if (notice) this.notice("call", notice.level, notice.text, "after-call");
    this.emit("ended", { cause, call, quality });
  }

  attachRemoteAudio(call) {
    const stream = call.remoteStream();
    if (!stream) return;
    this.audio.srcObject = stream;
    this.audio.play().catch((error) => {
      if (error.name === "NotAllowedError") this.emit("autoplay-blocked", { call: true });
    });
  }

  answer() {
    const call = this.call;
    if (call?.state !== "ringing") throw new PhoneError("There is no call to answer.");
    this.tones.stop();
    this.log.info(`answering ${call.peer}`);
    call.answer(this.audioConstraints());
  }

  reject() {
    if (this.call?.state !== "ringing") throw new PhoneError("There is no call to reject.");
    this.call.reject();
  }

  hangup() {
    this.requireCall("hang up").end("Hangup");
  }

  mute(on) {
    if (this.callState !== "in-call") throw new PhoneError("Mute works during a call.");
    this.call.mute(on);
  }

  hold(on) {
    if (this.callState !== "in-call") throw new PhoneError("Hold works during a call.");
    this.call.hold(on);
  }

  sendDtmf(tones) {
    if (this.callState !== "in-call") throw new PhoneError("DTMF works during a call.");
    const method = this.call.sendDtmf(tones);
    this.log.info(`DTMF ${tones} (${method === "info" ? "SIP INFO" : "RFC 4733"})`);
    this.emit("dtmf", { direction: "out", tones, method, call: this.call });
  }

  transfer(text) {
    if (this.callState !== "in-call") throw new PhoneError("Transfer works during a call.");
    const target = normalizeNumber(text);
    if (!target) throw new PhoneError("Enter the number or extension to transfer to.");
    this.call.transfer(target);
    return target;
  }

  /** We are the one being transferred: follow the REFER with a new call that replaces this one. */
  followRefer(call, context, target) {
    this.log.info(`transferred by the other side to ${target}`);
    context.accept({
      followRefer: true,
      inviteOptions: { sessionDescriptionHandlerOptions: { constraints: this.audioConstraints() } },
    });
    const session = context.targetSession;
    if (!session) return;
    // The new call becomes the current one; the old leg ends when the new one is answered or fails.
    const next = new Call({ session, direction: "outgoing", peer: target, state: "calling", ...this.callDeps() });
    next.muted = call.muted;
    call.endWhenReplaced(next);
    this.adopt(next);
  }

  // ---- devices ---------------------------------------------------------------------------------------------

  async setMicrophone(deviceId) {
    this.micId = deviceId || "";
    this.sdhOptions.constraints = this.audioConstraints();
    await this.call?.replaceMicrophone(async () => {
      const stream = await navigator.mediaDevices.getUserMedia(this.audioConstraints());
      return stream.getAudioTracks()[0];
    });
  }

  async setSpeaker(deviceId) {
    if (typeof this.audio.setSinkId === "function") await this.audio.setSinkId(deviceId || "");
    await this.tones.setSink(deviceId, "speaker");
  }

  /** Where the ringtone sounds: a device of its own, apart from the call's speaker. */
  async setRinger(deviceId) {
    await this.tones.setSink(deviceId, "ringer");
  }

  // ---- plumbing --------------------------------------------------------------------------------------------

  notice(id, level, text, scope = null) {
    this.emit("notice", { id, level, text, scope });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  /** The state `<body data-phone-state>` shows: expired and error win, then the call, then the connection. */
  get state() {
    if (["expired", "error", "logged-out"].includes(this.connection)) return this.connection;
    if (this.call) return this.call.state;
    return this.connection;
  }

  /** What the CRM's getState is answered with (README, "CRM embedding"). */
  snapshot() {
    const call = this.call;
    return {
      state: this.state,
      registered: this.connection === "registered",
      link: this.linkUp ? "up" : "down",
      expires_at: new Date(this.expiresAt).toISOString(),
      call: call ? {
        call_id: call.id, direction: call.direction, peer: call.peer, state: call.state,
        muted: call.muted, held: call.held, started_at: call.startedAt ? new Date(call.startedAt).toISOString() : null,
      } : null,
    };
  }

  /** Media statistics of the current call (diagnostics and tests), see stats.js; null without a call. */
  async stats() {
    return this.call ? this.call.stats() : null;
  }
}
