// The page: renders the phone's state (and <body data-*>, which the stylesheet keys on) and turns clicks and
// keys into phone calls. No SIP here; the notices and the device pickers have modules of their own.

import { DevicePicker } from "./devices.js";
import { PhoneError } from "./errors.js";
import { Notices } from "./notices.js";
import { PREFS, prefs } from "./prefs.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  connecting: "Connecting…",
  registered: "Registered",
  reconnecting: "Reconnecting…",
  expired: "Session expired",
  error: "Not connected",
};

export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Show why the phone cannot start; nothing connects. `kind` is "error" or "expired". */
export function showProblem(kind, lead, items = []) {
  document.body.dataset.phoneState = kind;
  document.body.dataset.registration = kind;
  $("status-text").textContent = STATUS_TEXT[kind];
  $("problem-title").textContent = kind === "expired" ? "This session has expired" : "This phone cannot start";
  $("problem-lead").textContent = lead;
  const list = $("problem-list");
  list.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  list.hidden = items.length === 0;
  $("problem").hidden = false;
  for (const id of ["call", "dial", "actions", "settings"]) $(id).hidden = true;
}

export class PhoneUI {
  constructor({ phone, tones, log, params }) {
    this.phone = phone;
    this.tones = tones;
    this.log = log;
    this.params = params;
    this.notices = new Notices($("notices"));
  }

  start() {
    const { phone } = this;
    const ends = new Date(this.params.expiresAt);
    $("agent-name").textContent = this.params.username;
    $("session-ends").textContent = `Session ends ${ends.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
    $("agent").hidden = false;

    phone.addEventListener("change", () => this.render());
    phone.addEventListener("tick", () => this.renderTimer());
    phone.addEventListener("notice", (e) => this.notice(e.detail.id, e.detail.level, e.detail.text));
    phone.addEventListener("autoplay-blocked", () => this.autoplayBlocked());
    phone.addEventListener("incoming", () => this.focus("answer-button"));
    phone.addEventListener("connected", () => this.clearNotice("call"));
    const finish = (kind, message) => {
      this.notices.clearAll(); // the problem box says it all now
      showProblem(kind, message);
    };
    phone.addEventListener("expired", (e) => finish("expired", e.detail.message));
    phone.addEventListener("error", (e) => finish("error", e.detail.message));
    this.tones.addEventListener("change", () => {
      if (!this.tones.blocked) this.clearNotice("autoplay");
    });

    $("dial-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.act(() => phone.dial($("number").value));
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
    });
    new DevicePicker({ phone, notify: (id, level, text) => this.notice(id, level, text) }).start();
    if (this.params.debug_html) {
      $("debug").hidden = false;
      $("debug-clear").addEventListener("click", () => { $("debug-log").textContent = ""; });
    }
    this.render();
  }

  /** Run a user action; a PhoneError is shown to the agent, anything else is logged and shown briefly. */
  act(fn) {
    try {
      this.clearNotice("action");
      fn();
    } catch (error) {
      const text = error instanceof PhoneError ? error.message : `Something went wrong: ${error.message}`;
      if (!(error instanceof PhoneError)) this.log.error(error.stack || String(error));
      this.notice("action", "warn", text);
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

  onKey(e) {
    const inField = e.target.closest?.("input, select, textarea");
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const call = this.phone.callState;
    if (e.key === "Escape" && (call === "ringing" || call === "calling" || call === "in-call")) {
      e.preventDefault();
      this.act(() => (call === "ringing" ? this.phone.reject() : this.phone.hangup()));
      return;
    }
    // Fields keep their keys; on buttons, Enter and Space stay theirs but digits still dial.
    if (inField) return;
    if (e.target.closest?.("button, summary") && (e.key === "Enter" || e.key === " ")) return;
    if (e.key === "Enter" && call === "ringing") {
      e.preventDefault();
      this.act(() => this.phone.answer());
    } else if (/^[0-9*#]$/.test(e.key)) {
      e.preventDefault();
      this.press(e.key);
    } else if (e.key === "Backspace" && call === "idle") {
      $("number").value = $("number").value.slice(0, -1);
    }
  }

  toggleTransfer(open = $("transfer-form").hidden) {
    $("transfer-form").hidden = !open;
    $("transfer-button").setAttribute("aria-expanded", String(open));
    if (open) $("transfer-target").focus();
  }

  focus(id) {
    requestAnimationFrame(() => $(id)?.focus());
  }

  render() {
    const { phone } = this;
    const { connection } = phone;
    const call = phone.callState;
    const current = phone.call;
    document.body.dataset.phoneState = phone.state;
    document.body.dataset.registration = connection;
    document.body.dataset.call = call;
    $("status-text").textContent = STATUS_TEXT[connection];
    if (phone.finished) return; // showProblem has taken over the page
    const idle = call === "idle";
    const registered = connection === "registered";

    $("call-state").textContent = {
      idle: registered ? "Ready" : STATUS_TEXT[connection],
      ringing: "Incoming call",
      calling: "Calling…",
      "in-call": current?.held ? "On hold" : "In call",
    }[call];
    $("call-peer").textContent = idle ? (registered ? "Dial a number or wait for a call" : "Calls can start once registered")
      : current.peer;
    const flags = [];
    if (current?.muted) flags.push("Muted");
    if (current?.holdPending) flags.push(current.holdPending === "hold" ? "Putting on hold…" : "Resuming…");
    if (current?.dtmfSent) flags.push(`Sent ${current.dtmfSent}`);
    if (current?.dtmfReceived) flags.push(`Received ${current.dtmfReceived}`);
    $("call-flags").textContent = flags.join(" · ");
    this.renderTimer();

    $("call-button").hidden = !idle;
    $("call-button").disabled = !registered;
    $("answer-button").hidden = call !== "ringing";
    $("reject-button").hidden = call !== "ringing";
    $("hangup-button").hidden = !(call === "calling" || call === "in-call");
    $("hangup-button").textContent = call === "calling" ? "Cancel" : "Hang up";
    $("incall-controls").hidden = call !== "in-call";
    if (call !== "in-call") this.toggleTransfer(false);
    // The number field while idle; the keypad also in a call (DTMF); neither while ringing or calling.
    document.querySelector(".dial__entry").hidden = !idle;
    $("dial").hidden = !(idle || call === "in-call");

    const muted = Boolean(current?.muted);
    const held = Boolean(current?.held);
    const mute = $("mute-button");
    mute.setAttribute("aria-pressed", String(muted));
    mute.textContent = muted ? "Unmute" : "Mute";
    const hold = $("hold-button");
    hold.setAttribute("aria-pressed", String(held));
    hold.textContent = held ? "Resume" : "Hold";
    hold.disabled = Boolean(current?.holdPending);
    $("keypad").setAttribute("aria-label", call === "in-call" ? "Keypad: sends tones (DTMF)" : "Keypad");
  }

  renderTimer() {
    const startedAt = this.phone.call?.startedAt;
    $("call-timer").textContent = formatDuration(startedAt ? Date.now() - startedAt : 0);
  }

  // ---- notices ---------------------------------------------------------------------------------------------

  notice(id, level, text, action = null) {
    this.notices.show(id, level, text, action);
  }

  clearNotice(id) {
    this.notices.clear(id);
  }

  autoplayBlocked() {
    if (this.notices.has("autoplay")) return;
    this.notice("autoplay", "warn", "The browser is blocking sound until you click the page.", {
      label: "Enable sound",
      run: async () => {
        await this.tones.unlock();
        await document.getElementById("remote-audio").play().catch(() => {});
        this.clearNotice("autoplay");
      },
    });
  }
}
