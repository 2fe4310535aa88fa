// The microphone and speaker pickers of the settings panel: filled from enumerateDevices, kept in prefs,
// applied to the phone (and so to the call in progress).

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
      this.notify("microphone", "error", `The microphone is not available (${error.name}): allow it for this site to make and take calls.`);
    }
    await fill();
    navigator.mediaDevices?.addEventListener?.("devicechange", fill);
    this.phone.addEventListener("connected", fill); // labels appear once the microphone is allowed
    if (speaker.value && canPickSpeaker) this.phone.setSpeaker(speaker.value).catch(() => {});
    mic.addEventListener("change", () => {
      prefs.set(PREFS.mic, mic.value);
      this.phone.setMicrophone(mic.value).catch((error) => this.notify("device", "warn", `Microphone: ${error.message}`));
    });
    speaker.addEventListener("change", () => {
      prefs.set(PREFS.speaker, speaker.value);
      this.phone.setSpeaker(speaker.value).catch((error) => this.notify("device", "warn", `Speaker: ${error.message}`));
    });
  }
}
