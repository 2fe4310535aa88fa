// The agent's choices kept in localStorage, which a sandboxed or storage-partitioned frame may refuse.

export const PREFS = {
  mic: "omnisense-webphone:mic",
  speaker: "omnisense-webphone:speaker",
  ringer: "omnisense-webphone:ringer",
  autoAnswer: "omnisense-webphone:auto-answer",
};

export const prefs = {
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
