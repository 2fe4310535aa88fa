// The microphone, speaker and ringer pickers of the settings panel: filled from enumerateDevices, kept in prefs,
// applied to the phone (and so to the call in progress). The ringer is where the ringtone sounds, apart from the
// speaker that carries the call.

import { PREFS, prefs } from "./prefs.js";

const $ = (id) => document.getElementById(id);

export class DevicePicker {
  /** @param notify  (id, level, text) => void, for a device that cannot be used */
  constructor({ phone, notify }) {
    this.phone = phone;
    this.notify = notify;
  }

  async start() {
    const mic = $("mic-select");
    // The two outputs: which select, where the choice is kept, whether this browser can route it, how to apply.
    const outputs = [
      {
        name: "Speaker", unset: "System default", select: $("speaker-select"), hint: $("speaker-hint"), pref: PREFS.speaker,
        can: typeof HTMLMediaElement.prototype.setSinkId === "function",
        apply: (id) => this.phone.setSpeaker(id),
      },
      {
        name: "Ringer", unset: "Same as speaker", select: $("ringer-select"), hint: $("ringer-hint"), pref: PREFS.ringer,
        can: typeof globalThis.AudioContext?.prototype.setSinkId === "function",
        apply: (id) => this.phone.setRinger(id),
      },
    ];
    for (const out of outputs) {
      out.select.disabled = !out.can;
      out.hint.hidden = out.can;
      out.saved = prefs.get(out.pref) || "";
    }
    const savedMic = prefs.get(PREFS.mic) || "";
    const fill = async () => {
      let devices = [];
      try {
        devices = await navigator.mediaDevices.enumerateDevices();
      } catch {
        return;
      }
      const options = (kind, label) => devices.filter((d) => d.kind === kind && d.deviceId && d.deviceId !== "default")
        .map((d, i) => new Option(d.label || `${label} ${i + 1}`, d.deviceId));
      const refill = (select, saved, kind, label, unset = "System default") => {
        const value = select.value || saved;
        select.replaceChildren(new Option(unset, ""), ...options(kind, label));
        select.value = [...select.options].some((o) => o.value === value) ? value : "";
      };
      refill(mic, savedMic, "audioinput", "Microphone");
      for (const out of outputs) refill(out.select, out.saved, "audiooutput", out.name, out.unset);
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
      this.notify("microphone", "error", `The microphone is not available (${error.name}): allow it for this site to make and take calls.`);
    }
    await fill();
    navigator.mediaDevices?.addEventListener?.("devicechange", fill);
    this.phone.addEventListener("connected", fill); // labels appear once the microphone is allowed
    mic.addEventListener("change", () => {
      prefs.set(PREFS.mic, mic.value);
      this.phone.setMicrophone(mic.value).catch((error) => this.notify("device", "warn", `Microphone: ${error.message}`));
    });
    for (const out of outputs) {
      if (out.select.value && out.can) out.apply(out.select.value).catch(() => {});
      out.select.addEventListener("change", () => {
        prefs.set(out.pref, out.select.value);
        out.apply(out.select.value).catch((error) => this.notify("device", "warn", `${out.name}: ${error.message}`));
      });
    }
  }
}
