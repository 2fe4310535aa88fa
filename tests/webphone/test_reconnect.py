"""Staying connected: Kamailio restarted under a registered page; the browser coming back online; calls that
outlive a lost connection or end when they cannot; keep-alives; a full phone system."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from devstack import kamailio
from service.app import create_app
from tools.sipload import agents

from ..sip_proxy.helpers import full_pbx
from .conftest import ENGINES, PhonePage, Service, ServiceProcess, growth, hang_up_reaches, until

pytestmark = [pytest.mark.stack, pytest.mark.browser]


CALL_JS = Path(__file__).resolve().parents[2] / "static/js/call.js"
QUALITY_INTERVAL_S = int(re.findall(r"QUALITY_INTERVAL_MS = (\d+)", CALL_JS.read_text())[0]) / 1000
"""How often a call samples its quality (static/js/call.js)."""


def backoffs(log: str) -> list[float]:
    """The delays the watchdog announced ("reconnecting in 2.1 s")."""
    return [float(x) for x in re.findall(r"reconnecting in ([0-9.]+) s", log)]


@pytest.mark.alone
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


@pytest.mark.alone
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


# ---- calls that outlive a lost connection ------------------------------------------------------------------

WATCH = """() => {
    window.__states = [];
    window.__links = [];
    window.__refreshed = [];
    const phone = OmniSense.phone;
    new MutationObserver(() => window.__states.push(document.body.dataset.phoneState))
        .observe(document.body, { attributes: true, attributeFilter: ['data-phone-state'] });
    phone.addEventListener('link', (e) => window.__links.push(e.detail.up));
    phone.addEventListener('refreshed', (e) => window.__refreshed.push(e.detail.outcome));
}"""


async def call_between(a: PhonePage, b: PhonePage) -> None:
    """A calls B, B answers; both watch their state, link and refreshes from then on."""
    await a.wait_state("registered")
    await b.wait_state("registered")
    await a.page.fill("#number", await b.phone("phone.params.username"))
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    await b.page.click("#answer-button")
    await a.wait_state("in-call")
    await b.wait_state("in-call")
    for p in (a, b):
        # Answered is not yet flowing (ICE and DTLS finish after the 200): wait for the media, then watch.
        await until(lambda: growth(p, "packetsReceived", 0.5), lambda n: n > 0, "audio before the loss")  # noqa: B023
        await p.page.evaluate(WATCH)


async def link_down(p: PhonePage) -> None:
    await p.page.wait_for_function("() => document.body.dataset.link === 'down'", timeout=15000)


async def refreshed(p: PhonePage, timeout: float = 30) -> None:
    try:
        await until(lambda: p.page.evaluate("window.__refreshed"), lambda r: "refreshed" in r,
                    "the call refreshed over the new connection", timeout=timeout)
    except AssertionError as error:
        log = await p.page.evaluate("document.querySelector('#debug-log')?.innerText ?? ''")
        lines = [line for line in log.splitlines() if re.match(r"\d\d:\d\d:\d\d\.\d+ \w+ +page \|", line)]
        raise AssertionError(f"{error}; the page's log: {lines[-40:]}") from None
    assert await p.page.evaluate("document.body.dataset.link") == "up"


async def survived(p: PhonePage) -> None:
    """The call stayed up throughout: never another state, audio still arriving, the link lost and back."""
    assert await p.page.evaluate("window.__states.filter(s => s !== 'in-call')") == []
    assert await p.state() == "in-call"
    assert await growth(p, "packetsReceived", 1.0) > 20
    assert await p.page.evaluate("window.__links") == [False, True]
    # Quality is sampled every 5 s from the call's own getStats, and shown; a refresh sooner than that comes
    # before the first sample, so wait for it.
    quality = await until(lambda: p.phone("phone.call.quality"), lambda q: q is not None,
                          "the call's first quality sample", timeout=QUALITY_INTERVAL_S + 5)
    assert quality["mos"] > 3.5 and quality["loss"] < 5, quality
    assert "Quality" in await p.text("#call-flags")


async def survives_a_kill(service: ServiceProcess, a: PhonePage, b: PhonePage) -> None:
    """With A and B in a call: the service SIGKILLed, then started again. Both pages refresh the call over their
    new connections, it stays up throughout, and B's hang-up reaches A over A's new connection."""
    await service.kill()
    await link_down(a)
    await link_down(b)
    # Media goes through coturn (and the PBX), not the service: it keeps flowing while there is no signalling.
    assert await growth(a, "packetsReceived", 1.0) > 20
    assert await a.phone("phone.state") == "in-call"
    await service.start()
    await refreshed(a)
    await refreshed(b)
    await survived(a)
    await survived(b)
    await hang_up_reaches(b, a)


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_call_survives_the_service_killed_and_restarted(service_process, open_phone, engine) -> None:
    a = await open_phone(service_process.url(debug_html=True), engine=engine)
    b = await open_phone(service_process.url(debug_html=True))
    await call_between(a, b)
    await survives_a_kill(service_process, a, b)


async def test_a_call_survives_a_rolling_restart_of_the_service(service_process, open_phone) -> None:
    a = await open_phone(service_process.url(debug_html=True))
    b = await open_phone(service_process.url(debug_html=True))
    await call_between(a, b)
    [old] = service_process.procs
    await service_process.start()  # the new instance listens on the same port (SO_REUSEPORT)
    await service_process.terminate(old)  # the old one drains: its sessions close with 1001
    await refreshed(a)
    await refreshed(b)
    await survived(a)
    await survived(b)
    await hang_up_reaches(a, b)


async def test_a_call_survives_the_browser_offline_for_20_s(service, open_phone) -> None:
    a = await open_phone(service.url(debug_html=True))
    b = await open_phone(service.url(debug_html=True))
    await call_between(a, b)
    await a.page.context.set_offline(True)
    try:
        await link_down(a)
        # 20 s without signalling: the call is kept (the window ends on the clock, not on an event).
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            assert await a.state() == "in-call"
            await asyncio.sleep(1)
    finally:
        await a.page.context.set_offline(False)
    await refreshed(a)
    await survived(a)
    assert await b.page.evaluate("window.__states.filter(s => s !== 'in-call')") == []
    await hang_up_reaches(b, a)


async def test_the_far_end_hanging_up_meanwhile_ends_the_call_as_connection_lost(service, open_phone) -> None:
    a = await open_phone(service.url(debug_html=True))
    b = await open_phone(service.url(debug_html=True))
    await call_between(a, b)
    await a.page.evaluate("""() => { window.__ended = null;
        OmniSense.phone.addEventListener('ended', (e) => { window.__ended = e.detail.cause; }); }""")
    await a.page.context.set_offline(True)
    try:
        await link_down(a)
        await b.page.click("#hangup-button")  # the BYE cannot reach A
        await b.wait_state("registered")
        assert await a.state() == "in-call"
    finally:
        await a.page.context.set_offline(False)
    await a.wait_state("registered", timeout=30)
    assert await a.page.evaluate("window.__ended") == "Connection lost"
    assert await a.page.evaluate("window.__refreshed") == ["gone"]


async def test_a_call_survives_kamailio_restarted(service_process, own_kamailio, open_phone) -> None:
    # The test's own Kamailio (same config as the stack's), so the shared one keeps running.
    a = await open_phone(service_process.url(debug_html=True))
    b = await open_phone(service_process.url(debug_html=True))
    await call_between(a, b)
    await asyncio.to_thread(own_kamailio.stop)
    await link_down(a)
    await link_down(b)
    assert await growth(b, "packetsReceived", 1.0) > 20
    await asyncio.to_thread(own_kamailio.start)
    await refreshed(a)
    await refreshed(b)
    await survived(a)
    await survived(b)
    await hang_up_reaches(a, b)


async def test_a_crashed_far_end_ends_the_call_and_the_next_call_rings(service, open_phone) -> None:
    a = await open_phone(service.url())
    b = await open_phone(service.url())
    await call_between(a, b)
    await a.page.evaluate("""() => { window.__ended = null;
        OmniSense.phone.addEventListener('ended', (e) => { window.__ended = e.detail.cause; }); }""")
    # The far end's tab dies with its network: nothing it sends on the way out (a BYE) gets anywhere.
    await b.page.context.set_offline(True)
    await b.page.context.close()
    # The media path goes `disconnected` within seconds and the call is given up 15 s later.
    await a.wait_state("registered", timeout=45)
    assert await a.page.evaluate("window.__ended") == "Media lost"
    assert "was lost" in await a.text("#notices")
    c = await open_phone(service.url())
    await c.wait_state("registered")
    await c.page.fill("#number", await a.phone("phone.params.username"))
    await c.page.click("#call-button")
    await a.wait_state("ringing")


async def test_leaving_the_page_mid_call_asks_first(service, open_phone) -> None:
    a = await open_phone(service.url())
    b = await open_phone(service.url())
    await call_between(a, b)
    asked: list[str] = []

    async def stay(dialog) -> None:
        asked.append(dialog.type)
        await dialog.dismiss()
    a.page.on("dialog", stay)
    await a.page.close(run_before_unload=True)
    await until(lambda: asyncio.sleep(0, asked), lambda x: x == ["beforeunload"], "the leave-page question")
    assert await a.state() == "in-call"
    await hang_up_reaches(a, b)


# ---- keep-alives, a half-dead dialog, a full PBX -----------------------------------------------------------

# The page's test hook (phone-rules.js keepAliveSettings): a keep-alive every second instead of every 30 s.
FAST_KEEPALIVE = "window.webphoneKeepAliveS = 1;"

async def test_keepalives_every_second_are_answered_and_never_reconnect(service, open_phone) -> None:
    """The relay answers the page's keep-alives itself (a PBX such as Asterisk answers none): over ten
    keep-alive periods, and a call, the page keeps its one WebSocket (tests/asterisk/test_shift.py does this
    for longer, before a PBX that really ignores them)."""
    a = await open_phone(service.url(debug_html=True), init_script=FAST_KEEPALIVE)
    b = await open_phone(service.url())
    await call_between(a, b)
    await until(lambda: asyncio.sleep(0, a.keepalives), lambda n: n >= 10, "10 keep-alives sent", timeout=30)
    assert a.keepalive_answers >= a.keepalives - 1, (a.keepalives, a.keepalive_answers)  # the last may be on its way
    assert len(a.websockets) == 1, a.websockets
    assert "no answer to the keep-alive" not in await a.text("#debug-log")
    assert await a.page.evaluate("window.__links") == []
    await survived_without_loss(a)
    await hang_up_reaches(a, b)


async def survived_without_loss(p: PhonePage) -> None:
    assert await p.page.evaluate("window.__states.filter(s => s !== 'in-call')") == []
    assert await growth(p, "packetsReceived", 1.0) > 20


HALF_DEAD = """(silentFirst) => {
    // chan_sip after its BYE failed: no answer to the first re-INVITE (when silentFirst), 491 Request Pending
    // to every other one.
    const core = OmniSense.phone.call.session.session;
    window.__reinvites = 0;
    core.delegate.onInvite = (uas) => {
        if (window.__reinvites++ > 0 || !silentFirst) uas.reject({ statusCode: 491 });
    };
}"""

TIMES = """() => {
    window.__times = {};
    const phone = OmniSense.phone;
    phone.addEventListener('link', (e) => { if (e.detail.up) window.__times.up = Date.now(); });
    phone.addEventListener('ended', (e) => {
        window.__times.ended = Date.now();
        window.__times.cause = e.detail.cause;
    });
}"""


@pytest.mark.parametrize("silent_first", [False, True], ids=["491-always", "silent-then-491"])
async def test_a_half_dead_dialog_ends_the_call_as_connection_lost_within_15_s(service, open_phone,
                                                                               silent_first) -> None:
    a = await open_phone(service.url(debug_html=True))
    b = await open_phone(service.url(debug_html=True))
    await call_between(a, b)
    await b.page.evaluate(HALF_DEAD, silent_first)
    await a.page.evaluate(TIMES)
    await a.page.context.set_offline(True)
    try:
        await link_down(a)
    finally:
        await a.page.context.set_offline(False)
    await a.wait_state("registered", timeout=45)
    times = await a.page.evaluate("window.__times")
    assert times["cause"] == "Connection lost"
    assert 0 < times["ended"] - times["up"] < 15000, times
    assert await a.page.evaluate("window.__refreshed") == ["unanswered"]
    reinvites = await b.page.evaluate("window.__reinvites")
    # The 491s are not retried without limit. After an unanswered one SIP.js sends no other re-INVITE while its
    # transaction lasts: the page gives up on time all the same.
    assert (1 if silent_first else 2) <= reinvites <= 5, reinvites
    assert "could not be restored" in await a.text("#notices")
    await b.wait_state("registered", timeout=10)  # A's BYE reached B over A's new connection


async def test_a_full_phone_system_is_named_on_the_page(webphone_settings, stack_env, open_phone) -> None:
    async with full_pbx() as url:
        settings = dataclasses.replace(webphone_settings, sip_upstream=url)
        server = TestServer(create_app(settings), host="127.0.0.1", port=None)
        await server.start_server()
        try:
            service = Service(settings, settings.turn_port, agents.agent_secret(stack_env["AUTH_KEY_SECRET"]),
                              server=server)
            a = await open_phone(service.url())
            await a.page.wait_for_function(
                "() => document.querySelector('#link-text')?.textContent.includes('phone system is full')",
                timeout=15000)
            assert await a.state() == "connecting"
        finally:
            await server.close()
