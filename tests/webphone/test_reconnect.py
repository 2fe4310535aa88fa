"""Staying connected: Kamailio restarted under a registered page; the browser coming back online."""

from __future__ import annotations

import asyncio
import re

import pytest

from devstack import kamailio

from .conftest import until

pytestmark = [pytest.mark.stack, pytest.mark.browser]


def backoffs(log: str) -> list[float]:
    """The delays the watchdog announced ("reconnecting in 2.1 s")."""
    return [float(x) for x in re.findall(r"reconnecting in ([0-9.]+) s", log)]


async def test_the_page_reconnects_and_reregisters_after_kamailio_restarts(service, open_phone, stack_env) -> None:
    a_url, b_url = service.url(debug_html=True), service.url()
    a = await open_phone(a_url)
    b = await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    sockets_before = len(a.websockets)
    await a.page.evaluate("""() => {
        window.__registered = 0;
        OmniSense.phone.addEventListener('registered', () => window.__registered++);
    }""")

    async def sockets() -> int:
        return len(a.websockets)
    try:
        await asyncio.to_thread(kamailio.stop)
        # The relay closes the page's WebSocket (1013); the page says so and keeps trying on its own.
        await a.wait_state("reconnecting")
        assert await a.text("#status-text") == "Reconnecting…"
        await until(sockets, lambda n: n >= sockets_before + 2,
                    "further connection attempts while Kamailio is down")
    finally:
        await asyncio.to_thread(kamailio.start, stack_env)  # running again whatever happened above
    await a.wait_state("registered", timeout=30)
    await b.wait_state("registered", timeout=30)
    assert await a.page.evaluate("window.__registered") == 1

    # Kamailio forgot every binding when it stopped: calling A proves A registered again.
    await b.page.fill("#number", await a.phone("phone.params.username"))
    await b.page.click("#call-button")
    await a.wait_state("ringing")
    await a.page.click("#reject-button")
    await b.wait_state("registered")
    assert "reconnecting in" in await a.text("#debug-log")


async def test_the_browser_coming_back_online_retries_at_once(service, open_phone, stack_env) -> None:
    a = await open_phone(service.url(debug_html=True))
    await a.wait_state("registered")
    try:
        await asyncio.to_thread(kamailio.stop)
        await a.wait_state("reconnecting")
        # Let the back-off grow past a few seconds, so a prompt reconnect can only come from `online`.
        await until(lambda: a.text("#debug-log"), lambda log: max(backoffs(log), default=0) >= 3,
                    "the back-off growing", timeout=20)
    finally:
        await asyncio.to_thread(kamailio.start, stack_env)
    await a.page.context.set_offline(True)
    await a.page.context.set_offline(False)
    await a.wait_state("registered", timeout=30)
    log = await a.text("#debug-log")
    assert "reconnecting now (the browser is back online)" in log
