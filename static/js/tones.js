// Ringtone, ringback and key clicks made with Web Audio: no audio files. Browsers start an AudioContext
// "suspended" until the user has interacted with the page; `blocked` tells the UI to say so and offer a click.

const PATTERNS = {
  // Incoming call: a two-tone trill, 1 s on, 2 s off.
  ringtone: { freqs: [440, 480], on: [[0, 0.4], [0.6, 1.0]], period: 3.0, gain: 0.18 },
  // Outgoing call ringing at the far end (European ringback): 425 Hz, 1 s on, 3 s off.
  ringback: { freqs: [425], on: [[0, 1.0]], period: 4.0, gain: 0.08 },
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
    this.ctx = Ctx ? new Ctx({ latencyHint: "interactive" }) : null;
    this.current = null; // {name, nodes, timer}
    this.ctx?.addEventListener("statechange", () => this.dispatchEvent(new Event("change")));
  }

  /** True while the browser keeps the audio context suspended for lack of a user gesture. */
  get blocked() {
    return this.ctx !== null && this.ctx.state === "suspended";
  }

  /** Resume after a user gesture; resolves to true if sound can play now. */
  async unlock() {
    if (!this.ctx) return false;
    try {
      await this.ctx.resume();
    } catch {
      return false;
    }
    return this.ctx.state === "running";
  }

  /** Route tones to the chosen speaker where the browser can (AudioContext.setSinkId). */
  async setSink(deviceId) {
    if (this.ctx?.setSinkId) {
      try {
        await this.ctx.setSinkId(deviceId || "");
      } catch {
        // The element's own sink still applies to the call audio; tones stay on the default device.
      }
    }
  }

  play(name) {
    if (this.current?.name === name) return;
    this.stop();
    if (!this.ctx) return;
    const pattern = PATTERNS[name];
    const master = this.ctx.createGain();
    master.gain.value = 0;
    master.connect(this.ctx.destination);
    const oscillators = pattern.freqs.map((freq) => {
      const osc = this.ctx.createOscillator();
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
    let next = this.ctx.currentTime + 0.05;
    schedule(next);
    next += pattern.period;
    const timer = setInterval(() => {
      while (next < this.ctx.currentTime + pattern.period) {
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
