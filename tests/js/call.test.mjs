// A Call over a scripted SIP.js session: its own state from ring to end, hold that settles or times out,
// DTMF over INFO where there is no DTMF sender, and a REFER nobody takes is refused.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { test } from "node:test";

import { Call, endNotice } from "../../static/js/call.js";
import { PhoneError } from "../../static/js/errors.js";

const SIP = createRequire(import.meta.url)("sip.js");
const log = { info() {}, warn() {} };

/** What a Call sees of an InviteClientContext/InviteServerContext: events, and the methods it calls. */
class FakeSession extends EventEmitter {
  constructor() {
    super();
    this.done = [];
    this.pendingReinvite = false;
    this.localHold = false;
    this.sessionDescriptionHandler = null;
  }

  terminate() { this.done.push("terminate"); this.emit("terminated", null, "Terminated"); }
  reject(options) { this.done.push(["reject", options.statusCode]); this.emit("terminated", null, "Rejected"); }
  accept() { this.done.push("accept"); this.emit("accepted"); }
  hold() { this.localHold = true; this.pendingReinvite = true; this.done.push("hold"); }
  unhold() { this.localHold = false; this.pendingReinvite = true; this.done.push("unhold"); }
  dtmf(tones) { this.done.push(["dtmf", tones]); }
}

function newCall(state = "calling") {
  const session = new FakeSession();
  const ua = { configuration: { dtmfType: SIP.C.dtmfType.RTP } };
  const call = new Call({ session, direction: "outgoing", peer: "1002", state, SIP, ua, log });
  const events = [];
  for (const type of ["connected", "ended", "notice", "ringback", "dtmf"]) {
    call.addEventListener(type, (e) => events.push([type, e.detail]));
  }
  return { call, session, ua, events };
}

test("an outgoing call rings back, connects and ends once, with the cause SIP.js gave first", () => {
  const { call, session, events } = newCall();
  session.emit("progress", { statusCode: 100 });
  session.emit("progress", { statusCode: 180 });
  session.emit("accepted");
  assert.equal(call.state, "in-call");
  assert.ok(call.startedAt > 0);
  session.emit("bye");
  session.emit("terminated", null, "Terminated");
  session.emit("terminated", null, "Terminated");
  assert.equal(call.ended, true);
  assert.deepEqual(events.map(([type]) => type), ["ringback", "connected", "ended"]);
  assert.deepEqual(events.at(-1)[1], { cause: "Remote hangup", quality: null });
});

test("two calls keep their own state: one session's events never reach the other call", () => {
  const first = newCall("in-call");
  const second = newCall("ringing");
  first.session.emit("dtmf", null, { tone: "5" });
  first.session.emit("terminated", null, "Terminated");
  assert.equal(first.call.dtmfReceived, "5");
  assert.equal(second.call.dtmfReceived, "");
  assert.equal(second.call.state, "ringing");
  assert.deepEqual(second.events, []);
});

test("hold settles on the answer to the re-INVITE; a refusal restores SIP.js's hold flag and says so", () => {
  const { call, session, events } = newCall("in-call");
  call.hold(true);
  assert.equal(call.holdPending, "hold");
  assert.throws(() => call.hold(false), PhoneError);
  session.emit("reinviteAccepted");
  assert.deepEqual([call.held, call.holdPending], [true, false]);
  call.hold(false);
  session.pendingReinvite = false;
  session.emit("reinviteFailed");
  assert.deepEqual([call.held, session.localHold], [true, true]);
  assert.equal(events.at(-1)[1].text, "The other side did not accept resume.");
  clearTimeout(call.holdTimer);
});

test("a re-INVITE nobody answers is given up after the hold timeout", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { call, session, events } = newCall("in-call");
  call.hold(true);
  t.mock.timers.tick(9999);
  assert.equal(call.holdPending, "hold");
  t.mock.timers.tick(1);
  assert.deepEqual([call.holdPending, call.held, session.pendingReinvite, session.localHold], [false, false, false, false]);
  assert.equal(events.at(-1)[1].text, "The other side did not accept hold.");
});

test("without a DTMF sender tones go as INFO and are counted; bad tones and wrong states are refused", () => {
  const { call, session, ua } = newCall("in-call");
  assert.equal(call.sendDtmf("1,2"), "info");
  assert.deepEqual(session.done.at(-1), ["dtmf", "1,2"]);
  assert.equal(call.dtmfSent, "12");
  assert.equal(ua.configuration.dtmfType, SIP.C.dtmfType.RTP);
  assert.throws(() => call.sendDtmf("x"), /DTMF tones are/);
  const ringing = newCall("ringing").call;
  assert.throws(() => ringing.sendDtmf("1"), /during a call/);
  assert.throws(() => ringing.mute(true), /during a call/);
});

test("reject sends 486 and ends as Rejected; answer only while ringing", () => {
  const { call, session, events } = newCall("ringing");
  call.reject();
  assert.deepEqual(session.done, [["reject", 486]]);
  assert.deepEqual(events.at(-1), ["ended", { cause: "Rejected", quality: null }]);
  assert.throws(() => call.answer({}), /no call to answer/);
});

test("a terminate that throws still ends the call", () => {
  const { call, session, events } = newCall("in-call");
  session.terminate = () => { throw new Error("already gone"); };
  call.end("Hangup");
  assert.deepEqual(events.at(-1), ["ended", { cause: "Hangup", quality: null }]);
});

test("a REFER from the other side is refused unless someone takes it", () => {
  const refer = () => {
    const context = Object.create(SIP.ReferServerContext.prototype);
    context.referTo = { uri: { user: "1003" } };
    context.rejected = 0;
    context.reject = () => { context.rejected++; };
    return context;
  };
  const { call, session } = newCall("in-call");
  const ignored = refer();
  session.emit("referRequested", ignored);
  assert.equal(ignored.rejected, 1);
  let target = null;
  call.addEventListener("refer", (e) => { target = e.detail.target; e.preventDefault(); });
  const taken = refer();
  session.emit("referRequested", taken);
  assert.deepEqual([target, taken.rejected], ["1003", 0]);
});

test("busy, not found and a refused microphone each have a notice; other causes none", () => {
  const { causes } = SIP.C;
  assert.deepEqual(endNotice(causes.BUSY, "1002", causes), { level: "info", text: "1002 is busy." });
  assert.equal(endNotice(causes.NOT_FOUND, "1002", causes).level, "warn");
  assert.match(endNotice(causes.USER_DENIED_MEDIA_ACCESS, "1002", causes).text, /did not allow the microphone/);
  assert.equal(endNotice("Remote hangup", "1002", causes), null);
});

test("hold turns the microphone off at once and resume turns it back on once accepted; mute stays mute", () => {
  const { call, session } = newCall("in-call");
  const track = { kind: "audio", enabled: true };
  session.sessionDescriptionHandler = { peerConnection: { getSenders: () => [{ track }] } };
  call.hold(true);
  assert.equal(track.enabled, false);
  session.emit("reinviteAccepted");
  call.hold(false);
  assert.equal(track.enabled, false); // still held until the other side takes the resume
  session.emit("reinviteAccepted");
  assert.equal(track.enabled, true);
  call.mute(true);
  call.hold(true);
  session.emit("reinviteAccepted");
  call.hold(false);
  session.emit("reinviteAccepted");
  assert.equal(track.enabled, false);
  call.mute(false);
  assert.equal(track.enabled, true);
  call.hold(true);
  session.emit("reinviteFailed"); // refused: not held, so the microphone is back
  assert.equal(track.enabled, true);
  clearTimeout(call.holdTimer);
});

test("a dialog refresh is done on 2xx, gone on 481 (or a proxy's 404/410), tried again otherwise", async () => {
  const { refreshOutcome } = await import("../../static/js/call.js");
  assert.equal(refreshOutcome({ ok: true, code: 200 }), "refreshed");
  for (const code of [481, 404, 410]) assert.equal(refreshOutcome({ ok: false, code }), "gone");
  for (const code of [408, 491, 500, 503, null]) assert.equal(refreshOutcome({ ok: false, code }), "retry");
});

test("crossing refreshes back off as RFC 3261 asks: the caller longer than the callee", async () => {
  const { refreshDelay } = await import("../../static/js/call.js");
  assert.equal(refreshDelay(0, "incoming"), 0);
  assert.equal(refreshDelay(0, "outgoing"), 1000);
  for (const r of [0, 0.5, 0.999]) {
    const callee = refreshDelay(1, "incoming", () => r);
    const caller = refreshDelay(3, "outgoing", () => r);
    assert.ok(callee >= 0 && callee < 2000, `callee ${callee}`);
    assert.ok(caller >= 2100 && caller < 4000, `caller ${caller}`);
  }
});

test("failed and disconnected media paths need an ICE restart; new, connecting and connected do not", async () => {
  const { mediaPathFailed } = await import("../../static/js/call.js");
  assert.deepEqual(["new", "connecting", "connected", "disconnected", "failed", "closed"].map(mediaPathFailed),
    [false, false, false, true, true, false]);
});

test("a refresh gets at most REFRESH_MAX_ATTEMPTS re-INVITEs within REFRESH_BUDGET_MS, each bounded", async () => {
  const { refreshPlan, REFRESH_BUDGET_MS, REFRESH_MAX_ATTEMPTS } = await import("../../static/js/call.js");
  assert.deepEqual(refreshPlan(0, 0, "incoming"), { wait: 0, timeoutMs: 6000 });
  assert.deepEqual(refreshPlan(0, 0, "outgoing"), { wait: 1000, timeoutMs: 6000 });
  assert.deepEqual(refreshPlan(1, 8000, "incoming", () => 0.5), { wait: 1000, timeoutMs: 3000 });
  assert.equal(refreshPlan(REFRESH_MAX_ATTEMPTS, 0, "incoming"), null);
  assert.equal(refreshPlan(2, REFRESH_BUDGET_MS - 500, "incoming", () => 0), null);
  assert.equal(refreshPlan(1, 8000, "outgoing", () => 0.999), null); // its back-off would leave under 1 s
  for (let n = 0; n < REFRESH_MAX_ATTEMPTS; n++) {
    for (const elapsed of [0, 3000, 9000]) {
      const plan = refreshPlan(n, elapsed, "outgoing", () => 0.5);
      if (plan) assert.ok(elapsed + plan.wait + plan.timeoutMs <= REFRESH_BUDGET_MS, `${n} ${elapsed}`);
    }
  }
});

/** A far end for re-INVITEs: the core session (Session.js's `session`) that sendReinvite hands its delegate. */
function refreshable(session, answer) {
  const pc = new EventTarget();
  pc.connectionState = "connected";
  pc.signalingState = "stable";
  session.sessionDescriptionHandler = { peerConnection: pc };
  const sent = [];
  session.session = {
    invite(delegate) {
      sent.push(Date.now());
      const code = answer(sent.length);
      if (code !== null) setTimeout(() => {
        session.pendingReinvite = false;
        (code < 300 ? delegate.onAccept : delegate.onReject)({ message: { statusCode: code } });
      }, 50);
    },
  };
  session.reinvite = () => {
    session.pendingReinvite = true;
    session.session.invite({});
  };
  return { pc, sent };
}

/** Run mocked time forward in small steps, letting promise callbacks run between them. */
async function runFor(t, ms) {
  for (let i = 0; i < ms / 50; i++) {
    t.mock.timers.tick(50);
    await new Promise((resolve) => { setImmediate(resolve); });
  }
}

test("a half-dead dialog (no answer, then 491 to every re-INVITE) ends the call as Connection lost within 15 s", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  for (const direction of ["incoming", "outgoing"]) {
    const { call, session, events } = newCall("in-call");
    call.direction = direction;
    const { sent } = refreshable(session, (n) => (n === 1 ? null : 491));
    const began = Date.now();
    let outcome = null;
    call.refresh().then((o) => { outcome = o; });
    await runFor(t, 15000);
    assert.equal(outcome, "unanswered", direction);
    assert.equal(call.ended, true);
    assert.deepEqual(events.at(-1)[0], "ended");
    assert.equal(events.at(-1)[1].cause, "Connection lost");
    assert.match(events.find(([type]) => type === "notice")[1].text, /could not be restored/);
    assert.ok(sent.length >= 2 && sent.length <= 5, `${sent.length} re-INVITEs`);
    assert.ok(session.done.includes("terminate"));
    const endedAt = sent.at(-1) - began;
    assert.ok(endedAt < 15000, `${direction}: last re-INVITE at ${endedAt} ms`);
  }
});

test("a refresh answered after a 491 is done, and a 481 ends the call at once", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const first = newCall("in-call");
  refreshable(first.session, (n) => (n === 1 ? 491 : 200));
  let outcome = null;
  first.call.refresh().then((o) => { outcome = o; });
  await runFor(t, 5000);
  assert.equal(outcome, "refreshed");
  assert.equal(first.call.state, "in-call");
  const second = newCall("in-call");
  refreshable(second.session, () => 481);
  second.call.refresh().then((o) => { outcome = o; });
  await runFor(t, 1500); // the caller waits 1 s before its first re-INVITE
  assert.equal(outcome, "gone");
  assert.equal(second.events.at(-1)[1].cause, "Connection lost");
});

test("the dead-media check runs during a refresh: a path that stays down ends the call as Connection lost", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { MEDIA_LOST_MS } = await import("../../static/js/call.js");
  const { call, session, events } = newCall("in-call");
  const { pc } = refreshable(session, () => null); // a far end that never answers
  call.watchMedia();
  call.setLink(false);
  pc.connectionState = "failed";
  pc.dispatchEvent(new Event("connectionstatechange"));
  assert.equal(call.mediaTimer, null); // link down: kept for the refresh's ICE restart
  call.setLink(true);
  call.refresh();
  assert.notEqual(call.mediaTimer, null); // failed, during a refresh: MEDIA_LOST_MS for the restart to work
  assert.equal(call.state, "in-call");
  pc.connectionState = "connected";
  pc.dispatchEvent(new Event("connectionstatechange"));
  assert.equal(call.mediaTimer, null); // it came back
  pc.connectionState = "disconnected";
  pc.dispatchEvent(new Event("connectionstatechange"));
  await runFor(t, MEDIA_LOST_MS - 5000);
  assert.equal(call.state, "in-call");
  assert.notEqual(call.refreshing, null);
  await runFor(t, 5100);
  assert.equal(call.state, "ended");
  assert.equal(events.at(-1)[1].cause, "Connection lost");
});
