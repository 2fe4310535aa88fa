// A ViciDial launch on the page: the options read into the microphone's processing and the body's flags, the
// token exchange and what a reload finds in sessionStorage.

import assert from "node:assert/strict";
import { test } from "node:test";

import { STORAGE_KEY } from "../../static/js/params.js";
import {
  EXCHANGE_URL, VICIDIAL_KEY, audioProcessing, bodyFlags, exchangeLaunch, readExchange, savedVicidial,
} from "../../static/js/vicidial.js";

test("the settings container's processing is applied only where it says something", () => {
  assert.deepEqual(audioProcessing({ autoGain: false, echoCancellation: false, noiseSuppression: false }),
    { autoGainControl: false, echoCancellation: false, noiseSuppression: false });
  assert.deepEqual(audioProcessing({ autoGain: true, echoCancellation: null }), { autoGainControl: true });
  assert.deepEqual(audioProcessing(undefined), {});
});

test("the options become the body's flags", () => {
  assert.deepEqual(bodyFlags({ dialpad: "toggle-hidden", mute: false, volume: true, dialbox: false }), {
    embed: "vicidial", dialpad: "toggle-hidden", hideMute: "true", hideVolume: "false", hideDialbox: "true",
  });
  assert.equal(bodyFlags({}).dialpad, "shown");
});

test("the exchange's answers", () => {
  const ok = readExchange(200, { params: { username: "1001", turn_port: 3478 }, vicidial: { conference: "8600051" } });
  assert.deepEqual(ok, { ok: true, entries: [["username", "1001"], ["turn_port", "3478"]],
    vicidial: { conference: "8600051" } });
  assert.deepEqual(readExchange(403, { reason: "launch_token_used", message: "used already" }),
    { ok: false, reason: "launch_token_used", message: "used already" });
  assert.equal(readExchange(502, null).message, "the service answered HTTP 502");
});

function fakeWindow(search) {
  const store = new Map();
  const win = {
    location: { search, pathname: "/TForge-OmniSense-Webphone.html", hash: "" },
    history: { state: null, replaceState: (state, title, url) => { win.replaced = url; } },
    sessionStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) },
  };
  return win;
}

test("a launch token is exchanged once, taken out of the address and kept for a reload", async () => {
  const win = fakeWindow("?vicidial_launch=TOKEN");
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push([url, init.method, JSON.parse(init.body)]);
    return new Response(JSON.stringify({ params: { username: "1001", password: "pw" }, vicidial: { user: "a" } }));
  };
  const answer = await exchangeLaunch(win, fetchImpl);
  assert.equal(answer.ok, true);
  assert.deepEqual(calls, [[EXCHANGE_URL, "POST", { token: "TOKEN" }]]);
  assert.equal(win.replaced, "/TForge-OmniSense-Webphone.html");
  assert.deepEqual(JSON.parse(win.sessionStorage.getItem(STORAGE_KEY)), [["username", "1001"], ["password", "pw"]]);
  assert.deepEqual(savedVicidial(win), { user: "a", dialled: false });
  assert.equal(win.sessionStorage.getItem(VICIDIAL_KEY).includes("pw"), false);
  assert.equal(await exchangeLaunch(fakeWindow("?auth_key=x"), fetchImpl), null);
});

test("a refused or failed exchange stores nothing", async () => {
  const win = fakeWindow("?vicidial_launch=OLD");
  const refused = await exchangeLaunch(win, async () => new Response('{"reason":"launch_token_used","message":"m"}',
    { status: 403 }));
  assert.deepEqual(refused, { ok: false, reason: "launch_token_used", message: "m" });
  assert.equal(win.sessionStorage.getItem(STORAGE_KEY), null);
  const down = await exchangeLaunch(fakeWindow("?vicidial_launch=T"), async () => { throw new TypeError("x"); });
  assert.equal(down.ok, false);
  assert.match(down.message, /did not answer \(TypeError\)/);
});
