// One call: one SIP.js session from its first ring to its end, with the state that belongs to it (direction,
// peer, mute, hold, DTMF, why it ended). A new call is a new Call, so nothing carries over and nothing needs
// resetting. It listens to its own session only and reports to the phone with events:
//   "change"     something shown changed
//   "ringback"   the far end is ringing (180/183 to our INVITE)
//   "track"      remote audio arrived (attach it: remoteStream())
//   "connected"  answered
//   "notice"     {id, level, text, scope} for the agent
//   "dtmf"       {direction: "in", tones, method}
//   "refer"      {context, target} (cancelable): the far end transfers us; preventDefault() to take it over,
//                 otherwise the REFER is refused
//   "ended"      {cause}, once

import { PhoneError } from "./errors.js";
import {
  callIdOf, finishIceGathering, forgetPendingReinvite, hasEnded, isIncomingRefer, peerConnectionOf, referTarget, reinvite,
  restoreLocalHold, sendDtmfInfo,
} from "./adapter-sipjs.js";
import { qualityBetween, qualityCounters, summarizeQuality, summarizeStats } from "./stats.js";

// Call quality (loss, jitter, round trip, MOS) is measured over intervals this long during a call.
export const QUALITY_INTERVAL_MS = 5000;

// SIP.js waits for ICE gathering before sending an offer or answer. Finish early once a TURN relay candidate
// is in (tuneIce): the relay is all a relay-only policy needs, and works for any network.
const RELAY_GRACE_MS = 40;
const HOLD_TIMEOUT_MS = 10000;
// How long the media path may stay `disconnected` (no answer to ICE consent checks) before the call is given up.
export const MEDIA_LOST_MS = 15000;
/**
 * How long to wait before refresh attempt `attempt` (0-based) after a reconnect. Both ends of a call often
 * reconnect at once and their re-INVITEs cross (491): as RFC 3261 14.1 asks, the end that placed the call
 * waits longer (2.1-4 s after a failure, 1 s before its first try) than the end that answered (0-2 s, none
 * before the first). Pure.
 */
export function refreshDelay(attempt, direction, random = Math.random) {
  const placed = direction === "outgoing";
  if (attempt === 0) return placed ? 1000 : 0;
  return placed ? 2100 + random() * 1900 : random() * 2000;
}

// A refresh after a reconnect must be answered within REFRESH_BUDGET_MS of its start, in at most
// REFRESH_MAX_ATTEMPTS re-INVITEs; otherwise the call ends as "Connection lost". A far end that keeps a
// half-dead dialog (chan_sip after its BYE failed: no answer to the first re-INVITE, 491 to every later one)
// would otherwise hold the agent in a dead call for as long as the retries go on.
export const REFRESH_BUDGET_MS = 12000;
export const REFRESH_MAX_ATTEMPTS = 5;
const REINVITE_TIMEOUT_MS = 6000; // one re-INVITE without any answer; over a WebSocket a live dialog answers in ms
const MIN_REINVITE_MS = 1000; // less time than this left is not worth another re-INVITE

/**
 * The next refresh attempt `attempt` (0-based), `elapsedMs` after the refresh began: {wait, timeoutMs} (how long
 * to wait before the re-INVITE, how long it may go unanswered), or null: give up, attempts or time are spent.
 * Pure.
 */
export function refreshPlan(attempt, elapsedMs, direction, random = Math.random) {
  if (attempt >= REFRESH_MAX_ATTEMPTS) return null;
  const wait = refreshDelay(attempt, direction, random);
  const left = REFRESH_BUDGET_MS - elapsedMs - wait;
  if (left < MIN_REINVITE_MS) return null;
  return { wait, timeoutMs: Math.min(REINVITE_TIMEOUT_MS, left) };
}

/**
 * What to do with the answer to the re-INVITE that refreshes a dialog after a reconnect. Pure.
 * "refreshed": done; "gone": the far end has no such dialog any more (481, or 404/410 from a proxy that lost
 * it), end the call; "retry": try again a moment later (no answer, 491, the far end not reachable yet).
 */
export function refreshOutcome({ ok, code }) {
  if (ok) return "refreshed";
  if (code === 481 || code === 404 || code === 410) return "gone";
  return "retry";
}

/** Whether a peer connection in this state has lost its media path and needs an ICE restart. Pure. */
export function mediaPathFailed(connectionState) {
  return connectionState === "failed" || connectionState === "disconnected";
}
const DTMF_TONES = /^[0-9A-Da-d*#,]{1,64}$/;
const DTMF_TIMING = { duration: 100, interToneGap: 70 };

/** The notice for a call that ended this way, or null. Pure. */
export function endNotice(cause, peer, causes) {
  if (cause === causes.BUSY) return { level: "info", text: `${peer} is busy.` };
  if (cause === causes.NOT_FOUND) return { level: "warn", text: `${peer} was not found.` };
  if (cause === causes.USER_DENIED_MEDIA_ACCESS) {
    return { level: "error", text: "The browser did not allow the microphone: allow it in the address bar and try again." };
  }
  return null;
}

export class Call extends EventTarget {
  /**
   * @param session    the SIP.js session (InviteClientContext or InviteServerContext)
   * @param direction  "incoming" | "outgoing"
   * @param peer       who is on the other side, as shown
   * @param state      "ringing" | "calling" (becomes "in-call", then "ended")
   */
  constructor({ session, direction, peer, state, SIP, ua, log }) {
    super();
    this.session = session;
    this.id = callIdOf(session); // the SIP Call-ID: the call's name for the CRM
    this.direction = direction;
    this.peer = peer;
    this.state = state;
    this.SIP = SIP;
    this.ua = ua;
    this.log = log;
    this.muted = false;
    this.held = false;
    this.holdPending = false; // "hold" | "resume" while a re-INVITE is out
    this.holdTimer = null;
    this.startedAt = null;
    this.endCause = null;
    this.dtmfSent = "";
    this.dtmfReceived = "";
    this.linkUp = true; // the phone's signalling link: while it is down a dead media path waits for the restart
    this.mediaTimer = null;
    this.refreshing = null; // the running dialog refresh (a promise), if any
    this.refreshRun = 0;
    this.qualityTimer = null;
    this.qualitySamples = []; // {mos, loss, jitter_ms, rtt_ms} every QUALITY_INTERVAL_MS
    this.qualityBase = null;
    this.listen();
  }

  listen() {
    const { session } = this;
    session.on("SessionDescriptionHandler-created", (sdh) => {
      this.tuneIce(sdh);
      this.watchMedia();
    });
    session.on("progress", (response) => {
      if (this.direction === "outgoing" && response?.statusCode >= 180 && this.state === "calling") this.emit("ringback");
    });
    session.on("accepted", () => this.onAccepted());
    session.on("trackAdded", () => this.emit("track"));
    session.on("rejected", (response, cause) => { this.endCause ??= cause; });
    session.on("failed", (response, cause) => { this.endCause ??= cause; });
    session.on("cancel", () => { this.endCause ??= "Canceled"; });
    session.on("bye", () => { this.endCause ??= "Remote hangup"; });
    session.on("terminated", (message, cause) => this.onTerminated(cause));
    session.on("dtmf", (request, dtmf) => {
      this.dtmfReceived += dtmf.tone;
      this.emit("dtmf", { direction: "in", tones: dtmf.tone, method: "info" });
      this.changed();
    });
    session.on("referRequested", (context) => this.onReferRequested(context));
    session.on("reinviteAccepted", () => this.holdSettled(true));
    session.on("reinviteFailed", () => this.holdSettled(false));
  }

  /**
   * Finish ICE gathering shortly after the first TURN relay candidate instead of waiting for every path (after
   * one for RTP and one for RTCP when the call does not multiplex them).
   */
  tuneIce(sdh) {
    let timer = null;
    const components = new Set();
    const needed = sdh.peerConnection?.getConfiguration?.().rtcpMuxPolicy === "negotiate" ? 2 : 1;
    sdh.on("iceCandidate", (event) => {
      if (timer !== null || !event.candidate || !/ typ relay /.test(event.candidate.candidate)) return;
      components.add(event.candidate.component ?? event.candidate.candidate.split(" ")[1]);
      if (components.size < needed) return;
      timer = setTimeout(() => {
        if (finishIceGathering(sdh)) this.log.info("relay candidate gathered: sending the description now");
      }, RELAY_GRACE_MS);
    });
  }

  onAccepted() {
    this.startedAt = Date.now();
    this.state = "in-call";
    this.watchMedia();
    this.qualityTimer = setInterval(() => this.sampleQuality(), QUALITY_INTERVAL_MS);
    this.applyMute();
    this.watchDtmfSender();
    this.emit("connected");
  }

  /**
   * The far end vanished without a BYE (its page crashed, its network died): the peer connection goes
   * `disconnected` when ICE consent checks go unanswered (a few seconds) and `failed` later (Chromium fires no
   * iceConnectionFailed that SIP.js would pass on). `failed`, or `disconnected` for MEDIA_LOST_MS, ends the
   * call, while the signalling link is up; with the link down the call is kept for the ICE restart that the
   * dialog refresh brings (see refresh()). The check goes on during the refresh, with MEDIA_LOST_MS for the
   * restart to bring the path back even from `failed`; a path still dead then ends the call as "Connection lost".
   */
  watchMedia() {
    const pc = peerConnectionOf(this.session);
    if (!pc || this.watchedPc === pc) return;
    this.watchedPc = pc;
    pc.addEventListener("connectionstatechange", () => this.checkMedia());
  }

  checkMedia() {
    const pc = peerConnectionOf(this.session);
    if (this.state !== "in-call" || !pc) return;
    const state = pc.connectionState;
    if (!mediaPathFailed(state)) {
      clearTimeout(this.mediaTimer);
      this.mediaTimer = null;
      return;
    }
    if (!this.linkUp) return; // the refresh after the reconnect restarts ICE and checks again
    if (state === "failed" && !this.refreshing) {
      this.mediaLost();
    } else if (this.mediaTimer === null) {
      this.log.warn(`the call's media path is ${state}: ending the call unless it recovers within ${MEDIA_LOST_MS / 1000} s`);
      this.mediaTimer = setTimeout(() => {
        this.mediaTimer = null;
        if (mediaPathFailed(peerConnectionOf(this.session)?.connectionState)) this.mediaLost();
      }, MEDIA_LOST_MS);
    }
  }

  mediaLost() {
    if (this.state !== "in-call") return;
    if (this.refreshing) {
      this.log.warn("no audio came through while the call was being refreshed: ending it");
      this.lost();
      return;
    }
    this.notice("call", "warn", `The call with ${this.peer} was lost: no audio came through (the other side stopped answering).`, "after-call");
    this.end("Media lost");
  }

  /** The phone's signalling link went down (false) or came back (true). */
  setLink(up) {
    this.linkUp = up;
    if (!up) {
      clearTimeout(this.mediaTimer);
      this.mediaTimer = null;
      this.refreshRun++; // a refresh still running stops; the next registration starts a new one
    }
    // Back up: the phone refreshes the call at once, and the refresh checks the media path.
  }

  /**
   * After a reconnect: re-INVITE over the new connection, so the far end (and every proxy) sends its next
   * requests there (the re-INVITE is a target refresh carrying our Contact over the new transport), with an ICE
   * restart when the media path has failed. Retries (see refreshPlan) until answered, the link goes down again,
   * or attempts or time run out; a dialog the far end no longer knows (481), or no usable answer in time, ends
   * the call as "Connection lost". Resolves with the outcome: "refreshed", "gone", "unanswered" or "stopped".
   */
  refresh() {
    if (this.state !== "in-call") return Promise.resolve("none");
    const run = ++this.refreshRun;
    const began = Date.now();
    const stopped = () => run !== this.refreshRun || this.state !== "in-call";
    const attempt = async () => {
      let last = null;
      for (let n = 0; ; n++) {
        const plan = refreshPlan(n, Date.now() - began, this.direction);
        if (plan === null) {
          this.log.warn(`no usable answer to ${n} refresh re-INVITEs in ${((Date.now() - began) / 1000).toFixed(1)} s `
            + `(last: ${last ?? "none"}): ending the call`);
          this.lost();
          return "unanswered";
        }
        if (plan.wait > 0) await new Promise((resolve) => { setTimeout(resolve, plan.wait); });
        if (stopped()) return "stopped";
        const iceRestart = mediaPathFailed(peerConnectionOf(this.session)?.connectionState);
        this.log.info(`refreshing the call over the new connection (re-INVITE${iceRestart ? " with ICE restart" : ""}, attempt ${n + 1})`);
        const answer = await reinvite(this.session, { iceRestart, timeoutMs: plan.timeoutMs });
        const outcome = refreshOutcome(answer);
        if (stopped()) return "stopped";
        if (outcome === "refreshed") {
          this.log.info("call refreshed over the new connection");
          return outcome;
        }
        if (outcome === "gone") {
          this.log.warn(`the other side no longer knows this call (${answer.code}): ending it`);
          this.lost();
          return outcome;
        }
        last = answer.code;
        this.log.info(`refresh not answered (${answer.code ?? "not sent"}): trying again`);
      }
    };
    const running = attempt().finally(() => {
      if (this.refreshing === running) this.refreshing = null;
      this.checkMedia();
    });
    this.refreshing = running;
    this.checkMedia(); // the dead-media check runs during the refresh too
    return running;
  }

  /** The call could not be carried over the new connection: end it as "Connection lost", and say so. */
  lost() {
    if (this.state !== "in-call") return;
    this.notice("call", "warn", `The call with ${this.peer} could not be restored after the connection was lost.`, "after-call");
    this.end("Connection lost");
  }

  onTerminated(cause) {
    if (this.state === "ended") return;
    this.state = "ended";
    clearTimeout(this.holdTimer);
    clearTimeout(this.mediaTimer);
    clearInterval(this.qualityTimer);
    this.refreshRun++;
    this.emit("ended", { cause: this.endCause || cause || "Terminated", quality: summarizeQuality(this.qualitySamples) });
  }

  get ended() {
    return this.state === "ended";
  }

  // ---- what the agent does --------------------------------------------------------------------------------

  answer(constraints) {
    if (this.state !== "ringing") throw new PhoneError("There is no call to answer.");
    this.session.accept({ sessionDescriptionHandlerOptions: { constraints } });
  }

  reject() {
    if (this.state !== "ringing") throw new PhoneError("There is no call to reject.");
    this.endCause = "Rejected";
    // 486 rather than 603: a queue or PBX then offers the call to someone else.
    this.session.reject({ statusCode: 486, reasonPhrase: "Busy Here" });
  }

  /** Hang up, cancel or reject, whatever the state; `cause` is what `ended` reports unless one is known. */
  end(cause) {
    this.endCause ??= cause;
    try {
      this.session.terminate();
    } catch (error) {
      this.log.warn(`terminate: ${error.message}`);
      this.onTerminated(cause);
    }
  }

  senders() {
    const pc = peerConnectionOf(this.session);
    return pc ? pc.getSenders().filter((s) => s.track?.kind === "audio") : [];
  }

  /** The remote audio tracks as one stream, or null before there is a peer connection. */
  remoteStream() {
    const pc = peerConnectionOf(this.session);
    if (!pc) return null;
    const stream = new MediaStream();
    for (const receiver of pc.getReceivers()) {
      if (receiver.track?.kind === "audio") stream.addTrack(receiver.track);
    }
    return stream;
  }

  mute(on) {
    if (this.state !== "in-call") throw new PhoneError("Mute works during a call.");
    this.muted = Boolean(on);
    this.applyMute();
    this.log.info(this.muted ? "muted" : "unmuted");
    this.emit("muted", { on: this.muted });
    this.changed();
  }

  /** What the agent says reaches the other side only when neither muted nor held (nor being put on hold). */
  get silenced() {
    return this.muted || this.held || this.holdPending === "hold";
  }

  applyMute() {
    // SIP.js's hold only rewrites the SDP to sendonly: the microphone would still be heard. Hold turns the
    // track off as mute does; resume turns it back on once the other side has taken the re-INVITE.
    for (const sender of this.senders()) sender.track.enabled = !this.silenced;
  }

  hold(on) {
    if (this.state !== "in-call") throw new PhoneError("Hold works during a call.");
    on = Boolean(on);
    if (on === this.held && !this.holdPending) return;
    if (this.holdPending) throw new PhoneError("Hold is being changed: try again in a moment.");
    this.holdPending = on ? "hold" : "resume";
    this.applyMute();
    this.log.info(on ? "putting the call on hold" : "resuming the call");
    try {
      if (on) this.session.hold();
      else this.session.unhold();
    } catch (error) {
      this.holdPending = false;
      this.applyMute();
      throw new PhoneError(`Cannot ${on ? "hold" : "resume"} now: ${error.message}`);
    }
    // A re-INVITE lost with the connection gets no answer and SIP.js never says so: give up after a while,
    // so the agent can try again (SIP.js refuses a new re-INVITE while it thinks one is pending).
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      if (!this.holdPending) return;
      forgetPendingReinvite(this.session);
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
      this.emit("held", { on: wanted });
    } else {
      restoreLocalHold(this.session, this.held);
      this.notice("hold", "warn", `The other side did not accept ${wanted ? "hold" : "resume"}.`);
    }
    this.applyMute();
    this.changed();
  }

  /** Send tones; returns the method used ("rfc4733" or "info"). */
  sendDtmf(tones) {
    if (this.state !== "in-call") throw new PhoneError("DTMF works during a call.");
    if (!DTMF_TONES.test(tones)) throw new PhoneError("DTMF tones are 0-9, A-D, * and #.");
    const sender = this.senders()[0];
    if (sender?.dtmf?.canInsertDTMF) {
      // insertDTMF replaces what is still queued: pass the queue on, so quick key presses all go out.
      this.session.dtmf(sender.dtmf.toneBuffer + tones, DTMF_TIMING);
      return "rfc4733";
    }
    sendDtmfInfo(this.SIP, this.ua, this.session, tones, DTMF_TIMING);
    this.dtmfSent += tones.replace(/,/g, "");
    this.changed();
    return "info";
  }

  /** Tones the browser actually put on the wire (RFC 4733), for the call panel and diagnostics. */
  watchDtmfSender() {
    const sender = this.senders()[0];
    if (!sender?.dtmf) return;
    sender.dtmf.addEventListener("tonechange", (event) => {
      if (!event.tone) return;
      this.dtmfSent += event.tone;
      this.changed();
    });
  }

  /** Blind transfer (REFER); `target` is already a dialable string. */
  transfer(target) {
    if (this.state !== "in-call") throw new PhoneError("Transfer works during a call.");
    let context;
    try {
      context = this.session.refer(target);
    } catch (error) {
      throw new PhoneError(`Cannot transfer now: ${error.message}`);
    }
    this.log.info(`blind transfer to ${target}`);
    // Blind transfer: once the other side has taken the REFER, this leg is done.
    context.once("referRequestAccepted", () => { if (!this.ended) this.end(`Transferred to ${target}`); });
    context.once("referRequestRejected", () => {
      this.notice("transfer", "warn", `The transfer to ${target} was refused.`);
    });
  }

  /** We are the one being transferred: whoever takes the "refer" event follows it with a new call. */
  onReferRequested(context) {
    if (!isIncomingRefer(this.SIP, context)) return; // our own outgoing REFER
    const target = referTarget(context);
    const event = new CustomEvent("refer", { detail: { context, target }, cancelable: true });
    if (this.ended || this.dispatchEvent(event)) context.reject();
  }

  /** End this leg once the call that replaces it is answered or fails (the transferor usually ends it first). */
  endWhenReplaced(next) {
    const finish = () => {
      try {
        if (!hasEnded(this.session)) this.session.terminate();
      } catch {
        // Already ending.
      }
    };
    next.session.once("accepted", finish);
    next.session.once("terminated", finish);
  }

  /** One quality sample over the last interval: "quality" {mos, loss, jitter_ms, rtt_ms}. */
  async sampleQuality() {
    const pc = peerConnectionOf(this.session);
    if (!pc || this.state !== "in-call") return;
    const counters = qualityCounters(await pc.getStats());
    if (this.state !== "in-call") return;
    const sample = qualityBetween(this.qualityBase, counters);
    this.qualityBase = counters;
    this.qualitySamples.push(sample);
    this.quality = sample;
    this.emit("quality", sample);
    this.changed();
  }

  /** Media statistics (diagnostics and tests), or null before there is a peer connection. */
  async stats() {
    const pc = peerConnectionOf(this.session);
    if (!pc) return null;
    return summarizeStats(await pc.getStats(), pc.getTransceivers()[0]?.currentDirection ?? null);
  }

  /** Another microphone mid-call: the same sender gets the new track, no re-INVITE needed. */
  async replaceMicrophone(getTrack) {
    const [sender] = this.senders();
    if (!sender) return;
    const track = await getTrack();
    track.enabled = !this.silenced;
    const old = sender.track;
    await sender.replaceTrack(track);
    old?.stop();
  }

  // ---- plumbing --------------------------------------------------------------------------------------------

  /** `scope` "call": the notice goes when this call ends; "after-call": it stays until the next call. */
  notice(id, level, text, scope = "call") {
    this.emit("notice", { id, level, text, scope });
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }
}
