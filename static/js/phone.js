// The agent's phone on SIP.js 0.15.11's legacy API (global SIP, SIP.UA): registration with its own reconnect
// watchdog, one call at a time, and the session's expire_date. The DOM is not touched here: the phone emits
// events (see EVENTS) and the UI and the CRM bridge listen.

import { sessionQuery, parseServer } from "./params.js";
import { Watchdog } from "./watchdog.js";

/** Events dispatched (CustomEvent, details in brackets). */
export const EVENTS = [
  "change", // any state or flag changed: re-render
  "registered", "unregistered", // {cause}
  "incoming", // {from, displayName}
  "connected", // {remote, direction}
  "ended", // {cause}
  "expired",
  "error", // {message}: the phone cannot go on
  "notice", // {id, level, text}: something the agent should read
  "dtmf", // {direction, tones, method}
  "autoplay-blocked",
];

const REGISTER_EXPIRES = 300; // s: a tab closed without unregistering is forgotten by the registrar within minutes
const EXPIRY_WARNING_MS = 5 * 60 * 1000;
// SIP.js waits for ICE gathering before sending an offer or answer. Bound it, and finish early once a TURN
// relay candidate is in (tuneIce): the relay is all a relay-only policy needs, and works for any network.
const ICE_GATHERING_TIMEOUT_MS = 2000;
const RELAY_GRACE_MS = 40;
const TURN_CHECK_TIMEOUT_MS = 8000;
const KEEPALIVE_S = 30;
const HOLD_TIMEOUT_MS = 10000;
const EXPIRY_LEAD_MS = 2000;
const MAX_TIMEOUT = 2 ** 31 - 1;
const DIALABLE = /^[A-Za-z0-9*#+._~-]{1,64}$/;
const DTMF_TONES = /^[0-9A-Da-d*#,]{1,64}$/;

/** A request the phone cannot do now; its message is for the agent (or the CRM). */
export class PhoneError extends Error {}

/** The session was refused by the service (bad key, expired): no point retrying. */
class SessionRefused extends Error {}

/** Strip what people type between digits: spaces, dashes, dots between digits, brackets. Pure. */
export function normalizeNumber(text) {
  const raw = String(text ?? "").trim();
  const compact = /^[+\d\s().-]+$/.test(raw) ? raw.replace(/[\s().-]/g, "") : raw;
  return DIALABLE.test(compact) ? compact : null;
}

export class Phone extends EventTarget {
  constructor({ params, log, tones, audio, location = window.location, SIP = window.SIP }) {
    super();
    this.params = params;
    this.log = log;
    this.tones = tones;
    this.audio = audio;
    this.SIP = SIP;
    const secure = location.protocol === "https:";
    const query = sessionQuery(params);
    this.wsUrl = `${secure ? "wss" : "ws"}://${params.server}/ws?${query}`;
    this.turnUrl = `${location.protocol}//${params.server}/webphone/turn-credentials?${query}`
      + `&server=${encodeURIComponent(params.server)}&turn_port=${params.turn_port}`;
    this.domain = parseServer(params.server).host;
    this.expiresAt = params.expiresAt;
    // The relay closes the WebSocket at expire_date itself: wind down a moment earlier, so the BYE and the
    // un-REGISTER still reach the other side.
    this.windDownAt = params.expiresAt - EXPIRY_LEAD_MS;

    this.connection = "connecting"; // connecting | registered | reconnecting | expired | error
    this.call = "idle"; // idle | ringing | calling | in-call
    this.everRegistered = false;
    this.finished = false; // expired or failed for good: nothing reconnects
    this.message = ""; // why, when finished
    this.resetCall(null, null, "");
    this.autoAnswer = false;
    this.micId = "";
    this.turnRefresh = null;
    this.expiryTimer = null;
    this.warned = false;

    // Shared by reference with every session SIP.js creates: TURN refreshes and a new microphone apply to the
    // next call without rebuilding the UA.
    this.rtc = { iceServers: [], iceTransportPolicy: "all", bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" };
    this.sdhOptions = {
      constraints: this.audioConstraints(),
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
    this.onOffline = () => this.log.warn("the browser went offline");
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
    try {
      await this.checkSession();
    } catch (error) {
      if (error instanceof SessionRefused) return;
      throw error;
    }
    if (this.finished) return;
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
   * GET /webphone/turn-credentials: the same checks as /ws, so a forged key or an expired session is refused
   * here, with a reason the page can show (a refused WebSocket upgrade tells the browser nothing).
   */
  async checkSession() {
    let response;
    try {
      response = await fetch(this.turnUrl, {
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
    if (response.ok) {
      this.applyTurn(body);
      return;
    }
    if (response.status === 401 || response.status === 403) {
      if (body.reason === "session_expired") {
        this.expire("The server says this session has expired.");
      } else {
        this.fail(`The server refused this session: ${body.message || `HTTP ${response.status}`}. `
          + "Ask for a new webphone link.");
      }
      throw new SessionRefused();
    }
    if (response.status === 503 || response.status === 404) {
      // No TURN here (not configured): calls still work where the networks let media through directly.
      this.log.warn(`no TURN credentials: ${body.message || response.status}; calling without TURN`);
      this.applyTurn(null);
      return;
    }
    throw new Error(`the service answered HTTP ${response.status}`);
  }

  applyTurn(body) {
    const uris = Array.isArray(body?.uris) ? body.uris.filter((u) => typeof u === "string" && /^turns?:/.test(u)) : [];
    this.rtc.iceServers = uris.length
      ? [{ urls: uris, username: String(body.username), credential: String(body.password) }]
      : [];
    this.rtc.iceTransportPolicy = body?.ice_transport_policy === "relay" ? "relay" : "all";
    this.log.info(`TURN: ${uris.length ? uris.join(", ") : "none"}; ICE transport policy ${this.rtc.iceTransportPolicy}`);
    clearTimeout(this.turnRefresh);
    const ttl = Number(body?.ttl);
    if (Number.isFinite(ttl) && ttl > 0) {
      // Fresh credentials well before these expire, for the calls still to come.
      this.scheduleTurnRefresh(Math.max(30, ttl * 0.8) * 1000);
    }
  }

  scheduleTurnRefresh(delay) {
    clearTimeout(this.turnRefresh);
    this.turnRefresh = setTimeout(() => {
      if (this.finished) return;
      this.checkSession().catch((error) => {
        if (error instanceof SessionRefused) return;
        this.log.warn(`TURN refresh failed (${error.message}): trying again in a minute`);
        this.scheduleTurnRefresh(60000);
      });
    }, Math.min(MAX_TIMEOUT, delay));
  }

  createUa() {
    const { SIP } = this;
    const ua = new SIP.UA({
      uri: `sip:${this.params.username}@${this.domain}`,
      authorizationUser: this.params.username,
      password: this.params.password,
      displayName: this.params.username,
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
        keepAliveInterval: KEEPALIVE_S,
        keepAliveDebounce: 10,
      },
      sessionDescriptionHandlerFactoryOptions: this.sdhOptions,
      // RFC 4733 through RTCDTMFSender; sendDtmf falls back to INFO where the call has no telephone-event.
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
    document.body.dataset.registration = next;
    if (was === "registered") this.emit("unregistered", { cause: next });
    if (next === "registered") this.emit("registered", {});
    this.changed();
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
    if (event?.code === 4001) {
      this.expire("The session has expired (the server closed the connection).");
      return;
    }
    if (event) this.log.warn(`signalling connection closed (code ${event.code}${event.reason ? `, ${event.reason}` : ""})`);
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    this.watchdog.failed("connection closed");
  }

  /** No answer to a CRLF ping: the path is dead even if the socket says open. Drop it and reconnect. */
  onKeepAliveTimeout() {
    if (this.finished) return;
    this.log.warn("no answer to the keep-alive: reconnecting");
    // A disconnect SIP.js asked for emits no `disconnected`, so the watchdog is told here.
    this.ua.transport.disconnect({ force: true });
    this.onDisconnected({ code: 1006, reason: "keep-alive timeout" });
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
      this.notice("expiry", "warn",
        `This session ends at ${at} (in ${Math.max(1, Math.round(left / 60000))} min). Ask for a new link to keep working.`);
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
    if (this.session) this.endCall(cause);
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

  audioConstraints() {
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    // exact: with an ideal deviceId Chrome keeps using a microphone it already has open.
    if (this.micId) audio.deviceId = { exact: this.micId };
    return { audio, video: false }; // SIP.js 0.15's default asks for video too
  }

  requireRegistered() {
    if (this.finished) throw new PhoneError(this.message || "The phone is not available.");
    if (this.connection !== "registered") throw new PhoneError("The phone is not connected yet.");
  }

  dial(text) {
    this.requireRegistered();
    if (this.session) throw new PhoneError("Hang up the current call first.");
    const number = normalizeNumber(text);
    if (!number) throw new PhoneError("Enter a number or extension (digits, letters, * # + . _ ~ -).");
    let session;
    performance.mark("webphone:dial");
    try {
      session = this.ua.invite(number, { sessionDescriptionHandlerOptions: { constraints: this.audioConstraints() } });
    } catch (error) {
      throw new PhoneError(`Cannot call ${number}: ${error.message}`);
    }
    this.adopt(session, "outgoing", number);
    this.setCall("calling");
    this.log.info(`calling ${number}`);
    return number;
  }

  onInvite(session) {
    const from = session.remoteIdentity?.uri?.user || "unknown";
    const displayName = session.remoteIdentity?.displayName || "";
    if (this.finished) {
      session.reject({ statusCode: 480 });
      return;
    }
    if (this.session) {
      // One call at a time: a second caller hears busy at once instead of ringing out.
      this.log.info(`incoming call from ${from} while busy: 486 Busy Here`);
      session.reject({ statusCode: 486, reasonPhrase: "Busy Here" });
      this.notice("busy", "info", `Missed a call from ${displayName || from} while on this call (they heard busy).`);
      return;
    }
    this.adopt(session, "incoming", displayName && displayName !== from ? `${displayName} (${from})` : from);
    this.setCall("ringing");
    this.tones.play("ringtone");
    if (this.tones.blocked) this.emit("autoplay-blocked", {});
    this.log.info(`incoming call from ${from}`);
    this.emit("incoming", { from, displayName });
    if (this.autoAnswer) setTimeout(() => this.session === session && this.call === "ringing" && this.answer(), 0);
  }

  /** The per-call state, fresh for each call (and before the first). */
  resetCall(session, direction, peer) {
    this.session = session;
    this.direction = direction;
    this.peer = peer;
    this.muted = false;
    this.held = false;
    this.holdPending = false;
    this.startedAt = null;
    this.endCause = null;
    this.dtmfSent = "";
    this.dtmfReceived = "";
  }

  adopt(session, direction, peer) {
    this.resetCall(session, direction, peer);
    const mine = (fn) => (...args) => { if (this.session === session) fn(...args); };
    session.on("SessionDescriptionHandler-created", (sdh) => {
      this.tuneIce(sdh);
      // The far end vanished without a BYE (its network or its signalling died): ICE consent checks fail
      // after about 30 s. Hang up rather than sit in a silent call.
      sdh.on("iceConnectionFailed", mine(() => {
        if (this.call !== "in-call") return;
        this.notice("call", "warn", "The call's audio connection was lost.");
        this.endCall("Media lost");
      }));
    });
    session.on("progress", mine((response) => {
      if (direction === "outgoing" && response?.statusCode >= 180 && this.call === "calling") this.tones.play("ringback");
    }));
    session.on("accepted", mine(() => this.onAccepted(session)));
    session.on("trackAdded", mine(() => this.attachRemoteAudio(session)));
    session.on("rejected", mine((response, cause) => { this.endCause ??= cause; }));
    session.on("failed", mine((response, cause) => { this.endCause ??= cause; }));
    session.on("cancel", mine(() => { this.endCause ??= "Canceled"; }));
    session.on("bye", mine(() => { this.endCause ??= "Remote hangup"; }));
    session.on("terminated", mine((message, cause) => this.onTerminated(cause)));
    session.on("dtmf", mine((request, dtmf) => {
      this.dtmfReceived += dtmf.tone;
      this.emit("dtmf", { direction: "in", tones: dtmf.tone, method: "info" });
      this.changed();
    }));
    session.on("referRequested", (context) => this.onReferRequested(session, context));
    session.on("reinviteAccepted", mine(() => this.holdSettled(true)));
    session.on("reinviteFailed", mine(() => this.holdSettled(false)));
    this.changed();
  }

  /** Finish ICE gathering shortly after the first TURN relay candidate instead of waiting for every path. */
  tuneIce(sdh) {
    let timer = null;
    sdh.on("iceCandidate", (event) => {
      if (timer !== null || !event.candidate || !/ typ relay /.test(event.candidate.candidate)) return;
      timer = setTimeout(() => {
        if (!sdh.isIceGatheringComplete()) {
          this.log.info("relay candidate gathered: sending the description now");
          sdh.iceGatheringTimeout = true;
          sdh.triggerIceGatheringComplete();
        }
      }, RELAY_GRACE_MS);
    });
  }

  onAccepted(session) {
    performance.mark("webphone:connected");
    this.tones.stop();
    this.startedAt = Date.now();
    this.setCall("in-call");
    this.attachRemoteAudio(session);
    this.applyMute();
    this.watchDtmfSender(session);
    this.log.info(`call connected with ${this.peer}`);
    this.emit("connected", { remote: this.peer, direction: this.direction });
  }

  onTerminated(cause) {
    const endCause = this.endCause || cause || "Terminated";
    this.tones.stop();
    this.session = null;
    this.audio.srcObject = null;
    this.startedAt = null;
    this.held = false;
    this.muted = false;
    this.holdPending = false;
    this.setCall("idle");
    this.log.info(`call ended (${endCause})`);
    if (endCause === this.SIP.C.causes.BUSY) this.notice("call", "info", `${this.peer} is busy.`);
    else if (endCause === this.SIP.C.causes.NOT_FOUND) this.notice("call", "warn", `${this.peer} was not found.`);
    else if (endCause === this.SIP.C.causes.USER_DENIED_MEDIA_ACCESS) {
      this.notice("call", "error", "The browser did not allow the microphone: allow it in the address bar and try again.");
    }
    this.emit("ended", { cause: endCause });
  }

  setCall(next) {
    if (this.call === next) return;
    this.call = next;
    document.body.dataset.call = next;
    this.changed();
  }

  attachRemoteAudio(session) {
    const pc = session.sessionDescriptionHandler?.peerConnection;
    if (!pc) return;
    const stream = new MediaStream();
    for (const receiver of pc.getReceivers()) {
      if (receiver.track?.kind === "audio") stream.addTrack(receiver.track);
    }
    this.audio.srcObject = stream;
    this.audio.play().catch((error) => {
      if (error.name === "NotAllowedError") this.emit("autoplay-blocked", {});
    });
  }

  answer() {
    if (!this.session || this.call !== "ringing") throw new PhoneError("There is no call to answer.");
    this.tones.stop();
    this.log.info(`answering ${this.peer}`);
    this.session.accept({ sessionDescriptionHandlerOptions: { constraints: this.audioConstraints() } });
  }

  reject() {
    if (!this.session || this.call !== "ringing") throw new PhoneError("There is no call to reject.");
    this.endCause = "Rejected";
    // 486 rather than 603: a queue or PBX then offers the call to someone else.
    this.session.reject({ statusCode: 486, reasonPhrase: "Busy Here" });
  }

  hangup() {
    if (!this.session) throw new PhoneError("There is no call to hang up.");
    this.endCall("Hangup");
  }

  endCall(cause) {
    const session = this.session;
    this.endCause ??= cause;
    try {
      session.terminate();
    } catch (error) {
      this.log.warn(`terminate: ${error.message}`);
      if (this.session === session) this.onTerminated(cause);
    }
  }

  senders() {
    const pc = this.session?.sessionDescriptionHandler?.peerConnection;
    return pc ? pc.getSenders().filter((s) => s.track?.kind === "audio") : [];
  }

  mute(on) {
    if (this.call !== "in-call") throw new PhoneError("Mute works during a call.");
    this.muted = Boolean(on);
    this.applyMute();
    this.log.info(this.muted ? "muted" : "unmuted");
    this.changed();
  }

  applyMute() {
    for (const sender of this.senders()) sender.track.enabled = !this.muted;
  }

  hold(on) {
    if (this.call !== "in-call") throw new PhoneError("Hold works during a call.");
    on = Boolean(on);
    if (on === this.held && !this.holdPending) return;
    if (this.holdPending) throw new PhoneError("Hold is being changed: try again in a moment.");
    this.holdPending = on ? "hold" : "resume";
    this.log.info(on ? "putting the call on hold" : "resuming the call");
    const session = this.session;
    try {
      if (on) session.hold();
      else session.unhold();
    } catch (error) {
      this.holdPending = false;
      throw new PhoneError(`Cannot ${on ? "hold" : "resume"} now: ${error.message}`);
    }
    // A re-INVITE lost with the connection gets no answer and SIP.js never says so: give up after a while,
    // so the agent can try again (SIP.js refuses a new re-INVITE while it thinks one is pending).
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      if (this.session !== session || !this.holdPending) return;
      session.pendingReinvite = false;
      this.holdSettled(false);
    }, HOLD_TIMEOUT_MS);
    this.changed();
  }

  holdSettled(ok) {
    if (!this.holdPending) return; // a re-INVITE from the other side
    clearTimeout(this.holdTimer);
    const wanted = this.holdPending === "hold";
    this.holdPending = false;
    if (ok) {
      this.held = wanted;
    } else {
      // SIP.js flips localHold before the re-INVITE and leaves it flipped on failure (sip.js#685).
      this.session.localHold = this.held;
      this.notice("hold", "warn", `The other side did not accept ${wanted ? "hold" : "resume"}.`);
    }
    this.changed();
  }

  sendDtmf(tones) {
    if (this.call !== "in-call") throw new PhoneError("DTMF works during a call.");
    if (!DTMF_TONES.test(tones)) throw new PhoneError("DTMF tones are 0-9, A-D, * and #.");
    const sender = this.senders()[0];
    let method = "rfc4733";
    if (sender?.dtmf?.canInsertDTMF) {
      // insertDTMF replaces what is still queued: pass the queue on, so quick key presses all go out.
      this.session.dtmf(sender.dtmf.toneBuffer + tones, { duration: 100, interToneGap: 70 });
    } else {
      // SIP.js 0.15.11 falls back to INFO only when there is no DTMF sender at all: a call without
      // telephone-event makes insertDTMF throw instead. Ask for INFO for this one send.
      method = "info";
      const config = this.ua.configuration;
      const was = config.dtmfType;
      config.dtmfType = this.SIP.C.dtmfType.INFO;
      try {
        this.session.dtmf(tones, { duration: 100, interToneGap: 70 });
      } finally {
        config.dtmfType = was;
      }
      this.dtmfSent += tones.replace(/,/g, "");
      this.changed();
    }
    this.log.info(`DTMF ${tones} (${method === "info" ? "SIP INFO" : "RFC 4733"})`);
    this.emit("dtmf", { direction: "out", tones, method });
  }

  /** Tones the browser actually put on the wire (RFC 4733), for the call panel and diagnostics. */
  watchDtmfSender(session) {
    const sender = this.senders()[0];
    if (!sender?.dtmf) return;
    sender.dtmf.addEventListener("tonechange", (event) => {
      if (this.session !== session || !event.tone) return;
      this.dtmfSent += event.tone;
      this.changed();
    });
  }

  transfer(text) {
    if (this.call !== "in-call") throw new PhoneError("Transfer works during a call.");
    const target = normalizeNumber(text);
    if (!target) throw new PhoneError("Enter the number or extension to transfer to.");
    const session = this.session;
    let context;
    try {
      context = session.refer(target);
    } catch (error) {
      throw new PhoneError(`Cannot transfer now: ${error.message}`);
    }
    this.log.info(`blind transfer to ${target}`);
    context.once("referRequestAccepted", () => {
      // Blind transfer: once the other side has taken the REFER, this leg is done.
      if (this.session === session) this.endCall(`Transferred to ${target}`);
    });
    context.once("referRequestRejected", () => {
      this.notice("transfer", "warn", `The transfer to ${target} was refused.`);
    });
    return target;
  }

  /** We are the one being transferred: follow the REFER with a new call that replaces this one. */
  onReferRequested(session, context) {
    if (!(context instanceof this.SIP.ReferServerContext)) return; // our own outgoing REFER
    const target = context.referTo?.uri?.user || String(context.referTo?.uri || "");
    if (this.session !== session || this.finished) {
      context.reject();
      return;
    }
    this.log.info(`transferred by the other side to ${target}`);
    const options = {
      followRefer: true,
      inviteOptions: { sessionDescriptionHandlerOptions: { constraints: this.audioConstraints() } },
    };
    context.accept(options);
    const next = context.targetSession;
    if (!next) return;
    // The new call becomes the current one; the old leg ends when the new one is answered or fails (the
    // transferor usually hangs it up first).
    const muted = this.muted;
    this.adopt(next, "outgoing", target);
    this.muted = muted;
    this.setCall("calling");
    const finishOld = () => {
      try {
        if (!session.endTime) session.terminate();
      } catch {
        // Already ending.
      }
    };
    next.once("accepted", finishOld);
    next.once("terminated", finishOld);
  }

  // ---- devices ---------------------------------------------------------------------------------------------

  async setMicrophone(deviceId) {
    this.micId = deviceId || "";
    this.sdhOptions.constraints = this.audioConstraints();
    const senders = this.senders();
    if (!senders.length) return;
    // Mid-call: swap the track on the same sender, no re-INVITE needed.
    const stream = await navigator.mediaDevices.getUserMedia(this.audioConstraints());
    const [track] = stream.getAudioTracks();
    track.enabled = !this.muted;
    const old = senders[0].track;
    await senders[0].replaceTrack(track);
    old?.stop();
  }

  async setSpeaker(deviceId) {
    if (typeof this.audio.setSinkId === "function") await this.audio.setSinkId(deviceId || "");
    await this.tones.setSink(deviceId);
  }

  // ---- plumbing --------------------------------------------------------------------------------------------

  notice(id, level, text) {
    this.emit("notice", { id, level, text });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  /** The state `<body data-phone-state>` shows: expired and error win, then the call, then the connection. */
  get state() {
    if (this.connection === "expired" || this.connection === "error") return this.connection;
    if (this.call !== "idle") return this.call;
    return this.connection;
  }

  /** Media statistics of the current call (diagnostics and tests): bytes both ways and the candidate pair. */
  async stats() {
    const pc = this.session?.sessionDescriptionHandler?.peerConnection;
    if (!pc) return null;
    const report = await pc.getStats();
    const out = { bytesSent: 0, bytesReceived: 0, packetsReceived: 0, audioEnergy: 0, localCandidateType: null,
      remoteCandidateType: null, direction: pc.getTransceivers()[0]?.currentDirection ?? null };
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
}
