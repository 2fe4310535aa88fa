// The SIP.js adapter: the version check against the real package, and what each helper does to the fields
// SIP.js 0.15.11 reads.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import {
  WRITTEN_FOR, checkSipJs, finishIceGathering, forgetPendingReinvite, restoreLocalHold, sendDtmfInfo,
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
