// The page: renders the phone's state and turns clicks and keys into phone calls. No SIP here.

import { PhoneError } from "./phone.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  connecting: "Connecting…",
  registered: "Registered",
  reconnecting: "Reconnecting…",
  expired: "Session expired",
  error: "Not connected",
};

const PREFS = { mic: "omnisense-webphone:mic", speaker: "omnisense-webphone:speaker", autoAnswer: "omnisense-webphone:auto-answer" };

/** Preferences in localStorage, which a sandboxed or storage-partitioned frame may refuse. */
const prefs = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      // Not kept: the choice still applies to this page.
    }
  },
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
    this.notices = new Map();
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
      for (const id of [...this.notices.keys()]) this.clearNotice(id); // the problem box says it all now
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
    $("mute-button").addEventListener("click", () => this.act(() => phone.mute(!phone.muted)));
    $("hold-button").addEventListener("click", () => this.act(() => phone.hold(!phone.held)));
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
    this.setUpDevices();
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
    if (this.phone.call === "in-call") {
      this.act(() => this.phone.sendDtmf(key));
      return;
    }
    const input = $("number");
    if (input.value.length < 64) input.value += key;
  }

  onKey(e) {
    const inField = e.target.closest?.("input, select, textarea");
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const { call } = this.phone;
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
    const { call, connection } = phone;
    document.body.dataset.phoneState = phone.state;
    document.body.dataset.registration = connection;
    $("status-text").textContent = STATUS_TEXT[connection];
    if (phone.finished) return; // showProblem has taken over the page
    const idle = call === "idle";
    const registered = connection === "registered";

    $("call-state").textContent = {
      idle: registered ? "Ready" : STATUS_TEXT[connection],
      ringing: "Incoming call",
      calling: "Calling…",
      "in-call": phone.held ? "On hold" : "In call",
    }[call];
    $("call-peer").textContent = idle ? (registered ? "Dial a number or wait for a call" : "Calls can start once registered")
      : phone.peer;
    const flags = [];
    if (phone.muted) flags.push("Muted");
    if (phone.holdPending) flags.push(phone.holdPending === "hold" ? "Putting on hold…" : "Resuming…");
    if (phone.dtmfSent) flags.push(`Sent ${phone.dtmfSent}`);
    if (phone.dtmfReceived) flags.push(`Received ${phone.dtmfReceived}`);
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

    const mute = $("mute-button");
    mute.setAttribute("aria-pressed", String(phone.muted));
    mute.textContent = phone.muted ? "Unmute" : "Mute";
    const hold = $("hold-button");
    hold.setAttribute("aria-pressed", String(phone.held));
    hold.textContent = phone.held ? "Resume" : "Hold";
    hold.disabled = Boolean(phone.holdPending);
    $("keypad").setAttribute("aria-label", call === "in-call" ? "Keypad: sends tones (DTMF)" : "Keypad");
  }

  renderTimer() {
    const { startedAt } = this.phone;
    $("call-timer").textContent = formatDuration(startedAt ? Date.now() - startedAt : 0);
  }

  // ---- notices ---------------------------------------------------------------------------------------------

  notice(id, level, text, action = null) {
    this.clearNotice(id);
    const box = document.createElement("div");
    box.className = `notice notice--${level}`;
    box.dataset.notice = id;
    box.setAttribute("role", level === "error" ? "alert" : "status");
    const message = document.createElement("p");
    message.textContent = text;
    box.append(message);
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn--small";
      button.textContent = action.label;
      button.addEventListener("click", action.run);
      box.append(button);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "notice__close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => this.clearNotice(id));
    box.append(close);
    $("notices").append(box);
    this.notices.set(id, box);
  }

  clearNotice(id) {
    this.notices.get(id)?.remove();
    this.notices.delete(id);
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

  // ---- devices ---------------------------------------------------------------------------------------------

  async setUpDevices() {
    const mic = $("mic-select");
    const speaker = $("speaker-select");
    const canPickSpeaker = typeof HTMLMediaElement.prototype.setSinkId === "function";
    speaker.disabled = !canPickSpeaker;
    $("speaker-hint").hidden = canPickSpeaker;
    const savedMic = prefs.get(PREFS.mic) || "";
    const savedSpeaker = prefs.get(PREFS.speaker) || "";
    const fill = async () => {
      let devices = [];
      try {
        devices = await navigator.mediaDevices.enumerateDevices();
      } catch {
        return;
      }
      const options = (kind, label) => devices.filter((d) => d.kind === kind && d.deviceId && d.deviceId !== "default")
        .map((d, i) => new Option(d.label || `${label} ${i + 1}`, d.deviceId));
      const keep = (select, saved) => select.value || saved;
      const micValue = keep(mic, savedMic);
      const speakerValue = keep(speaker, savedSpeaker);
      mic.replaceChildren(new Option("System default", ""), ...options("audioinput", "Microphone"));
      speaker.replaceChildren(new Option("System default", ""), ...options("audiooutput", "Speaker"));
      mic.value = [...mic.options].some((o) => o.value === micValue) ? micValue : "";
      speaker.value = [...speaker.options].some((o) => o.value === speakerValue) ? speakerValue : "";
      // Once devices are known: apply the saved choice, or fall back to the default if it went away.
      if (devices.some((d) => d.deviceId) && mic.value !== this.phone.micId) {
        this.phone.setMicrophone(mic.value).catch(() => {});
      }
    };
    // Ask for the microphone now, not when the first call rings: the agent sees a blocked microphone at
    // once, and the device names (and the saved choice) are known from the start.
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      for (const track of stream.getTracks()) track.stop();
    } catch (error) {
      this.notice("microphone", "error", `The microphone is not available (${error.name}): allow it for this site to make and take calls.`);
    }
    await fill();
    navigator.mediaDevices?.addEventListener?.("devicechange", fill);
    this.phone.addEventListener("connected", fill); // labels appear once the microphone is allowed
    if (speaker.value && canPickSpeaker) this.phone.setSpeaker(speaker.value).catch(() => {});
    mic.addEventListener("change", () => {
      prefs.set(PREFS.mic, mic.value);
      this.phone.setMicrophone(mic.value).catch((error) => this.notice("device", "warn", `Microphone: ${error.message}`));
    });
    speaker.addEventListener("change", () => {
      prefs.set(PREFS.speaker, speaker.value);
      this.phone.setSpeaker(speaker.value).catch((error) => this.notice("device", "warn", `Speaker: ${error.message}`));
    });
  }
}
