// A launch from ViciDial's agent screen (README, "Using it as ViciDial's webphone"): the page is opened with a
// single-use `vicidial_launch` token, which it exchanges (POST) for its session parameters; ViciPhone's options
// then shape the page. Pure functions, plus `exchangeLaunch` and `VicidialPage` at the edge.

import { STORAGE_KEY } from "./params.js";

export const LAUNCH_PARAM = "vicidial_launch";
export const VICIDIAL_KEY = "omnisense-webphone:vicidial";
export const EXCHANGE_URL = "/vicidial/webphone/session";

/** The microphone's processing the settings container asks for (autoGain, echoCan, noiseSup); unset ones are left. */
export function audioProcessing(options) {
  const processing = {};
  for (const [option, constraint] of [["autoGain", "autoGainControl"], ["echoCancellation", "echoCancellation"],
    ["noiseSuppression", "noiseSuppression"]]) {
    if (typeof options?.[option] === "boolean") processing[constraint] = options[option];
  }
  return processing;
}

/** The `<body data-*>` attributes the stylesheet keys on to follow the options. */
export function bodyFlags(options) {
  return {
    embed: "vicidial",
    dialpad: options?.dialpad ?? "shown", // shown | hidden | toggle-shown | toggle-hidden
    hideMute: String(options?.mute === false),
    hideVolume: String(options?.volume === false),
    hideDialbox: String(options?.dialbox === false),
  };
}

/** What the exchange's answer means: {ok: true, entries, vicidial} or {ok: false, message}. Pure. */
export function readExchange(status, body) {
  if (status === 200 && body?.params && typeof body.params === "object") {
    return { ok: true, entries: Object.entries(body.params).map(([k, v]) => [k, String(v)]), vicidial: body.vicidial ?? {} };
  }
  const message = body?.message || `the service answered HTTP ${status}`;
  return { ok: false, reason: body?.reason ?? "exchange_failed", message };
}

/**
 * At the edge, before the launch parameters are read: a `vicidial_launch` token in the address is exchanged
 * for the session, kept in sessionStorage (a reload of the tab reads it there), and taken out of the address.
 * Returns null when there is no token, else the reading of the exchange.
 */
export async function exchangeLaunch(win = window, fetchImpl = globalThis.fetch.bind(globalThis)) {
  const token = new URLSearchParams(win.location.search).get(LAUNCH_PARAM);
  if (token === null) return null;
  win.history.replaceState(win.history.state, "", win.location.pathname + win.location.hash);
  let answer;
  try {
    const response = await fetchImpl(EXCHANGE_URL, {
      method: "POST", cache: "no-store", credentials: "omit", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    answer = readExchange(response.status, await response.json().catch(() => ({})));
  } catch (error) {
    answer = { ok: false, reason: "exchange_failed", message: `the service did not answer (${error.name})` };
  }
  if (answer.ok) {
    try {
      win.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(answer.entries));
      win.sessionStorage.setItem(VICIDIAL_KEY, JSON.stringify({ ...answer.vicidial, dialled: false }));
    } catch {
      // Storage disabled: this load works, a reload needs a new launch from the agent screen.
    }
  }
  return answer;
}

/** The ViciDial part of this tab's session, or null (not a ViciDial launch). */
export function savedVicidial(win = window) {
  try {
    const saved = JSON.parse(win.sessionStorage.getItem(VICIDIAL_KEY) || "null");
    return saved && typeof saved === "object" ? saved : null;
  } catch {
    return null;
  }
}

/** Applies the options to the page and the phone; dials the agent's conference once first registered. */
export class VicidialPage {
  constructor({ phone, config, log, win = window }) {
    this.phone = phone;
    this.config = config;
    this.log = log;
    this.win = win;
  }

  start() {
    const { phone, config, win } = this;
    const doc = win.document;
    const options = config.options ?? {};
    Object.assign(doc.body.dataset, bodyFlags(options));
    phone.processing = audioProcessing(options);
    phone.sdhOptions.constraints = phone.audioConstraints();
    phone.autoAnswer = options.autoAnswer === true;
    const box = doc.getElementById("auto-answer");
    if (box) box.checked = phone.autoAnswer;
    const toggle = doc.getElementById("keypad-toggle");
    if (toggle) {
      const sync = () => toggle.setAttribute("aria-expanded", String(doc.body.dataset.dialpad === "toggle-shown"));
      toggle.addEventListener("click", () => {
        doc.body.dataset.dialpad = doc.body.dataset.dialpad === "toggle-shown" ? "toggle-hidden" : "toggle-shown";
        sync();
      });
      sync();
    }
    phone.changed();
    if (config.conference && !config.dialled) {
      phone.addEventListener("registered", () => setTimeout(() => this.dialConference(), 0), { once: true });
    }
    this.log.info(`ViciDial launch: user ${config.user ?? "?"}; conference ${config.conference ?? "none"}`);
  }

  dialConference() {
    const { config, win } = this;
    config.dialled = true;
    try {
      win.sessionStorage.setItem(VICIDIAL_KEY, JSON.stringify(config));
    } catch {
      // Not kept: a reload would dial again.
    }
    this.log.info(`joining the ViciDial conference ${config.conference}`);
    try {
      this.phone.dial(config.conference);
    } catch (error) {
      this.log.error(`the conference could not be dialled: ${error.message}`);
    }
  }
}
