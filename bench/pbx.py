"""Call set-up through rtpengine to the plain SIP phone: dial to connected, in Chromium.

`python -m bench pbx`, or `make bench`. The real service runs in this process on a free port in front of the
local stack's Kamailio; the webphone dials baresip (PHONE_NUMBER, auto-answer, UDP, PCMU), so every call
crosses rtpengine (ICE and DTLS-SRTP on the browser's side, plain RTP on the phone's). Times are the page's
own User Timing marks, from the Call click (`webphone:dial`) to the answer (`webphone:connected`): Kamailio,
rtpengine's offer and answer, baresip's answer, and the browser's SDP handling, without Playwright's overhead.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from aiohttp import web
from playwright.async_api import Page, async_playwright

from devstack import __main__ as devstack, baresip, chromium
from service.app import create_app
from service.config import load_settings
from service.sip_proxy.links import webphone_url
from tools.sipload import agents

CALLS = 20
TARGET_CONNECTED_MS = 500


async def _state(page: Page, state: str) -> None:
    await page.wait_for_function("s => document.body.dataset.phoneState === s", arg=state, timeout=20_000)


async def _mark(page: Page, name: str) -> float:
    return await page.evaluate("n => performance.getEntriesByName(n).at(-1).startTime", name)


async def main() -> dict[str, object]:
    env = devstack.up()
    settings = load_settings(env)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]  # the port the OS picked
    username = "892001"
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = webphone_url(secret=settings.auth_key_secret, base_url=f"http://127.0.0.1:{port}", customer_id=1,
                       user_id=int(username), username=username,
                       password=agents.agent_password(agents.agent_secret(env["AUTH_KEY_SECRET"]), username),
                       expire_date=expires, turn_port=int(env.get("TURN_PORT") or 3478))
    connected: list[float] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium.EXECUTABLE, args=chromium.ARGS)
            try:
                page = await (await browser.new_context()).new_page()
                await page.goto(url)
                await _state(page, "registered")
                for _ in range(CALLS):
                    await page.fill("#number", baresip.PHONE_NUMBER)
                    await page.click("#call-button")
                    await _state(page, "in-call")
                    connected.append(await _mark(page, "webphone:connected") - await _mark(page, "webphone:dial"))
                    # The bridge must carry media, or the figure means nothing.
                    await page.wait_for_function(
                        "async () => ((await OmniSense.phone.stats())?.packetsReceived ?? 0) > 10", timeout=10_000)
                    await page.click("#hangup-button")
                    await _state(page, "registered")
            finally:
                await browser.close()
    finally:
        await runner.cleanup()

    values = sorted(connected)
    median = statistics.median(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    verdict = "ok" if median <= TARGET_CONNECTED_MS else "OVER TARGET"
    print("webphone -> Kamailio -> rtpengine -> baresip (plain RTP, PCMU), Chromium, this machine's loopback")
    print(f"{'measure (ms)':<34} {'n':>4} {'median':>9} {'p95':>9} {'min':>9} {'max':>9} {'target':>9}")
    print(f"{'dial -> connected (rtpengine)':<34} {len(values):>4} {median:>9.0f} {p95:>9.0f} {values[0]:>9.0f} "
          f"{values[-1]:>9.0f} {TARGET_CONNECTED_MS:>9}  {verdict}")
    return {"dial_to_connected_ms": {"n": len(values), "median": round(median, 1), "p95": round(p95, 1),
                                     "min": round(values[0], 1), "max": round(values[-1], 1),
                                     "target": TARGET_CONNECTED_MS}}
