// The session check's URLs, how each answer of /webphone/turn-credentials is read, and the ICE settings.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  SessionCheck, canNegotiateRtcpMux, cannotAnswer, iceSettings, newRtcConfiguration, offersRtcpMux, readSessionAnswer,
  rtcConfigurationFor, sessionUrls,
} from "../../static/js/turn.js";

const PARAMS = {
  auth_key: "K", server: "phone.example.com:8443", turn_port: 3478, customer_id: 7, user_id: 1001,
  username: "agent.1001", password: "p&ss", expire_date: "2099-01-01T08:00:00Z",
};

test("the URLs follow the page's scheme and carry the session query", () => {
  const secure = sessionUrls(PARAMS, { protocol: "https:" });
  assert.match(secure.wsUrl, /^wss:\/\/phone\.example\.com:8443\/ws\?/);
  assert.match(secure.turnUrl, /^https:\/\/phone\.example\.com:8443\/webphone\/turn-credentials\?.*&server=phone\.example\.com%3A8443&turn_port=3478$/);
  assert.equal(secure.domain, "phone.example.com");
  assert.match(sessionUrls(PARAMS, { protocol: "http:" }).wsUrl, /^ws:\/\//);
  assert.ok(secure.wsUrl.includes("auth_key=K"));
});

test("each answer means one thing", () => {
  assert.deepEqual(readSessionAnswer(200, { uris: [] }), { kind: "turn", body: { uris: [] } });
  assert.deepEqual(readSessionAnswer(403, { reason: "session_expired" }), { kind: "expired" });
  assert.deepEqual(readSessionAnswer(403, { reason: "logged_out" }), { kind: "logged-out" });
  const refused = readSessionAnswer(401, { reason: "bad_signature", message: "auth_key does not match" });
  assert.equal(refused.kind, "refused");
  assert.match(refused.message, /refused this session: auth_key does not match\. Ask for a new webphone link\./);
  assert.match(readSessionAnswer(403, {}).message, /HTTP 403/);
  assert.deepEqual(readSessionAnswer(503, { message: "no TURN" }), { kind: "no-turn", why: "no TURN" });
  assert.deepEqual(readSessionAnswer(404, {}), { kind: "no-turn", why: 404 });
  assert.deepEqual(readSessionAnswer(502, {}), { kind: "retry", message: "the service answered HTTP 502" });
});

test("TURN credentials become ICE servers; junk URIs are dropped; refresh at 80 % of the ttl, at least 30 s", () => {
  const ice = iceSettings({ uris: ["turn:t.example:3478", "http://x", 5, "turns:t.example:5349"], username: "u",
    password: "p", ttl: 600, ice_transport_policy: "relay" });
  assert.deepEqual(ice.iceServers, [{ urls: ["turn:t.example:3478", "turns:t.example:5349"], username: "u", credential: "p" }]);
  assert.equal(ice.iceTransportPolicy, "relay");
  assert.equal(ice.refreshMs, 480000);
  assert.equal(iceSettings({ uris: [], ttl: 10 }).refreshMs, 30000);
  const none = iceSettings(null);
  assert.deepEqual([none.iceServers, none.iceTransportPolicy, none.refreshMs], [[], "all", null]);
});

test("calls take offers with or without BUNDLE, and keep rtcp-mux", () => {
  assert.equal(newRtcConfiguration().bundlePolicy, "balanced");
  assert.equal(newRtcConfiguration().rtcpMuxPolicy, "require");
  assert.notEqual(newRtcConfiguration(), newRtcConfiguration());
});

test("the check reads JSON, tolerates a body that is not, and turns a network failure into an error", async () => {
  const seen = [];
  const answer = (status, text) => async (url, init) => {
    seen.push([url, init.cache, init.credentials]);
    return new Response(text, { status });
  };
  assert.deepEqual(await new SessionCheck({ url: "U", fetch: answer(403, '{"reason":"session_expired"}') }).check(),
    { kind: "expired" });
  assert.deepEqual(await new SessionCheck({ url: "U", fetch: answer(502, "<html>") }).check(),
    { kind: "retry", message: "the service answered HTTP 502" });
  assert.deepEqual(seen[0], ["U", "no-store", "omit"]);
  const down = new SessionCheck({ url: "U", fetch: async () => { throw new TypeError("Failed to fetch"); } });
  await assert.rejects(down.check(), /the service did not answer \(TypeError\)/);
});

const MUXED = "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\n";
const UNMUXED = "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp:10 IN IP4 0.0.0.0\r\n";

test("an offer without rtcp-mux is answered with rtcpMuxPolicy negotiate where the browser can; others as shared", () => {
  assert.equal(offersRtcpMux(MUXED), true);
  assert.equal(offersRtcpMux(UNMUXED), false);
  assert.equal(offersRtcpMux(MUXED + "m=audio 9 RTP/AVP 0\r\n"), false); // every section must have it
  assert.equal(offersRtcpMux("v=0\r\n"), false);
  const shared = newRtcConfiguration();
  assert.equal(rtcConfigurationFor(shared, MUXED, true), shared);
  assert.equal(rtcConfigurationFor(shared, UNMUXED, false), shared);
  assert.equal(rtcConfigurationFor(shared, null, true), shared);
  const negotiated = rtcConfigurationFor(shared, UNMUXED, true);
  assert.deepEqual(negotiated, { ...shared, rtcpMuxPolicy: "negotiate" });
  assert.equal(shared.rtcpMuxPolicy, "require");
});

test("an offer without rtcp-mux cannot be answered only where the browser requires rtcp-mux", () => {
  assert.equal(cannotAnswer(UNMUXED, false), true);
  assert.equal(cannotAnswer(UNMUXED, true), false);
  assert.equal(cannotAnswer(MUXED, false), false);
  assert.equal(cannotAnswer(null, false), false); // no offer in the INVITE: the browser makes it
  assert.equal(cannotAnswer("", false), false);
});

test("negotiate support is probed, and a browser that refuses it is told apart", () => {
  class Keeps { constructor(c) { this.c = c; } getConfiguration() { return this.c; } close() {} }
  class Drops { getConfiguration() { return { rtcpMuxPolicy: "require" }; } close() {} }
  class Throws { constructor() { throw new TypeError("unsupported"); } }
  assert.equal(canNegotiateRtcpMux(Keeps), true);
  assert.equal(canNegotiateRtcpMux(Drops), false);
  assert.equal(canNegotiateRtcpMux(Throws), false);
  assert.equal(canNegotiateRtcpMux(undefined), false);
});
