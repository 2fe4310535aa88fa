// The notices above the call panel: one box per id (a new one replaces the old), each dismissable.

export class Notices {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    this.boxes = new Map();
  }

  has(id) {
    return this.boxes.has(id);
  }

  /** Show `text` under `id`; `action` ({label, run}) adds a button. */
  show(id, level, text, action = null) {
    this.clear(id);
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
  }

  clearAll() {
    for (const id of [...this.boxes.keys()]) this.clear(id);
  }
}
