"""Webphone: page load to registered, and dial to connected with media through TURN only, in Chromium.

`python -m bench webphone`, or `make bench`. The real service runs in this process on a free port with
ICE_TRANSPORT_POLICY=relay, in front of the local stack's Kamailio and coturn. Times come from the page's own
User Timing marks (`webphone:registered`, `webphone:dial`, `webphone:connected`), so Playwright's overhead is
not counted: "registered" is measured from the start of navigation, "connected" from the Call click to the
caller receiving the answer (the callee auto-answers, so no human delay, but its ICE gathering is included).
"""

from __future__ import annotations

import dataclasses
import statistics
from datetime import UTC, datetime, timedelta

from aiohttp import web
from playwright.async_api import Page, async_playwright

from devstack import __main__ as devstack, chromium
from service.app import create_app
from service.config import load_settings
from service.sip_proxy.links import webphone_url
from tools.sipload import agents

CHROMIUM, CHROMIUM_ARGS = chromium.EXECUTABLE, chromium.ARGS
LOADS = 10
CALLS = 15
TARGET_REGISTERED_MS = 1000
TARGET_CONNECTED_MS = 1500


async def _state(page: Page, state: str) -> None:
    await page.wait_for_function("s => document.body.dataset.phoneState === s", arg=state, timeout=20_000)


async def _mark(page: Page, name: str) -> float:
    return await page.evaluate("n => performance.getEntriesByName(n).at(-1).startTime", name)


def _row(name: str, values: list[float], target: float) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    verdict = "ok" if statistics.median(values) < target else "OVER TARGET"
    return (f"{name:<30} {len(values):>4} {statistics.median(values):>9.0f} {p95:>9.0f} {values[0]:>9.0f} "
            f"{values[-1]:>9.0f} {target:>9.0f}  {verdict}")


async def main() -> dict:
    env = devstack.up()
    settings = dataclasses.replace(load_settings(env), ice_transport_policy="relay")
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]  # the port the OS picked
    base = f"http://127.0.0.1:{port}"
    secret = agents.agent_secret(env["AUTH_KEY_SECRET"])
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def url(username: str) -> str:
        return webphone_url(secret=settings.auth_key_secret, base_url=base, customer_id=1, user_id=int(username),
                            username=username, password=agents.agent_password(secret, username),
                            expire_date=expires, turn_port=settings.turn_port)

    registered: list[float] = []
    connected: list[float] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # Page load to registered: a fresh tab (and context) each time, as an agent opening the link.
                for i in range(LOADS):
                    context = await browser.new_context()
                    page = await context.new_page()
                    await page.goto(url(str(890000 + i)))
                    await _state(page, "registered")
                    registered.append(await _mark(page, "webphone:registered"))
                    await context.close()

                # Dial to connected: A calls B (auto-answer), both through coturn relays only.
                caller, callee = (await browser.new_context(), await browser.new_context())
                a, b = await caller.new_page(), await callee.new_page()
                await a.goto(url("891001"))
                await b.goto(url("891002"))
                await _state(a, "registered")
                await _state(b, "registered")
                await b.click("details#settings summary")
                await b.check("#auto-answer")
                for _ in range(CALLS):
                    await a.fill("#number", "891002")
                    await a.click("#call-button")
                    await _state(a, "in-call")
                    connected.append(await _mark(a, "webphone:connected") - await _mark(a, "webphone:dial"))
                    # Media checks finish just after the answer: wait for the selected pair, then insist on TURN.
                    await a.wait_for_function("async () => (await OmniSense.phone.stats())?.localCandidateType",
                                              timeout=10_000)
                    pair = await a.evaluate("OmniSense.phone.stats()")
                    if pair["localCandidateType"] != "relay":
                        raise RuntimeError(f"the call did not go through TURN: {pair}")
                    await a.click("#hangup-button")
                    await _state(a, "registered")
                    await _state(b, "registered")
            finally:
                await browser.close()
    finally:
        await runner.cleanup()

    print(f"Chromium {CHROMIUM}, service on {base}, ICE_TRANSPORT_POLICY=relay (coturn), Kamailio upstream")
    print(f"{'measure (ms)':<30} {'n':>4} {'median':>9} {'p95':>9} {'min':>9} {'max':>9} {'target':>9}")
    print(_row("page load -> registered", registered, TARGET_REGISTERED_MS))
    print(_row("dial -> connected (TURN)", connected, TARGET_CONNECTED_MS))
    return {"page_load_to_registered_ms": _stats(registered, TARGET_REGISTERED_MS),
            "dial_to_connected_ms": _stats(connected, TARGET_CONNECTED_MS)}


def _stats(values: list[float], target: float) -> dict:
    values = sorted(values)
    return {"n": len(values), "median": round(statistics.median(values), 1),
            "p95": round(values[min(len(values) - 1, round(0.95 * (len(values) - 1)))], 1),
            "min": round(values[0], 1), "max": round(values[-1], 1), "target": target}
