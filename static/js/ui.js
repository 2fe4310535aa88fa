// The page: renders the phone's state (and <body data-*>, which the stylesheet keys on) and turns clicks and
// keys into phone calls. No SIP here; notices, device pickers, announcements and recent calls have modules of
// their own.

import { Announcer } from "./announcer.js";
import { DevicePicker } from "./devices.js";
import { PhoneError } from "./errors.js";
import { Notices } from "./notices.js";
import { PREFS, prefs } from "./prefs.js";
import { RecentCalls, renderRecent } from "./recent.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  connecting: "Connecting…",
  registered: "Registered",
  reconnecting: "Reconnecting…",
  expired: "Session expired",
  "logged-out": "Logged out",
  error: "Not connected",
};

const COUNTDOWN_MS = 5 * 60 * 1000; // the session's end is counted down in its last five minutes
const TEXT_FIELD = "input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]), textarea, select";

export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/**
 * What a key press does, given where it was typed. Pure: `key` is KeyboardEvent.key, `where` is "text"
 * (a text field), "control" (a button, a summary or a checkbox), "phone" (anywhere else on the page) or
 * "outside" (the debug panel). Returns null (the browser's own behaviour) or an action name.
 */
export function keyAction(key, where, call, { hasNumber = false, modifiers = false } = {}) {
  if (modifiers || where === "outside") return null;
  if (where === "text") return key === "Escape" ? "leave-field" : null;
  if (where === "control" && (key === "Enter" || key === " ")) return null;
  if (key === "Escape") {
    if (call === "ringing") return "reject";
    if (call === "calling" || call === "in-call") return "hangup";
    return null;
  }
  if (key === "Enter") {
    if (call === "ringing") return "answer";
    if (call === "idle" && hasNumber) return "dial";
    return null;
  }
  if (/^[0-9*#]$/.test(key)) return "digit";
  if (key === "Backspace" && call === "idle") return "backspace";
  return null;
}

const PROBLEM_TITLES = { expired: "This session has expired", "logged-out": "Logged out of ViciDial" };

/** Show why the phone cannot start; nothing connects. `kind` is "error", "expired" or "logged-out". */
export function showProblem(kind, lead, items = []) {
  document.body.dataset.phoneState = kind;
  document.body.dataset.registration = kind;
  $("status-text").textContent = STATUS_TEXT[kind];
  $("problem-title").textContent = PROBLEM_TITLES[kind] ?? "This phone cannot start";
  $("problem-lead").textContent = lead;
  const list = $("problem-list");
  list.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  list.hidden = items.length === 0;
  $("problem").hidden = false;
  for (const id of ["call", "dial-form", "dial", "actions", "recent", "settings", "link"]) $(id).hidden = true;
}

export class PhoneUI {
  constructor({ phone, tones, log, params }) {
    this.phone = phone;
    this.tones = tones;
    this.log = log;
    this.params = params;
    this.notices = new Notices($("notices"));
    this.announcer = new Announcer({ alert: $("announce-alert"), status: $("announce-status") });
    this.recent = new RecentCalls();
    this.shownCall = null; // the Call the page last rendered, to tell a new call from the same one
    this.shownHeld = false;
    this.shownConnection = null;
  }

  start() {
    const { phone } = this;
    $("agent-name").textContent = this.params.username;
    $("agent").hidden = false;

    phone.addEventListener("change", () => this.render());
    phone.addEventListener("tick", () => this.renderClock());
    phone.addEventListener("notice", (e) => this.notice(e.detail.id, e.detail.level, e.detail.text, null, e.detail.scope));
    phone.addEventListener("autoplay-blocked", (e) => this.autoplayBlocked(e.detail?.call === true));
    // An incoming call never takes the focus: the agent's next key is meant for whatever they are typing in.
    phone.addEventListener("incoming", (e) => {
      const who = e.detail.displayName && e.detail.displayName !== e.detail.from
        ? `${e.detail.displayName} (${e.detail.from})` : e.detail.from;
      this.announcer.alert(`Incoming call from ${who}`);
      this.announcer.ringing(`Incoming call from ${who}`);
    });
    phone.addEventListener("connected", (e) => {
      this.clearNotice("call");
      this.announcer.stopRinging();
      this.announcer.status(`Call connected with ${e.detail.remote}`);
    });
    phone.addEventListener("ended", (e) => {
      this.announcer.stopRinging();
      this.notices.clearScope("call");
      const { call } = e.detail;
      this.recent.ended({ peer: call.peer, direction: call.direction, startedAt: call.startedAt, cause: e.detail.cause });
      this.renderRecent();
      this.announcer.status(`Call ended (${e.detail.cause})`);
    });
    phone.addEventListener("missed", (e) => {
      this.recent.turnedAway({ peer: e.detail.displayName || e.detail.from });
      this.renderRecent();
    });
    const finish = (kind, message) => {
      this.notices.clearAll(); // the problem box says it all now
      this.announcer.stopRinging();
      showProblem(kind, message);
      const said = { expired: "The session has expired", "logged-out": "You logged out of ViciDial: the phone stopped" };
      this.announcer.status(said[kind] ?? "The phone stopped: see the message");
    };
    phone.addEventListener("logged-out", (e) => finish("logged-out", e.detail.message));
    phone.addEventListener("expired", (e) => finish("expired", e.detail.message));
    phone.addEventListener("error", (e) => finish("error", e.detail.message));
    this.tones.addEventListener("change", () => {
      if (!this.tones.blocked) this.clearNotice("autoplay");
    });

    $("dial-form").addEventListener("submit", (e) => {
      e.preventDefault();
      // Enter in the number field while a call rings neither answers nor dials: the field is only typed in.
      if (phone.callState === "idle") this.act(() => phone.dial($("number").value));
    });
    $("answer-button").addEventListener("click", () => this.act(() => phone.answer()));
    $("reject-button").addEventListener("click", () => this.act(() => phone.reject()));
    $("hangup-button").addEventListener("click", () => this.act(() => phone.hangup()));
    $("mute-button").addEventListener("click", () => this.act(() => phone.mute(!phone.call?.muted)));
    $("hold-button").addEventListener("click", () => this.act(() => phone.hold(!phone.call?.held)));
    $("transfer-button").addEventListener("click", () => this.toggleTransfer());
    $("transfer-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.act(() => {
        phone.transfer($("transfer-target").value);
        this.toggleTransfer(false);
      });
    });
    $("backspace").addEventListener("click", () => {
      const input = $("number");
      input.value = input.value.slice(0, -1);
      input.focus();
    });
    $("keypad").addEventListener("click", (e) => {
      const key = e.target.closest("button[data-key]")?.dataset.key;
      if (key) this.press(key);
    });
    $("retry-now").addEventListener("click", () => phone.retryNow());
    $("recent").addEventListener("click", () => {
      this.recent.acknowledge();
      this.renderRecent();
    });
    document.addEventListener("keydown", (e) => this.onKey(e));
    // Any click or key counts as the gesture browsers want before they play sound.
    const unlock = () => this.tones.unlock();
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });

    const autoAnswer = $("auto-answer");
    autoAnswer.checked = prefs.get(PREFS.autoAnswer) === "true";
    phone.autoAnswer = autoAnswer.checked;
    autoAnswer.addEventListener("change", () => {
      phone.autoAnswer = autoAnswer.checked;
      prefs.set(PREFS.autoAnswer, String(autoAnswer.checked));
      this.log.info(`auto-answer ${autoAnswer.checked ? "on" : "off"}`);
      this.render();
    });
    this.setUpNotifications();
    new DevicePicker({ phone, notify: (id, level, text) => this.notice(id, level, text) }).start();
    if (this.params.debug_html) {
      $("debug").hidden = false;
      $("debug-clear").addEventListener("click", () => { $("debug-log").textContent = ""; });
    }
    this.renderRecent();
    this.render();
  }

  /** Desktop notifications: asked for only when the agent clicks the button, never at load. */
  setUpNotifications() {
    const button = $("notify-button");
    const state = $("notify-state");
    const show = () => {
      const permission = this.announcer.permission;
      button.hidden = permission !== "default";
      state.hidden = permission === "default";
      state.textContent = {
        granted: "Calls ringing while this tab is hidden show a desktop notification.",
        denied: "The browser blocks notifications for this site.",
        unsupported: "This browser shows no desktop notifications here.",
      }[permission] ?? "";
    };
    button.addEventListener("click", async () => {
      await this.announcer.askPermission();
      show();
    });
    show();
  }

  /** Run a user action; a PhoneError is shown to the agent, anything else is logged and shown briefly. */
  act(fn) {
    try {
      this.clearNotice("action");
      fn();
    } catch (error) {
      const text = error instanceof PhoneError ? error.message : `Something went wrong: ${error.message}`;
      if (!(error instanceof PhoneError)) this.log.error(error.stack || String(error));
      this.notice("action", "warn", text, null, this.phone.call ? "call" : null);
    }
  }

  press(key) {
    this.tones.key(key);
    if (this.phone.callState === "in-call") {
      this.act(() => this.phone.sendDtmf(key));
      return;
    }
    const input = $("number");
    if (input.value.length < 64) input.value += key;
  }

  /** Where a key was typed, for keyAction. */
  where(target) {
    if (!target?.closest || target === document.body || target === document.documentElement) return "phone";
    if (target.closest(TEXT_FIELD)) return "text";
    if (!target.closest("main.phone")) return "outside";
    if (target.closest("button, summary, input, a")) return "control";
    return "phone";
  }

  onKey(e) {
    const action = keyAction(e.key, this.where(e.target), this.phone.callState, {
      hasNumber: $("number").value.trim() !== "",
      modifiers: e.ctrlKey || e.metaKey || e.altKey,
    });
    if (!action) return;
    e.preventDefault();
    switch (action) {
      case "leave-field":
        e.target.blur();
        if (e.target.id === "transfer-target") this.toggleTransfer(false);
        return;
      case "reject": return this.act(() => this.phone.reject());
      case "hangup": return this.act(() => this.phone.hangup());
      case "answer": return this.act(() => this.phone.answer());
      case "dial": return this.act(() => this.phone.dial($("number").value));
      case "digit": return this.press(e.key);
      case "backspace":
        $("number").value = $("number").value.slice(0, -1);
        return undefined;
      default: return undefined;
    }
  }

  toggleTransfer(open = $("transfer-form").hidden) {
    const wasOpen = !$("transfer-form").hidden;
    $("transfer-form").hidden = !open;
    $("transfer-button").setAttribute("aria-expanded", String(open));
    if (open) $("transfer-target").focus();
    // Closing it with the focus inside: give the focus to the button that opened it, not to the page.
    else if (wasOpen && document.activeElement === document.body) $("transfer-button").focus();
  }

  render() {
    const { phone } = this;
    const { connection } = phone;
    const call = phone.callState;
    const current = phone.call;
    const held = Boolean(current?.held);
    document.body.dataset.phoneState = phone.state;
    document.body.dataset.registration = connection;
    document.body.dataset.call = call;
    document.body.dataset.hold = String(held);
    document.body.dataset.link = phone.linkUp ? "up" : "down";
    $("status-text").textContent = STATUS_TEXT[connection];
    this.announceChanges(current, held, connection);
    if (phone.finished) return; // showProblem has taken over the page
    const idle = call === "idle";
    const registered = connection === "registered";

    $("call-state").textContent = {
      idle: registered ? "Ready" : STATUS_TEXT[connection],
      ringing: "Incoming call",
      calling: "Calling…",
      "in-call": phone.linkUp ? (held ? "On hold" : "In call") : "In call: restoring the line…",
    }[call];
    $("call-peer").textContent = idle ? (registered ? "Dial a number or wait for a call" : "Calls can start once registered")
      : current.peer;
    const flags = [];
    if (current?.muted) flags.push("Muted");
    if (current?.holdPending) flags.push(current.holdPending === "hold" ? "Putting on hold…" : "Resuming…");
    if (current?.dtmfSent) flags.push(`Sent ${current.dtmfSent}`);
    if (current?.dtmfReceived) flags.push(`Received ${current.dtmfReceived}`);
    if (current?.quality) {
      const q = current.quality;
      const word = q.mos >= 4 ? "good" : q.mos >= 3.6 ? "fair" : "poor";
      flags.push(`Quality ${word} (MOS ${q.mos.toFixed(1)}, loss ${q.loss} %${q.jitter_ms === null ? "" : `, jitter ${q.jitter_ms} ms`}${q.rtt_ms === null ? "" : `, RTT ${q.rtt_ms} ms`})`);
    }
    $("call-flags").textContent = flags.join(" · ");
    $("auto-answer-badge").hidden = !phone.autoAnswer;

    $("call-button").hidden = !idle;
    $("call-button").disabled = !registered;
    $("answer-button").hidden = call !== "ringing";
    $("reject-button").hidden = call !== "ringing";
    $("hangup-button").hidden = !(call === "calling" || call === "in-call");
    $("hangup-button").textContent = call === "calling" ? "Cancel" : "Hang up";
    $("incall-controls").hidden = call !== "in-call";
    if (call !== "in-call") this.toggleTransfer(false);
    // The number field while idle, and while a call rings (the agent may be typing in it: a ringing call
    // never takes the focus away); in its place during a call, the timer and flags. The keypad also in a call
    // (DTMF); neither while calling.
    $("dial-form").hidden = !(idle || call === "ringing");
    $("call-live").hidden = !(call === "calling" || call === "in-call");
    $("dial").hidden = !(idle || call === "in-call");

    const muted = Boolean(current?.muted);
    const mute = $("mute-button");
    mute.setAttribute("aria-pressed", String(muted));
    mute.textContent = muted ? "Unmute" : "Mute";
    const hold = $("hold-button");
    hold.setAttribute("aria-pressed", String(held));
    hold.textContent = held ? "Resume" : "Hold";
    hold.disabled = Boolean(current?.holdPending);
    $("keypad").setAttribute("aria-label", call === "in-call" ? "Keypad: sends tones (DTMF)" : "Keypad");
    this.renderClock();
  }

  /** Polite announcements for what changed since the last render: on hold, resumed, link lost or back. */
  announceChanges(current, held, connection) {
    if (current !== this.shownCall) {
      // A new call (or none): the notices of the time between calls go.
      if (current) this.notices.clearScope("after-call");
      this.shownCall = current;
      this.shownHeld = false;
    }
    if (current && held !== this.shownHeld) {
      this.announcer.status(held ? "Call on hold" : "Call resumed");
      this.shownHeld = held;
    }
    const was = this.shownConnection;
    this.shownConnection = connection;
    if (was === "registered" && (connection === "reconnecting" || connection === "connecting")) {
      this.announcer.status(current ? "Connection lost: reconnecting, the call is kept" : "Connection lost: reconnecting");
    } else if (was && was !== "registered" && connection === "registered") {
      this.announcer.status("Connection restored");
    }
  }

  /** Once a second: the call timer, the retry countdown, the session's end. */
  renderClock() {
    const { phone } = this;
    const startedAt = phone.call?.startedAt;
    $("call-timer").textContent = formatDuration(startedAt ? Date.now() - startedAt : 0);

    const linking = !phone.finished && (phone.connection === "connecting" || phone.connection === "reconnecting");
    $("link").hidden = !linking;
    if (linking) {
      const { at, reason } = phone.retry;
      const why = reason ? ` (${reason})` : "";
      const verb = phone.connection === "reconnecting" ? "Reconnecting" : "Connecting";
      const kept = phone.call?.state === "in-call" ? "The call is kept; its audio goes on. " : "";
      $("link-text").textContent = kept + (at
        ? `${verb}${why}: next try in ${Math.max(1, Math.ceil((at - Date.now()) / 1000))} s.`
        : `${verb} to the server…`);
      $("retry-now").hidden = !at;
    }

    const left = phone.expiresAt - Date.now();
    const ends = $("session-ends");
    if (left <= COUNTDOWN_MS && left > 0) {
      ends.textContent = `Session ends in ${formatDuration(left)}`;
      ends.classList.add("session-ends--soon");
    } else {
      ends.textContent = `Session ends ${new Date(phone.expiresAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
      ends.classList.remove("session-ends--soon");
    }
  }

  renderRecent() {
    renderRecent(this.recent, { list: $("recent-list"), empty: $("recent-empty"), badge: $("missed-badge") }, formatDuration);
  }

  // ---- notices ---------------------------------------------------------------------------------------------

  notice(id, level, text, action = null, scope = null) {
    this.notices.show(id, level, text, action, scope);
  }

  clearNotice(id) {
    this.notices.clear(id);
  }

  /** The browser refused to play sound without a click: one control that plays it (the call's, when `call`). */
  autoplayBlocked(call = false) {
    const id = call ? "call-audio" : "autoplay";
    if (this.notices.has(id)) return;
    const text = call ? "The browser blocked the call's sound." : "The browser is blocking sound until you click the page.";
    if (call) this.announcer.alert("The browser blocked the call's sound. Click to hear the call.");
    this.notice(id, "warn", text, {
      label: call ? "Click to hear the call" : "Enable sound",
      run: async () => {
        await this.tones.unlock();
        await document.getElementById("remote-audio").play().catch(() => {});
        this.clearNotice(id);
        if (call) this.clearNotice("autoplay");
      },
    }, call ? "call" : null);
  }
}
