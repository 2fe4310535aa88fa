// An example CRM host page: embeds the webphone (iframe) or opens it (window), sends commands with
// postMessage to the phone's origin only, and accepts events only from the phone's window at that origin.
// The phone URL comes from the form, or from the fragment (#url=...), which never leaves the browser.

const $ = (id) => document.getElementById(id);
let phoneWindow = null;
let phoneOrigin = null;
let muted = false;
let held = false;

function withCrmOrigin(text) {
  const url = new URL(text);
  if (!url.searchParams.has("crm_origin")) url.searchParams.set("crm_origin", window.location.origin);
  return url;
}

function load(text, asWindow) {
  let url;
  try {
    url = withCrmOrigin(text);
  } catch {
    logEvent({ type: "error", message: "that is not a URL" }, "local");
    return;
  }
  phoneOrigin = url.origin;
  if (asWindow) {
    phoneWindow = window.open(url.href, "omnisense-webphone", "popup,width=400,height=760");
  } else {
    const frame = $("phone");
    frame.src = url.href;
    frame.hidden = false;
    $("no-phone").hidden = true;
    phoneWindow = frame.contentWindow;
  }
  logEvent({ type: "loading", origin: phoneOrigin }, "local");
}

function send(command) {
  if (!phoneWindow) {
    logEvent({ type: "error", message: "load the webphone first" }, "local");
    return;
  }
  phoneWindow.postMessage(command, phoneOrigin); // delivered only if the phone is still at that origin
  logEvent(command, "sent");
}

function logEvent(event, direction) {
  const item = document.createElement("li");
  item.dataset.direction = direction;
  item.dataset.type = event.type;
  item.dataset.event = JSON.stringify(event);
  const time = new Date().toLocaleTimeString();
  item.textContent = `${time} ${direction === "sent" ? "→" : direction === "local" ? "·" : "←"} ${JSON.stringify(event)}`;
  $("events").prepend(item);
}

window.addEventListener("message", (event) => {
  if (event.origin !== phoneOrigin || event.source !== phoneWindow) return; // someone else's message
  const data = event.data;
  if (!data || typeof data.type !== "string") return;
  logEvent(data, "received");
  // The buttons show what the phone says, never what was asked: a refused command changes nothing.
  if (data.type === "muted") muted = data.on;
  if (data.type === "held") held = data.on;
  if (data.type === "state") {
    muted = Boolean(data.call?.muted);
    held = Boolean(data.call?.held);
  }
  if (data.type === "ended" || data.type === "expired") muted = held = false;
  render();
});

function render() {
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
  $("hold").setAttribute("aria-pressed", String(held));
  $("hold").textContent = held ? "Resume" : "Hold";
}

$("own-origin").textContent = window.location.origin;
$("load-form").addEventListener("submit", (e) => {
  e.preventDefault();
  load($("phone-url").value, false);
});
$("open-window").addEventListener("click", () => load($("phone-url").value, true));
$("dial-form").addEventListener("submit", (e) => {
  e.preventDefault();
  send({ type: "dial", number: $("dial-number").value });
});
for (const button of document.querySelectorAll("[data-command]")) {
  button.addEventListener("click", () => send({ type: button.dataset.command }));
}
$("mute").addEventListener("click", () => send({ type: "mute", on: !muted }));
$("hold").addEventListener("click", () => send({ type: "hold", on: !held }));
$("dtmf-form").addEventListener("submit", (e) => {
  e.preventDefault();
  send({ type: "dtmf", digits: $("dtmf-digits").value });
});
$("transfer-form").addEventListener("submit", (e) => {
  e.preventDefault();
  send({ type: "transfer", target: $("transfer-target").value });
});

// #url=<phone URL>: load it at once (the fragment is not sent to any server), then forget it.
const fragment = new URLSearchParams(window.location.hash.slice(1));
if (fragment.get("url")) {
  $("phone-url").value = fragment.get("url");
  history.replaceState(null, "", window.location.pathname);
  load(fragment.get("url"), fragment.get("window") === "1");
}
