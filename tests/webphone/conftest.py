"""Fixtures for the webphone's browser tests: the real app on a free port, Debian's Chromium, launch URLs.

Each agent gets a browser context of its own (its own sessionStorage and localStorage, like a separate
browser), a fresh numeric username (so no test sees another's registrations) and a URL minted by the same
code as `python -m service webphone-url`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Error as PlaywrightError, Page, async_playwright

from devstack import chromium
from service.app import create_app
from service.config import Settings
from service.sip_proxy.links import webphone_url
from tools.sipload import agents

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
class Service:
    server: TestServer
    settings: Settings
    turn_port: int
    password_secret: str

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def url(self, username: str | None = None, *, expires_in: float = 3600, expire_date: str | None = None,
            password: str | None = None, base: str | None = None, **options: Any) -> str:
        """A launch URL for `username` (fresh if None), as Service Delivery would hand it out."""
        username = username or new_username()
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


@pytest.fixture
async def service(webphone_settings: Settings, stack_env: dict[str, str]) -> AsyncIterator[Service]:
    server = TestServer(create_app(webphone_settings), host="127.0.0.1", port=None)
    await server.start_server()
    try:
        yield Service(server, webphone_settings, webphone_settings.turn_port,
                      agents.agent_secret(stack_env["AUTH_KEY_SECRET"]))
    finally:
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class PhonePage:
    """One agent's webphone tab, with what it opened and what went wrong recorded."""

    page: Page
    websockets: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def state(self) -> str:
        return await self.page.evaluate("document.body.dataset.phoneState")

    async def wait_state(self, state: str, timeout: float = 15) -> None:
        try:
            await self.page.wait_for_function("s => document.body.dataset.phoneState === s", arg=state,
                                              timeout=timeout * 1000)
        except PlaywrightError:
            raise AssertionError(f"expected {state!r}, the phone shows {await self.state()!r}; "
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


@pytest.fixture
async def open_phone(browser: Browser) -> AsyncIterator[OpenPhone]:
    """`await open_phone(url)`: a new agent (own context) with the page loaded."""

    async def open_(url: str, *, width: int = 1280, height: int = 900, zoom: float = 1,
                    bypass_csp: bool = False, init_script: str | None = None,
                    permissions: list[str] | None = None) -> PhonePage:
        # Browser zoom of `zoom` is a CSS viewport `zoom` times smaller drawn with `zoom` device pixels each.
        context = await browser.new_context(viewport={"width": round(width / zoom), "height": round(height / zoom)},
                                            device_scale_factor=zoom, bypass_csp=bypass_csp)
        if permissions:
            await context.grant_permissions(permissions, origin=url.split("/TForge")[0])
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        phone = PhonePage(page)
        page.on("websocket", lambda ws: phone.websockets.append(ws.url))
        page.on("request", lambda request: phone.requests.append(request.url))
        page.on("pageerror", lambda error: phone.errors.append(str(error)))
        await page.goto(url)
        return phone

    yield open_


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


async def growth(phone: PhonePage, key: str, seconds: float = 1.0) -> float:
    """How much a stats counter grows over `seconds`."""
    before = (await phone.stats())[key]
    await asyncio.sleep(seconds)
    return (await phone.stats())[key] - before


def save_screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
