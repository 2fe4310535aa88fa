"""Fixtures for the webphone's browser tests: the real app on a free port, Debian's Chromium (and Firefox ESR,
see firefox.py), launch URLs.

Each agent gets a browser context of its own (its own sessionStorage and localStorage, like a separate
browser), a fresh numeric username (so no test sees another's registrations) and a URL minted by the same
code as `python -m service webphone-url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Error as PlaywrightError, Page, async_playwright

from devstack import chromium
from service.app import create_app
from service.config import Settings, load_settings
from service.sip_proxy.links import webphone_url
from tests.own_kamailio import OwnKamailio
from tools.sipload import agents

from .firefox import Firefox, FirefoxError, FirefoxPage

CHROMIUM, CHROMIUM_ARGS = chromium.EXECUTABLE, chromium.ARGS
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def iso_in(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def new_username() -> str:
    return str(800000 + secrets.randbelow(199999))


@pytest.fixture
def webphone_settings(stack_env: dict[str, str], make_settings) -> Settings:
    # Media only through coturn: the tests prove the relay path, not a lucky direct one.
    return make_settings(stack_env, ice_transport_policy="relay")


@dataclass
class Launcher:
    """Mints launch URLs for a service at `base`; fresh usernames come from `new_username` (a PBX that knows only
    configured agents, like Asterisk, hands out names from its pool)."""

    settings: Settings
    turn_port: int
    password_secret: str
    new_username: Callable[[], str] = field(default_factory=lambda: new_username, kw_only=True)

    @property
    def base(self) -> str:
        raise NotImplementedError

    def url(self, username: str | None = None, *, expires_in: float = 3600, expire_date: str | None = None,
            password: str | None = None, base: str | None = None, **options: Any) -> str:
        """A launch URL for `username` (fresh if None), as Service Delivery would hand it out."""
        username = username or self.new_username()
        return webphone_url(
            secret=self.settings.auth_key_secret,
            base_url=base or self.base,
            customer_id=1,
            user_id=int(username),
            username=username,
            password=password or agents.agent_password(self.password_secret, username),
            expire_date=expire_date or iso_in(expires_in),
            turn_port=self.turn_port,
            **options,
        )


@dataclass
class Service(Launcher):
    """The app in this process (aiohttp's TestServer) on a free port."""

    server: TestServer = field(kw_only=True)

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def service(webphone_settings: Settings, stack_env: dict[str, str]) -> AsyncIterator[Service]:
    server = TestServer(create_app(webphone_settings), host="127.0.0.1", port=None)
    await server.start_server()
    try:
        yield Service(webphone_settings, webphone_settings.turn_port,
                      agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), server=server)
    finally:
        await server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess(Launcher):
    """`python -m service serve` as a process of its own on a port of its own, so it can really be killed."""

    def __init__(self, stack_env: dict[str, str], upstream: str | None = None, *, port: int | None = None,
                 env: dict[str, str] | None = None, usernames: Callable[[], str] = new_username) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **stack_env, "HOST": "127.0.0.1", "PORT": str(self.port),
                    "ICE_TRANSPORT_POLICY": "relay", "TURN_CLI": "", **(env or {})}
        if upstream:
            self.env["SIP_UPSTREAM"] = upstream
        settings = load_settings(self.env)
        super().__init__(settings, settings.turn_port, agents.agent_secret(stack_env["AUTH_KEY_SECRET"]),
                         new_username=usernames)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> subprocess.Popen[bytes]:
        """Start one more process (on the same port) and return once it answers /healthz."""
        proc = await asyncio.to_thread(subprocess.Popen, [sys.executable, "-m", "service", "serve"], env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                assert proc.poll() is None, "the service exited at start-up"
                try:
                    async with session.get(f"{self.base}/healthz") as response:
                        if response.status == 200:
                            return proc
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the service did not answer /healthz within 30 s")

    async def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM one process and wait until it has drained and exited."""
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        self.procs.remove(proc)

    async def kill(self) -> None:
        """SIGKILL every process of it: nothing is closed cleanly."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        self.procs.clear()


@pytest.fixture
async def service_process(stack_env: dict[str, str], own_kamailio: OwnKamailio) -> AsyncIterator[ServiceProcess]:
    """The service in a process of its own (started) before a Kamailio of its own; `.kill()`, `.start()`."""
    service = ServiceProcess(stack_env, upstream=own_kamailio.url)
    await service.start()
    try:
        yield service
    finally:
        await service.kill()


@pytest.fixture
def own_kamailio(stack_env: dict[str, str]) -> Iterator[OwnKamailio]:
    k = OwnKamailio(stack_env)
    k.start()
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
def firefox() -> Iterator[Firefox]:
    """One headless Firefox ESR for the session (each page gets a browser context of its own)."""
    browser = Firefox()
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class PhonePage:
    """One agent's webphone tab, with what it opened and what went wrong recorded.

    `page` is Playwright's (Chromium) or a FirefoxPage, which has the same methods the tests use.
    """

    page: Page | FirefoxPage
    websockets: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    keepalives: int = 0
    """CRLF keep-alives the page has sent (RFC 5626 pings over the WebSocket), over all its connections."""
    keepalive_answers: int = 0
    """Answers to those keep-alives (a bare CRLF, sent by the relay) the page has received, over all its connections."""

    def watch(self, ws: Any) -> None:
        self.websockets.append(ws.url)

        def sent(payload: str | bytes) -> None:
            if payload in ("\r\n\r\n", b"\r\n\r\n"):
                self.keepalives += 1

        def received(payload: str | bytes) -> None:
            if payload in ("\r\n", b"\r\n"):
                self.keepalive_answers += 1
        ws.on("framesent", sent)
        ws.on("framereceived", received)

    async def state(self) -> str:
        return await self.page.evaluate("document.body.dataset.phoneState")

    async def wait_state(self, state: str, timeout: float = 15) -> None:
        try:
            await self.page.wait_for_function("s => document.body.dataset.phoneState === s", arg=state,
                                              timeout=timeout * 1000)
        except (PlaywrightError, FirefoxError):
            shown = await self.state()
            why = f" ({await self.text('#problem')!r})" if shown in ("error", "expired") else ""
            raise AssertionError(f"expected {state!r}, the phone shows {shown!r}{why}; "
                                 f"page errors: {self.errors}") from None

    async def stats(self) -> dict[str, Any]:
        return await self.page.evaluate("OmniSense.phone.stats()")

    async def phone(self, expression: str) -> Any:
        """Evaluate `expression` with `phone` bound to the page's phone object."""
        return await self.page.evaluate(f"(() => {{ const phone = OmniSense.phone; return {expression}; }})()")

    async def text(self, selector: str) -> str:
        return (await self.page.locator(selector).text_content() or "").strip()

    async def press_keys(self, keys: str) -> None:
        for key in keys:
            await self.page.locator(f'#keypad button[data-key="{key}"]').click()


OpenPhone = Callable[..., Awaitable[PhonePage]]


OpenPage = Callable[..., Awaitable["Page | FirefoxPage"]]


@pytest.fixture
async def open_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[OpenPage]:
    """`await open_page()`: an empty page in a browser context of its own, in Chromium (Playwright's Page) or,
    with `engine="firefox"`, in the session's Firefox (a FirefoxPage, closed after the test)."""
    firefox_pages: list[FirefoxPage] = []

    async def open_(*, engine: str = "chromium", width: int = 1280, height: int = 900,
                    init_script: str | None = None) -> Page | FirefoxPage:
        if engine == "firefox":
            assert request.node.get_closest_marker("firefox"), "a test that opens Firefox is marked firefox"
            page = await request.getfixturevalue("firefox").open(width=width, height=height, init_script=init_script)
            firefox_pages.append(page)
            return page
        assert engine == "chromium", engine
        context = await browser.new_context(viewport={"width": width, "height": height})
        if init_script:
            await context.add_init_script(init_script)
        return await context.new_page()

    yield open_
    for page in firefox_pages:
        with contextlib.suppress(FirefoxError):
            await page.close()


@pytest.fixture
async def open_phone(browser: Browser, open_page: OpenPage) -> AsyncIterator[OpenPhone]:
    """`await open_phone(url)`: a new agent (own context) with the page loaded, in Chromium, or in Firefox with
    `engine="firefox"` (there only size and init_script apply: axe runs by evaluation, needing no CSP bypass)."""

    async def open_(url: str, *, width: int = 1280, height: int = 900, zoom: float = 1,
                    bypass_csp: bool = False, init_script: str | None = None,
                    permissions: list[str] | None = None, engine: str = "chromium") -> PhonePage:
        if engine == "firefox":
            assert zoom == 1 and permissions is None, "not done in Firefox here"
            page = await open_page(engine=engine, width=width, height=height, init_script=init_script)
            assert isinstance(page, FirefoxPage)
            await page.goto(url)
            return PhonePage(page, errors=page.errors)
        assert engine == "chromium", engine
        # Browser zoom of `zoom` is a CSS viewport `zoom` times smaller drawn with `zoom` device pixels each.
        context = await browser.new_context(viewport={"width": round(width / zoom), "height": round(height / zoom)},
                                            device_scale_factor=zoom, bypass_csp=bypass_csp)
        if permissions:
            await context.grant_permissions(permissions, origin=url.split("/TForge")[0])
        if init_script:
            await context.add_init_script(init_script)
        chromium_page = await context.new_page()
        phone = PhonePage(chromium_page)
        chromium_page.on("websocket", phone.watch)
        chromium_page.on("request", lambda request: phone.requests.append(request.url))
        chromium_page.on("pageerror", lambda error: phone.errors.append(str(error)))
        await chromium_page.goto(url)
        return phone

    yield open_


ENGINES = ["chromium", pytest.param("firefox", marks=pytest.mark.firefox)]
"""`@pytest.mark.parametrize("engine", ENGINES)`: a test body run in Chromium and again in Firefox."""


async def until(probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], what: str,
                timeout: float = 10, interval: float = 0.25) -> Any:
    """Poll `probe()` until `check(value)`; fail naming `what` and the last value seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: last seen {value!r}")
        await asyncio.sleep(interval)


HEARD = 1e-4
"""Audio energy a second (stats()["audioEnergy"] growth) above which the far end is heard. Measured: Chromium's
fake microphone about 0.3 a second at the far end, Firefox's (much quieter) about 0.01, silence 0."""
SILENT = 1e-6
"""... and below which it hears silence (a muted or held sender)."""


async def growth(phone: PhonePage, key: str, seconds: float = 1.0) -> float:
    """How much a stats counter grows over `seconds`."""
    before = (await phone.stats())[key]
    await asyncio.sleep(seconds)
    return (await phone.stats())[key] - before


async def hang_up_reaches(by: PhonePage, other: PhonePage) -> None:
    """`by` hangs up; both phones are back to registered."""
    await by.page.click("#hangup-button")
    await by.wait_state("registered")
    await other.wait_state("registered", timeout=10)


def save_screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
