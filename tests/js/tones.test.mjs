// The tones' outputs: the ringtone on a ringer device of its own when the agent picks one, else on the speaker
// with ringback and key clicks.

import assert from "node:assert/strict";
import { test } from "node:test";

// A stand-in for Web Audio: each context records its sink and the oscillators made on it.
class FakeParam {
  value = 0;
  setTargetAtTime() {}
  setValueAtTime() {}
  cancelScheduledValues() {}
}

class FakeNode {
  connect() {}
  disconnect() {}
}

class FakeAudioContext extends EventTarget {
  static made = [];
  constructor() {
    super();
    this.state = "suspended";
    this.currentTime = 0;
    this.destination = new FakeNode();
    this.sinkId = "";
    this.oscillators = [];
    FakeAudioContext.made.push(this);
  }
  async setSinkId(id) {
    this.sinkId = id;
  }
  async resume() {
    this.state = "running";
  }
  createGain() {
    return Object.assign(new FakeNode(), { gain: new FakeParam() });
  }
  createOscillator() {
    const osc = Object.assign(new FakeNode(), { frequency: new FakeParam(), start() {}, stop() {} });
    this.oscillators.push(osc);
    return osc;
  }
}

globalThis.AudioContext = FakeAudioContext;
const { Tones } = await import("../../static/js/tones.js");

test("the ringtone rings on the speaker until the ringer has a device of its own, then on that", async () => {
  const tones = new Tones();
  const { speaker } = tones.outputs;
  assert.equal(tones.outputs.ringer, null);
  tones.play("ringtone");
  assert.equal(speaker.oscillators.length, 2);
  tones.stop();

  await tones.setSink("usb-headset", "speaker");
  await tones.setSink("desk-loudspeaker", "ringer");
  const { ringer } = tones.outputs;
  assert.notEqual(ringer, speaker);
  assert.equal(speaker.sinkId, "usb-headset");
  assert.equal(ringer.sinkId, "desk-loudspeaker");
  assert.equal(ringer.state, "running"); // started on the agent's pick

  tones.play("ringtone");
  assert.equal(ringer.oscillators.length, 2);
  assert.equal(speaker.oscillators.length, 2);
  tones.play("ringback");
  assert.equal(speaker.oscillators.length, 3);
  assert.equal(ringer.oscillators.length, 2);
  tones.stop();

  await tones.setSink("", "speaker");
  assert.equal(speaker.sinkId, "");
  assert.equal(ringer.sinkId, "desk-loudspeaker"); // the ringer keeps its own device
  await tones.setSink("", "ringer");
  assert.equal(tones.outputs.ringer, null);
  tones.play("ringtone");
  assert.equal(speaker.oscillators.length, 5); // back on the speaker
  tones.stop();
});

test("blocked until the outputs in use may sound, and one gesture unlocks them", async () => {
  const tones = new Tones();
  assert.equal(tones.blocked, true);
  assert.equal(await tones.unlock(), true);
  assert.equal(tones.blocked, false);
  for (const ctx of tones.contexts) assert.equal(ctx.state, "running");
  tones.key("5");
  assert.equal(tones.outputs.speaker.oscillators.length, 2); // key clicks stay with the call's speaker
});
