"""Debian's Firefox ESR for the browser tests, through firefox_driver.mjs (puppeteer-core over WebDriver BiDi).

`Firefox` is the one browser process (a session's); `FirefoxPage` is one page in a context of its own, with the
part of Playwright's `Page` the tests use (goto, evaluate, wait_for_function, click, fill, keyboard.press,
locator(...).text_content, screenshot), so a test body can drive either browser. The driver answers on a thread
of its own and each answer is handed to the event loop that asked, so one Firefox serves every test's loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack import firefox

DRIVER = Path(__file__).with_name("firefox_driver.mjs")
ROOT = Path(__file__).resolve().parents[2]


class FirefoxError(Exception):
    """An operation the driver (or Firefox) refused or that timed out."""


class Firefox:
    """One headless Firefox ESR driven over WebDriver BiDi; `open()` a page, `close()` at the end."""

    def __init__(self) -> None:
        options = {"executable": firefox.EXECUTABLE, "prefs": firefox.PREFS}
        self.proc = subprocess.Popen(["node", str(DRIVER), json.dumps(options)], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.page_errors: dict[int, Callable[[str], None]] = {}
        self.lock = threading.Lock()
        ready = self.proc.stdout.readline() if self.proc.stdout else ""
        if not ready:
            raise FirefoxError("the Firefox driver exited at start-up")
        self.version = json.loads(ready)["version"]
        threading.Thread(target=self.read, daemon=True, name="firefox-driver").start()

    def read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            message = json.loads(line)
            if message.get("event") == "pageerror":
                handler = self.page_errors.get(message["page"])
                if handler:
                    handler(message["message"])
                continue
            with self.lock:
                future = self.waiting.pop(message["id"], None)
            if future is not None:
                future.get_loop().call_soon_threadsafe(settle, future, message)
        with self.lock:
            for future in self.waiting.values():
                future.get_loop().call_soon_threadsafe(settle, future, {"error": "the Firefox driver exited"})
            self.waiting.clear()

    async def call(self, op: str, **args: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        request_id = next(self.ids)
        with self.lock:
            self.waiting[request_id] = future
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps({"id": request_id, "op": op, "args": args}) + "\n")
        return await future

    async def open(self, *, width: int = 1280, height: int = 900, init_script: str | None = None) -> FirefoxPage:
        """A page in a context of its own; `init_script` runs in every document before the page's own scripts."""
        page = FirefoxPage(self, await self.call("open", width=width, height=height, initScript=init_script))
        self.page_errors[page.id] = page.errors.append
        return page

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def settle(future: asyncio.Future[Any], message: dict[str, Any]) -> None:
    if future.done():
        return
    if "error" in message:
        future.set_exception(FirefoxError(message["error"]))
    else:
        future.set_result(message["value"])


class FirefoxPage:
    """One Firefox page, in a browser context of its own (storage apart from every other page's)."""

    def __init__(self, browser: Firefox, page_id: int, frame: str | None = None) -> None:
        self.browser, self.id, self.frame_url = browser, page_id, frame
        self.errors: list[str] = []
        self.keyboard = Keyboard(self)
        self.context = Context(self)

    async def call(self, op: str, **args: Any) -> Any:
        if self.frame_url is not None:
            args["frame"] = self.frame_url
        return await self.browser.call(op, page=self.id, **args)

    def frame(self, url_prefix: str) -> FirefoxPage:
        """The frame in this page whose URL starts with `url_prefix` (evaluate and wait in it)."""
        return FirefoxPage(self.browser, self.id, url_prefix)

    async def goto(self, url: str) -> None:
        await self.call("goto", url=url)

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        return await self.call("evaluate", expression=expression, arg=arg)

    async def wait_for_function(self, expression: str, *, arg: Any = None, timeout: float = 30000) -> Any:
        return await self.call("waitFor", expression=expression, arg=arg, timeout=timeout)

    async def click(self, selector: str) -> None:
        await self.call("click", selector=selector)

    async def fill(self, selector: str, value: str) -> None:
        await self.call("fill", selector=selector, value=value)

    async def eval_on_selector(self, selector: str, expression: str, arg: Any = None) -> Any:
        """`expression` (a function's source) called with the first element `selector` finds, and `arg`."""
        return await self.evaluate(f"([s, arg]) => ({expression})(document.querySelector(s), arg)", [selector, arg])

    async def input_value(self, selector: str) -> str:
        return str(await self.evaluate("(s) => document.querySelector(s).value", selector))

    async def get_attribute(self, selector: str, name: str) -> str | None:
        value = await self.evaluate("([s, n]) => document.querySelector(s).getAttribute(n)", [selector, name])
        return None if value is None else str(value)

    async def is_visible(self, selector: str) -> bool:
        return bool(await self.evaluate("(s) => !!document.querySelector(s)?.checkVisibility()", selector))

    async def add_script_tag(self, *, path: str) -> None:
        """Run the script at `path` in the page (evaluated by the browser, so the page's CSP does not apply)."""
        await self.call("script", source=await asyncio.to_thread(Path(path).read_text))

    async def screenshot(self, *, path: str) -> None:
        await self.call("screenshot", path=path)

    def locator(self, selector: str) -> Locator:
        return Locator(self, selector)

    async def close(self) -> None:
        self.browser.page_errors.pop(self.id, None)
        await self.call("close")


class Locator:
    def __init__(self, page: FirefoxPage, selector: str) -> None:
        self.page, self.selector = page, selector

    async def text_content(self) -> str | None:
        value = await self.page.evaluate("(s) => document.querySelector(s)?.textContent ?? null", self.selector)
        return None if value is None else str(value)

    async def click(self) -> None:
        await self.page.click(self.selector)

    async def bounding_box(self) -> dict[str, float] | None:
        """The element's box in CSS pixels of the viewport, or None when it is not shown."""
        found: dict[str, float] | None = await self.page.eval_on_selector(self.selector, """(el) => {
            const r = el.getBoundingClientRect();
            return r.width || r.height ? { x: r.x, y: r.y, width: r.width, height: r.height } : null;
        }""")
        return found


class Keyboard:
    def __init__(self, page: FirefoxPage) -> None:
        self.page = page

    async def press(self, key: str) -> None:
        await self.page.call("press", key=key)


class Context:
    """The page's browser context (one per page here)."""

    def __init__(self, page: FirefoxPage) -> None:
        self.page = page

    async def close(self) -> None:
        await self.page.close()
