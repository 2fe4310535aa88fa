// Page and SIP.js logs for debug_console / debug_html. Every line passes through `redact` first, so the
// password and the auth_key never reach the console or the page, whatever SIP.js decides to print.

const LEVELS = ["error", "warn", "log", "debug"];
const MAX_LINES = 2000;

/** Replace every secret (as given, URL-encoded, or as a query/JSON field) with [redacted]. Pure. */
export function redact(text, secrets) {
  let out = String(text);
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ x: secret }).toString().slice(2)])) {
      out = out.split(form).join("[redacted]");
    }
  }
  // Belt and braces: any auth_key or password field, whatever its value.
  return out
    .replace(/(auth_key|password)=([^&\s"'#]+)/gi, "$1=[redacted]")
    .replace(/("(?:auth_key|password)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"[redacted]"');
}

export class Logger {
  constructor({ toConsole = false, panel = null, secrets = [] } = {}) {
    this.toConsole = toConsole;
    this.panel = panel;
    this.secrets = secrets.filter(Boolean);
    this.lines = 0;
  }

  get enabled() {
    return this.toConsole || this.panel !== null;
  }

  write(level, category, message) {
    if (!this.enabled) return;
    const line = redact(`${new Date().toISOString().slice(11, 23)} ${level.padEnd(5)} ${category} | ${message}`,
      this.secrets);
    if (this.toConsole) {
      const fn = console[level === "debug" ? "debug" : level] || console.log;
      fn.call(console, line);
    }
    if (this.panel) {
      this.panel.append(`${line}\n`);
      if (++this.lines > MAX_LINES) {
        this.panel.textContent = this.panel.textContent.split("\n").slice(-MAX_LINES / 2).join("\n");
        this.lines = MAX_LINES / 2;
      }
      this.panel.scrollTop = this.panel.scrollHeight;
    }
  }

  error(message) { this.write("error", "page", message); }
  warn(message) { this.write("warn", "page", message); }
  info(message) { this.write("log", "page", message); }

  /** The `log` option of SIP.UA: SIP.js's own lines through the same redaction. */
  sipJsOptions() {
    return {
      builtinEnabled: false,
      level: this.enabled ? "debug" : "error",
      connector: (level, category, label, content) => {
        const text = typeof content === "string" ? content : safeString(content);
        this.write(LEVELS[level] ?? "log", label ? `${category}|${label}` : category, text);
      },
    };
  }
}

function safeString(value) {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
