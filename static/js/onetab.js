// One tab per agent: a tab opening the phone asks the other tabs of this browser (BroadcastChannel) whether one
// already runs this agent's phone; if one does, the agent is asked whether to take it over here, and the other
// tab then stops and says why.

export const CHANNEL = "omnisense-webphone";
export const ANSWER_WAIT_MS = 150;

export class TabLock {
  /**
   * @param key          who the phone is (the agent's username): tabs of other agents are left alone
   * @param ask          () => boolean: may this tab take over the phone from the other one?
   * @param onTakenOver  called once when another tab takes this agent's phone over
   */
  constructor({ key, ask, onTakenOver, channel = new BroadcastChannel(CHANNEL), wait = ANSWER_WAIT_MS }) {
    this.key = key;
    this.ask = ask;
    this.onTakenOver = onTakenOver;
    this.channel = channel;
    this.wait = wait;
    this.id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    this.active = false;
    this.others = new Set();
    this.channel.addEventListener("message", (event) => this.onMessage(event.data));
  }

  onMessage(data) {
    if (!data || data.key !== this.key || data.id === this.id) return;
    if (data.type === "hello" && this.active) this.channel.postMessage({ type: "here", key: this.key, id: this.id });
    if (data.type === "here") this.others.add(data.id);
    if (data.type === "takeover" && this.active) {
      this.active = false;
      this.onTakenOver();
    }
  }

  /** Resolves true when this tab may run the phone (nobody else does, or the agent took it over). */
  async claim() {
    this.channel.postMessage({ type: "hello", key: this.key, id: this.id });
    await new Promise((resolve) => { setTimeout(resolve, this.wait); });
    if (this.others.size && !this.ask()) return false;
    if (this.others.size) this.channel.postMessage({ type: "takeover", key: this.key, id: this.id });
    this.active = true;
    return true;
  }
}
