// The SIP.js adapter: the version check against the real package, and what each helper does to the fields
// SIP.js 0.15.11 reads.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import {
  WRITTEN_FOR, checkSipJs, finishIceGathering, forgetPendingReinvite, restoreLocalHold, sdhFactory, sendDtmfInfo,
} from "../../static/js/adapter-sipjs.js";

const SIP = createRequire(import.meta.url)("sip.js");

test("the installed SIP.js is the one the adapter was written for", () => {
  assert.equal(SIP.version, WRITTEN_FOR);
  assert.equal(checkSipJs(SIP), SIP);
});

test("another SIP.js version, or none, is refused by name", () => {
  assert.throws(() => checkSipJs({ ...SIP, version: "0.16.0", UA: SIP.UA }), /needs SIP\.js 0\.15\.11, but SIP\.js 0\.16\.0/);
  assert.throws(() => checkSipJs(undefined), /did not load/);
  assert.throws(() => checkSipJs({ version: WRITTEN_FOR }), /did not load/);
});

test("finishing ICE gathering marks the timeout and triggers completion once", () => {
  const calls = [];
  const sdh = {
    iceGatheringTimeout: false,
    isIceGatheringComplete() { return this.iceGatheringTimeout; },
    triggerIceGatheringComplete() { calls.push(this.iceGatheringTimeout); },
  };
  assert.equal(finishIceGathering(sdh), true);
  assert.equal(finishIceGathering(sdh), false);
  assert.deepEqual(calls, [true]);
});

test("the SIP.js session fields are set as SIP.js reads them", () => {
  const session = { pendingReinvite: true, localHold: true };
  forgetPendingReinvite(session);
  restoreLocalHold(session, false);
  assert.deepEqual(session, { pendingReinvite: false, localHold: false });
});

test("INFO DTMF switches the UA's dtmfType for one send only, even when the send throws", () => {
  const ua = { configuration: { dtmfType: SIP.C.dtmfType.RTP } };
  const seen = [];
  const session = { dtmf(tones, options) { seen.push([ua.configuration.dtmfType, tones, options.duration]); } };
  sendDtmfInfo(SIP, ua, session, "12#", { duration: 100 });
  assert.deepEqual(seen, [[SIP.C.dtmfType.INFO, "12#", 100]]);
  assert.equal(ua.configuration.dtmfType, SIP.C.dtmfType.RTP);
  const failing = { dtmf() { throw new Error("InvalidStateError"); } };
  assert.throws(() => sendDtmfInfo(SIP, ua, failing, "1", {}), /InvalidStateError/);
  assert.equal(ua.configuration.dtmfType, SIP.C.dtmfType.RTP);
});

test("the SDH factory passes an incoming offer's own configuration, and leaves everything else as it was", () => {
  const built = [];
  const fake = {
    ...SIP,
    InviteServerContext: SIP.InviteServerContext,
    Web: { SessionDescriptionHandler: { defaultFactory: (session, options) => { built.push(options); return "sdh"; } } },
  };
  const shared = { rtcpMuxPolicy: "require" };
  const options = { constraints: { audio: true }, peerConnectionOptions: { rtcConfiguration: shared, iceCheckingTimeout: 2000 } };
  const factory = sdhFactory(fake, (rtc, offer) => (offer.includes("no-mux") ? { ...rtc, rtcpMuxPolicy: "negotiate" } : rtc));
  const incoming = (body) => Object.assign(Object.create(SIP.InviteServerContext.prototype), { request: { body } });
  assert.equal(factory(incoming("v=0 no-mux"), options), "sdh");
  factory(incoming("v=0 muxed"), options);
  factory(Object.create(SIP.InviteClientContext.prototype), options);
  assert.deepEqual(built[0], { constraints: { audio: true },
    peerConnectionOptions: { rtcConfiguration: { rtcpMuxPolicy: "negotiate" }, iceCheckingTimeout: 2000 } });
  assert.equal(built[1], options);
  assert.equal(built[2], options);
  assert.equal(shared.rtcpMuxPolicy, "require");
});

test("an incoming call's identities: From, then P-Asserted-Identity, then Remote-Party-ID", async () => {
  const { callerIdentities } = await import("../../static/js/adapter-sipjs.js");
  const SIP = createRequire(import.meta.url)("sip.js");
  const parse = (text) => SIP.Grammar.nameAddrHeaderParse(text);
  const headers = { "Remote-Party-ID": '"VDAD" <sip:8600051@10.0.0.1>;party=calling;privacy=off;screen=no' };
  const session = {
    remoteIdentity: parse('"Anonymous" <sip:anonymous@anonymous.invalid>'),
    assertedIdentity: parse("<sip:8600052@10.0.0.1>"),
    request: { getHeader: (name) => headers[name] },
  };
  assert.deepEqual(callerIdentities(SIP, session), [
    { user: "anonymous", displayName: "Anonymous", host: "anonymous.invalid" },
    { user: "8600052", displayName: "", host: "10.0.0.1" },
    { user: "8600051", displayName: "VDAD", host: "10.0.0.1" },
  ]);
  delete headers["Remote-Party-ID"];
  session.assertedIdentity = undefined;
  assert.equal(callerIdentities(SIP, session).length, 1);
});
