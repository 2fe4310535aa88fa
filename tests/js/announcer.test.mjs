// The announcer: live-region text, the tab title flashing while a call rings, a desktop notification only
// when the tab is hidden and permission was given, and permission asked only when called (from a click).

import assert from "node:assert/strict";
import { test } from "node:test";

import { Announcer } from "../../static/js/announcer.js";

function world({ hidden = false, permission = "granted" } = {}) {
  const shown = [];
  class FakeNotification {
    static permission = permission;
    static asked = 0;
    static async requestPermission() { FakeNotification.asked += 1; return "denied"; }
    constructor(title, options) { this.title = title; this.options = options; this.closed = false; shown.push(this); }
    close() { this.closed = true; }
  }
  const doc = { title: "TForge OmniSense Webphone", hidden };
  const win = { Notification: FakeNotification, setTimeout, clearTimeout, setInterval, clearInterval, focus() {} };
  const alert = { textContent: "" };
  const status = { textContent: "" };
  return { announcer: new Announcer({ alert, status, doc, win }), doc, shown, alert, status, FakeNotification };
}

test("alerts and status messages land in their live regions", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { announcer, alert, status } = world();
  announcer.alert("Incoming call from 1002");
  announcer.status("Call connected with 1002");
  t.mock.timers.tick(50);
  assert.equal(alert.textContent, "Incoming call from 1002");
  assert.equal(status.textContent, "Call connected with 1002");
});

test("the title flashes while ringing and comes back after", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const { announcer, doc } = world({ hidden: false });
  announcer.ringing("Incoming call from 1002");
  const titles = [doc.title];
  for (let i = 0; i < 3; i++) {
    t.mock.timers.tick(1000);
    titles.push(doc.title);
  }
  assert.deepEqual(titles, ["📞 Incoming call from 1002", "TForge OmniSense Webphone", "📞 Incoming call from 1002",
    "TForge OmniSense Webphone"]);
  announcer.stopRinging();
  t.mock.timers.tick(5000);
  assert.equal(doc.title, "TForge OmniSense Webphone");
});

test("a desktop notification only when the tab is hidden and notifications are allowed; closed when done", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const visible = world({ hidden: false });
  visible.announcer.ringing("Incoming call from 1002");
  assert.equal(visible.shown.length, 0);
  const notAllowed = world({ hidden: true, permission: "default" });
  notAllowed.announcer.ringing("Incoming call from 1002");
  assert.equal(notAllowed.shown.length, 0);
  assert.equal(notAllowed.FakeNotification.asked, 0); // never asked by itself
  const hidden = world({ hidden: true });
  hidden.announcer.ringing("Incoming call from 1002");
  assert.equal(hidden.shown.length, 1);
  assert.equal(hidden.shown[0].options.body, "Incoming call from 1002");
  hidden.announcer.stopRinging();
  assert.equal(hidden.shown[0].closed, true);
});

test("permission is asked only when askPermission is called", async () => {
  const { announcer, FakeNotification } = world({ permission: "default" });
  assert.equal(announcer.permission, "default");
  assert.equal(FakeNotification.asked, 0);
  assert.equal(await announcer.askPermission(), "denied");
  assert.equal(FakeNotification.asked, 1);
});
