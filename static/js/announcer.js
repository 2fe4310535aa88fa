// What the page says without being looked at: live regions for screen readers, a flashing tab title while a
// call rings, and a desktop notification when the tab is hidden (permission only ever asked from a click).

const FLASH_MS = 1000;

export class Announcer {
  constructor({ alert, status, doc = document, win = window }) {
    this.alertRegion = alert;
    this.statusRegion = status;
    this.doc = doc;
    this.win = win;
    this.title = doc.title;
    this.flashTimer = null;
    this.notification = null;
  }

  /** Read out at once, interrupting (an incoming call). */
  alert(text) {
    this.say(this.alertRegion, text);
  }

  /** Read out when the reader is idle (connected, on hold, ended, link lost or back). */
  status(text) {
    this.say(this.statusRegion, text);
  }

  say(region, text) {
    // The same words twice in a row are announced again only if the region changes in between.
    region.textContent = "";
    this.win.setTimeout(() => { region.textContent = text; }, 50);
  }

  /** Alternate the tab title with `text` until stopRinging(). */
  ringing(text) {
    this.stopRinging();
    let on = false;
    const flip = () => {
      on = !on;
      this.doc.title = on ? `📞 ${text}` : this.title;
    };
    flip();
    this.flashTimer = this.win.setInterval(flip, FLASH_MS);
    if (this.doc.hidden && this.win.Notification?.permission === "granted") {
      try {
        this.notification = new this.win.Notification("TForge OmniSense Webphone", {
          body: text, tag: "omnisense-incoming", requireInteraction: true,
        });
        this.notification.onclick = () => {
          this.win.focus();
          this.notification?.close();
        };
      } catch {
        // Some browsers allow notifications only from a service worker: the title still flashes.
      }
    }
  }

  stopRinging() {
    if (this.flashTimer !== null) this.win.clearInterval(this.flashTimer);
    this.flashTimer = null;
    this.doc.title = this.title;
    this.notification?.close();
    this.notification = null;
  }

  /** "granted" | "denied" | "default" | "unsupported" */
  get permission() {
    return this.win.Notification ? this.win.Notification.permission : "unsupported";
  }

  /** Ask for notification permission; call only from a click or key handler. */
  async askPermission() {
    if (!this.win.Notification) return "unsupported";
    return this.win.Notification.requestPermission();
  }
}
