// Ringtone, ringback and key clicks made with Web Audio: no audio files. Browsers start an AudioContext
// "suspended" until the user has interacted with the page; `blocked` tells the UI to say so and offer a click.
// The ringtone may have a device of its own (a loudspeaker across the room while the call plays in the headset):
// then it gets an AudioContext of its own, made when the agent picks that device; otherwise it rings on the
// speaker's context with ringback and key clicks.

const PATTERNS = {
  // Incoming call: a two-tone trill, 1 s on, 2 s off.
  ringtone: { output: "ringer", freqs: [440, 480], on: [[0, 0.4], [0.6, 1.0]], period: 3.0, gain: 0.18 },
  // Outgoing call ringing at the far end (European ringback): 425 Hz, 1 s on, 3 s off.
  ringback: { output: "speaker", freqs: [425], on: [[0, 1.0]], period: 4.0, gain: 0.08 },
};

const DTMF_FREQS = {
  1: [697, 1209], 2: [697, 1336], 3: [697, 1477], A: [697, 1633],
  4: [770, 1209], 5: [770, 1336], 6: [770, 1477], B: [770, 1633],
  7: [852, 1209], 8: [852, 1336], 9: [852, 1477], C: [852, 1633],
  "*": [941, 1209], 0: [941, 1336], "#": [941, 1477], D: [941, 1633],
};

export class Tones extends EventTarget {
  constructor() {
    super();
    const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
    this.open = () => {
      const ctx = Ctx ? new Ctx({ latencyHint: "interactive" }) : null;
      ctx?.addEventListener("statechange", () => this.dispatchEvent(new Event("change")));
      return ctx;
    };
    this.outputs = { speaker: this.open(), ringer: null };
    this.ctx = this.outputs.speaker;
    this.current = null; // {name, master, oscillators, timer}
  }

  get contexts() {
    return Object.values(this.outputs).filter(Boolean);
  }

  /** True while the browser keeps an audio context suspended for lack of a user gesture. */
  get blocked() {
    return this.contexts.some((ctx) => ctx.state === "suspended");
  }

  /** Resume after a user gesture; resolves to true if sound can play now. */
  async unlock() {
    if (!this.ctx) return false;
    try {
      await Promise.all(this.contexts.map((ctx) => ctx.resume()));
    } catch {
      return false;
    }
    return this.contexts.every((ctx) => ctx.state === "running");
  }

  /** Route one output ("speaker" or "ringer") to a device where the browser can (AudioContext.setSinkId); the
   * ringer with no device of its own rings on the speaker. Called on the agent's pick, so a new context may start. */
  async setSink(deviceId, output = "speaker") {
    if (output === "ringer") {
      if (this.current?.name === "ringtone") this.stop();
      if (!deviceId) {
        this.outputs.ringer?.close?.().catch(() => {});
        this.outputs.ringer = null;
        return;
      }
      this.outputs.ringer ??= this.open();
      this.outputs.ringer?.resume?.().catch(() => {});
    }
    const ctx = this.outputs[output];
    if (ctx?.setSinkId) {
      try {
        await ctx.setSinkId(deviceId || "");
      } catch {
        // The element's own sink still applies to the call audio; tones stay on the default device.
      }
    }
  }

  play(name) {
    if (this.current?.name === name) return;
    this.stop();
    const pattern = PATTERNS[name];
    const ctx = this.outputs[pattern.output] || this.outputs.speaker;
    if (!ctx) return;
    const master = ctx.createGain();
    master.gain.value = 0;
    master.connect(ctx.destination);
    const oscillators = pattern.freqs.map((freq) => {
      const osc = ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(master);
      osc.start();
      return osc;
    });
    const schedule = (from) => {
      for (const [start, end] of pattern.on) {
        master.gain.setTargetAtTime(pattern.gain, from + start, 0.01);
        master.gain.setTargetAtTime(0, from + end, 0.01);
      }
    };
    // Schedule one period ahead, topped up by a timer: cheap, and glitch-free while the tab is busy.
    let next = ctx.currentTime + 0.05;
    schedule(next);
    next += pattern.period;
    const timer = setInterval(() => {
      while (next < ctx.currentTime + pattern.period) {
        schedule(next);
        next += pattern.period;
      }
    }, 500);
    this.current = { name, master, oscillators, timer };
  }

  stop() {
    if (!this.current) return;
    const { master, oscillators, timer } = this.current;
    clearInterval(timer);
    master.gain.cancelScheduledValues(0);
    master.gain.value = 0;
    for (const osc of oscillators) {
      try {
        osc.stop();
      } catch {
        // Already stopped.
      }
    }
    master.disconnect();
    this.current = null;
  }

  /** A short local key click for keypad feedback (the far end gets the real DTMF). */
  key(digit) {
    const freqs = DTMF_FREQS[digit];
    if (!this.ctx || !freqs || this.ctx.state !== "running") return;
    const t = this.ctx.currentTime;
    const gain = this.ctx.createGain();
    gain.gain.setValueAtTime(0.06, t);
    gain.gain.setTargetAtTime(0, t + 0.09, 0.01);
    gain.connect(this.ctx.destination);
    for (const freq of freqs) {
      const osc = this.ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(t);
      osc.stop(t + 0.15);
    }
    setTimeout(() => gain.disconnect(), 300);
  }
}
