// Debian's Firefox ESR for the Python browser tests: headless, over WebDriver BiDi (puppeteer-core, which never
// downloads a browser). One request per line on stdin, one answer per line on stdout (JSON):
//   {"id": 1, "op": "open", "args": {...}}  ->  {"id": 1, "value": ...}  or  {"id": 1, "error": "..."}
// and, unasked, {"event": "pageerror", "page": 3, "message": "..."} for an uncaught error in a page.
// Each page gets a browser context of its own (its own storage, like another browser profile); one Firefox
// serves them all. The Python side is tests/webphone/firefox.py.
//
//   node tests/webphone/firefox_driver.mjs '<json of launch options>'

import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const launch = JSON.parse(process.argv[2] ?? "{}");
const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: launch.executable,
  headless: true,
  extraPrefsFirefox: launch.prefs ?? {},
});
const pages = new Map();
let nextPage = 1;

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function pageOf(args) {
  const page = pages.get(args.page);
  if (!page) throw new Error(`no page ${args.page}`);
  if (args.frame === undefined) return page;
  const frame = page.frames().find((f) => f.url().startsWith(args.frame));
  if (!frame) throw new Error(`no frame at ${args.frame} in ${page.frames().map((f) => f.url())}`);
  return frame;
}

// The expression as Playwright takes it: a function's source is called with `arg`, anything else is the value.
// It is evaluated by the browser's script module, so the page's Content-Security-Policy does not apply.
const evaluation = (expression, arg) =>
  `(async () => { const v = (${expression}\n); return typeof v === "function" ? await v(${JSON.stringify(arg ?? null)}) : await v; })()`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ops = {
  async open({ width = 1280, height = 900, initScript = null }) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width, height });
    if (initScript) await page.evaluateOnNewDocument(initScript);
    const id = nextPage++;
    page.on("pageerror", (error) => send({ event: "pageerror", page: id, message: String(error?.message ?? error) }));
    pages.set(id, page);
    return id;
  },
  async goto(args) {
    await pageOf(args).goto(args.url);
    return null;
  },
  async evaluate(args) {
    return (await pageOf(args).evaluate(evaluation(args.expression, args.arg))) ?? null;
  },
  async script(args) {
    await pageOf(args).evaluate(args.source); // a whole script (statements), such as axe.min.js
    return null;
  },
  async waitFor(args) {
    const target = pageOf(args);
    const deadline = Date.now() + args.timeout;
    for (;;) {
      const value = await target.evaluate(evaluation(args.expression, args.arg));
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${args.timeout} ms waiting for ${args.expression}`);
      await sleep(100);
    }
  },
  async click(args) {
    await pageOf(args).locator(args.selector).click();
    return null;
  },
  async fill(args) {
    await pageOf(args).locator(args.selector).fill(args.value);
    return null;
  },
  async press(args) {
    await pageOf(args).keyboard.press(args.key);
    return null;
  },
  async screenshot(args) {
    await pageOf(args).screenshot({ path: args.path });
    return null;
  },
  async close(args) {
    const page = pageOf(args);
    pages.delete(args.page);
    await page.browserContext().close();
    return null;
  },
};

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const { id, op, args } = JSON.parse(line);
  try {
    if (!(op in ops)) throw new Error(`unknown op ${op}`);
    send({ id, value: await ops[op](args ?? {}) });
  } catch (error) {
    send({ id, error: String(error?.message ?? error) });
  }
});
lines.on("close", async () => {
  await browser.close();
  process.exit(0);
});
send({ event: "ready", version: await browser.version() });
