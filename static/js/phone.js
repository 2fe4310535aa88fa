// The agent's phone on SIP.js 0.15.11's legacy API (global SIP, SIP.UA): registration with its own reconnect
// watchdog (connection.js), the session's expire_date (expiry.js), and one call at a time (a Call, see call.js).
// It emits events (see EVENTS) for the page (ui.js) and the CRM bridge (crm.js), which alone touch the DOM; the
// phone only plays the remote audio through the <audio> element it is given.

import { Call, endNotice } from "./call.js";
import { withConnection } from "./connection.js";
import { PhoneError } from "./errors.js";
import { withExpiry, windDownAt } from "./expiry.js";
import { callerIdentities, checkSipJs } from "./adapter-sipjs.js";
import { audioConstraints, callerOf, normalizeNumber } from "./phone-rules.js";
import { SessionCheck, canNegotiateRtcpMux, cannotAnswer, newRtcConfiguration, sessionUrls } from "./turn.js";
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

// SIP.js waits for ICE gathering before sending an offer or answer: bound it (the Call ends it earlier still,
// once a TURN relay candidate is in).
const ICE_GATHERING_TIMEOUT_MS = 2000;

/** The phone: its state and calls here; its connection (connection.js) and its end (expiry.js) mixed in. */
export class Phone extends withExpiry(withConnection(EventTarget)) {
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
    this.windDownAt = windDownAt(params.expiresAt); // a moment before expire_date (expiry.js)

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
