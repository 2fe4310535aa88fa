// The notices over the call panel: one box per id (a new one replaces the old), each dismissable. A notice
// with a scope goes with it: "call" ones when the call ends, "after-call" ones when the next call starts.

export class Notices {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    this.boxes = new Map();
    this.scopes = new Map();
  }

  has(id) {
    return this.boxes.has(id);
  }

  /** Show `text` under `id`; `action` ({label, run}) adds a button. */
  show(id, level, text, action = null, scope = null) {
    this.clear(id);
    if (scope) this.scopes.set(id, scope);
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
    close.addEventListener("click", () => this.clear(id));
    box.append(close);
    this.container.append(box);
    this.boxes.set(id, box);
  }

  clear(id) {
    this.boxes.get(id)?.remove();
    this.boxes.delete(id);
    this.scopes.delete(id);
  }

  clearScope(scope) {
    for (const [id, s] of [...this.scopes]) if (s === scope) this.clear(id);
  }

  clearAll() {
    for (const id of [...this.boxes.keys()]) this.clear(id);
  }
}
