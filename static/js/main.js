// Start-up: read and check the launch parameters, then build the phone, its page and the CRM bridge.
// With a missing or malformed parameter, an expired session or a server that is not this page's own, the page
// says so and nothing connects.

import { readLaunchParams, validateParams, serverMismatch } from "./params.js";
import { Logger } from "./log.js";
import { Tones } from "./tones.js";
import { Phone } from "./phone.js";
import { PhoneUI, showProblem } from "./ui.js";
import { CrmBridge } from "./crm.js";
import { checkSipJs } from "./adapter-sipjs.js";
import { TabLock } from "./onetab.js";
import { VicidialPage, exchangeLaunch, savedVicidial } from "./vicidial.js";

async function main() {
  // A launch from ViciDial's agent screen: its token becomes this tab's session parameters (vicidial.js).
  const launch = await exchangeLaunch(window);
  if (launch && !launch.ok) {
    document.body.dataset.reason = launch.reason;
    showProblem("error", "This launch from ViciDial cannot be used: open the phone from the agent screen again.",
      [launch.message]);
    return;
  }
  const { entries, from } = readLaunchParams(window);
  const { params, problems, expired } = validateParams(entries);
  // Whatever else is wrong, these two never reach a log.
  const secrets = entries.filter(([name]) => name === "password" || name === "auth_key").map(([, v]) => v);
  const log = new Logger({
    toConsole: params.debug_console === true,
    panel: params.debug_html === true ? document.getElementById("debug-log") : null,
    secrets,
  });
  if (params.debug_html === true) document.getElementById("debug").hidden = false;
  log.info(`TForge OmniSense Webphone starting (parameters from ${from})`);

  if (from === "none") {
    showProblem("error", "This page needs the webphone link you were given: its parameters are missing.",
      problems.map((p) => p.message));
    return;
  }
  if (problems.length) {
    for (const p of problems) log.error(p.message);
    showProblem("error", "The webphone link is incomplete or damaged. Ask for a new link.",
      problems.map((p) => p.message));
    return;
  }
  if (expired) {
    const at = new Date(params.expiresAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    log.warn(`session expired at ${params.expire_date}`);
    showProblem("expired", `This session expired on ${at}. Ask for a new webphone link.`);
    return;
  }
  const mismatch = serverMismatch(params.server, window.location);
  if (mismatch) {
    log.error(mismatch);
    showProblem("error", "The webphone link points at another server.", [mismatch]);
    return;
  }
  if (!window.SIP || !window.SIP.UA) {
    showProblem("error", "The SIP library (sip.js) did not load. Reload the page; if it persists, tell support.");
    return;
  }
  try {
    checkSipJs(window.SIP);
  } catch (error) {
    log.error(error.message);
    showProblem("error", "The page and its SIP library do not match. Reload the page; if it persists, tell support.",
      [error.message]);
    return;
  }
  log.info(`SIP.js ${window.SIP.version}; server ${params.server}; user ${params.username}`);

  const tones = new Tones();
  const phone = new Phone({ params, log, tones, audio: document.getElementById("remote-audio") });
  const ui = new PhoneUI({ phone, tones, log, params });
  ui.start();
  const vicidial = params.customer_id === "0" ? savedVicidial(window) : null;
  if (vicidial) new VicidialPage({ phone, config: vicidial, log }).start();
  if (params.crm_origin) new CrmBridge({ origin: params.crm_origin, phone, log }).start();
  // Diagnostics (and the browser tests): the phone object, never the parameters themselves.
  Object.defineProperty(window, "OmniSense", { value: Object.freeze({ phone }), enumerable: false });
  // Leaving the page mid-call ends the call: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (!phone.call) return;
    event.preventDefault();
    event.returnValue = "";
  });
  const lock = new TabLock({
    key: params.username,
    ask: () => window.confirm(`The phone of ${params.username} is already open in another tab. Use it here instead? That tab stops.`),
    onTakenOver: () => phone.fail("This phone was opened in another tab, which took over: this tab has stopped."),
  });
  if (!(await lock.claim())) {
    log.warn("the phone runs in another tab; this one stays off");
    showProblem("error", "This phone is open in another tab: this tab does not connect. Close it, or reload it to take over.");
    return;
  }
  phone.start();
}

main();
