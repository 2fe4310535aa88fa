// The launch parameters (README, "Launching it"; any order), validated. Pure functions, plus `readLaunchParams` at
// the edge, which takes the password out of the address bar and keeps the parameters for a reload in the same tab.

export const REQUIRED = [
  "auth_key", "server", "turn_port", "customer_id", "user_id", "username", "password", "expire_date",
];
export const OPTIONAL = ["debug_console", "debug_html", "crm_origin"];
export const STORAGE_KEY = "omnisense-webphone:launch";

// The same shapes the server checks (service/sip_proxy/session.py), so the page refuses what the server would.
const ID = /^[0-9]{1,18}$/;
const USERNAME = /^[A-Za-z0-9._~!$&'()*+,;=-]{1,64}$/;
const AUTH_KEY = /^[A-Za-z0-9_-]{1,128}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^\[[0-9A-Fa-f:.]{2,45}\]$/;
// ISO 8601 extended format, as Python's datetime.fromisoformat reads it; no offset means UTC.
const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

// The instants a Python datetime holds (years 1 to 9999 in UTC): the server calls anything outside malformed.
const FIRST_MS = -62135596800000; // 0001-01-01T00:00:00Z
const LAST_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

/** Parse an ISO 8601 date-time to epoch milliseconds, or NaN. A value without an offset is UTC. */
export function parseExpireDate(text) {
  const m = ISO_DATETIME.exec(String(text).trim());
  if (!m) return NaN;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return NaN;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  // Not Date.UTC, which reads the years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (date.getUTCDate() !== day) return NaN; // 31 February and friends
  let t = date.getTime();
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offH = Number(digits.slice(0, 2));
    const offM = Number(digits.slice(2) || "0");
    if (offH > 23 || offM > 59) return NaN;
    t -= sign * (offH * 60 + offM) * 60000;
  }
  // 9999-12-31T23:59:59-23:59 and 0001-01-01T00:00:00+01:00 spell instants outside those years: malformed.
  if (t < FIRST_MS || t > LAST_MS) return NaN;
  return t;
}

/** `server` as host[:port] (a name, IPv4 or [IPv6]); returns {host, port} or null. Never empty. */
export function parseServer(text) {
  const m = /^(\[[^\]]*\]|[^:]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return null;
  const [, host, portText] = m;
  if (!(HOSTNAME.test(host) || IPV6.test(host))) return null;
  if (portText !== undefined) {
    const port = Number(portText);
    if (port < 1 || port > 65535) return null;
    return { host, port };
  }
  return { host, port: null };
}

/** An http(s) origin exactly (scheme://host[:port], nothing after), lower-cased; or null. */
export function parseOrigin(text) {
  const m = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(text);
  if (!m) return null;
  const [, scheme, host, port] = m;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return null;
  return `${scheme}://${host}${port !== undefined ? `:${port}` : ""}`.toLowerCase();
}

const BOOL = { true: true, false: false };

/**
 * Validate launch parameters given as [name, value] pairs (URLSearchParams order).
 * Returns {params, problems, expired}: `problems` lists {name, message} for every missing or malformed one;
 * `expired` is true when everything is well formed but expire_date is not in the future.
 */
export function validateParams(entries, now = Date.now()) {
  const values = new Map();
  const problems = [];
  for (const [name, value] of entries) {
    if (!REQUIRED.includes(name) && !OPTIONAL.includes(name)) continue; // CRMs may add their own
    if (values.has(name)) {
      problems.push({ name, message: `${name} is given more than once` });
      continue;
    }
    values.set(name, value);
  }
  for (const name of REQUIRED) {
    if (!values.has(name) || values.get(name).trim() === "") {
      problems.push({ name, message: `${name} is missing` });
    }
  }
  const params = {};
  const check = (name, ok, message, convert = (v) => v) => {
    if (!values.has(name) || (values.get(name).trim() === "" && REQUIRED.includes(name))) return;
    const value = values.get(name);
    if (ok(value)) params[name] = convert(value);
    else problems.push({ name, message });
  };
  check("auth_key", (v) => AUTH_KEY.test(v), "auth_key is malformed (letters, digits, - and _ only)");
  check("server", (v) => parseServer(v) !== null,
    "server must be the service's host name or address, with an optional :port");
  check("turn_port", (v) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535,
    "turn_port must be a port number from 1 to 65535", Number);
  // customer_id/user_id travel as given: the server reads them as the numbers the auth_key signs.
  check("customer_id", (v) => ID.test(v), "customer_id must be a whole number");
  check("user_id", (v) => ID.test(v), "user_id must be a whole number");
  check("username", (v) => USERNAME.test(v),
    "username must be 1 to 64 letters, digits or . _ ~ ! $ & ' ( ) * + , ; = -");
  check("password", (v) => v.length > 0 && v.length <= 256, "password must be 1 to 256 characters");
  check("expire_date", (v) => Number.isFinite(parseExpireDate(v)),
    "expire_date must be an ISO 8601 date-time such as 2026-12-01T17:00:00+02:00");
  check("debug_console", (v) => v.toLowerCase() in BOOL, "debug_console must be true or false",
    (v) => BOOL[v.toLowerCase()]);
  check("debug_html", (v) => v.toLowerCase() in BOOL, "debug_html must be true or false",
    (v) => BOOL[v.toLowerCase()]);
  check("crm_origin", (v) => parseOrigin(v) !== null,
    "crm_origin must be an origin such as https://crm.example.com", parseOrigin);
  params.debug_console ??= false;
  params.debug_html ??= false;
  params.crm_origin ??= null;
  if (problems.length === 0) params.expiresAt = parseExpireDate(params.expire_date);
  const expired = problems.length === 0 && params.expiresAt <= now;
  return { params, problems, expired };
}

/**
 * The server must be the host this page came from: its Content-Security-Policy allows connections only there.
 * Returns null when it is, else a message naming the page's own address.
 */
export function serverMismatch(server, location) {
  const parsed = parseServer(server);
  if (!parsed) return null;
  const secure = location.protocol === "https:";
  const defaultPort = secure ? 443 : 80;
  const norm = (host, port) => `${host.toLowerCase()}:${port ?? defaultPort}`;
  const own = parseServer(location.host);
  if (!own) return null;
  if (norm(parsed.host, parsed.port) === norm(own.host, own.port)) return null;
  return `server must be the address this page was loaded from (${location.host}), not ${server}`;
}

/** The query string for /ws and /webphone/turn-credentials: the session's signed fields and nothing else. */
export function sessionQuery(params) {
  const q = new URLSearchParams();
  for (const name of ["auth_key", "customer_id", "user_id", "username", "expire_date"]) q.set(name, params[name]);
  return q.toString();
}

/**
 * Read the launch parameters at the edge: from the query if there is one (then remove it from the address bar
 * and keep it in sessionStorage), else from sessionStorage (a reload in the same tab). Returns URL entries.
 */
export function readLaunchParams(win = window) {
  const query = win.location.search;
  if (query && query !== "?") {
    const entries = [...new URLSearchParams(query)];
    try {
      win.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(entries));
    } catch {
      // Storage may be disabled (privacy mode, sandboxed frame): a reload then needs the full URL again.
    }
    win.history.replaceState(win.history.state, "", win.location.pathname + win.location.hash);
    return { entries, from: "url" };
  }
  try {
    const saved = JSON.parse(win.sessionStorage.getItem(STORAGE_KEY) || "null");
    if (Array.isArray(saved)) return { entries: saved, from: "session" };
  } catch {
    // Unreadable storage counts as nothing saved.
  }
  return { entries: [], from: "none" };
}
