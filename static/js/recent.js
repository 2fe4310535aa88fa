// The short list of recent calls and the count of missed ones. `RecentCalls` is plain data (tested without a
// browser); `renderRecent` draws it.

export const RECENT_MAX = 5;

export class RecentCalls {
  constructor(max = RECENT_MAX) {
    this.max = max;
    this.items = []; // newest first: {peer, direction, at, durationMs, missed}
    this.missed = 0; // missed since the agent last looked (acknowledge())
  }

  /** A call ended: answered ones have a duration; an incoming one never answered and not refused is missed. */
  ended({ peer, direction, startedAt, cause, at = Date.now() }) {
    const missed = direction === "incoming" && !startedAt && cause !== "Rejected";
    this.add({ peer, direction, at, durationMs: startedAt ? at - startedAt : null, missed });
  }

  /** A caller turned away (486) while the agent was on another call. */
  turnedAway({ peer, at = Date.now() }) {
    this.add({ peer, direction: "incoming", at, durationMs: null, missed: true });
  }

  add(item) {
    this.items = [item, ...this.items].slice(0, this.max);
    if (item.missed) this.missed += 1;
  }

  acknowledge() {
    this.missed = 0;
  }
}

/** One line of the list, as read out. Pure. */
export function describe(item, formatDuration) {
  const time = new Date(item.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (item.missed) return { what: `Missed call from ${item.peer}`, time };
  const way = item.direction === "incoming" ? "From" : "To";
  return { what: `${way} ${item.peer}`, time: item.durationMs === null ? `${time}, not answered` : `${time}, ${formatDuration(item.durationMs)}` };
}

export function renderRecent(recent, { list, empty, badge }, formatDuration) {
  list.replaceChildren(...recent.items.map((item) => {
    const li = document.createElement("li");
    li.className = item.missed ? "recent__item recent__item--missed" : "recent__item";
    const { what, time } = describe(item, formatDuration);
    const name = Object.assign(document.createElement("span"), { textContent: what });
    const when = Object.assign(document.createElement("span"), { className: "recent__time", textContent: time });
    li.append(name, when);
    return li;
  }));
  empty.hidden = recent.items.length > 0;
  badge.hidden = recent.missed === 0;
  badge.textContent = `${recent.missed} missed`;
}
