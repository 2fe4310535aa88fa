"""A call through Asterisk outliving the service's death and a rolling restart (refreshed over the new WebSocket,
then hung up from either side), and Asterisk hanging up while the agent's link is down."""

from __future__ import annotations

import pytest

from devstack import asterisk
from tests.webphone.conftest import hang_up_reaches, until
from tests.webphone.test_reconnect import WATCH, call_between, link_down, refreshed, survived, survives_a_kill

from .conftest import Pbx
from .test_calls import dial, hears, registered, username_of

pytestmark = [pytest.mark.stack, pytest.mark.browser]


async def test_a_call_survives_the_service_killed(pbx: Pbx, pbx_service_process, open_phone) -> None:
    a = await open_phone(pbx_service_process.url(debug_html=True))
    b = await open_phone(pbx_service_process.url(debug_html=True))
    await registered(pbx, a, b)
    await call_between(a, b)
    # Asterisk moves each dialog to the agent's new connection: B's hang-up reaches A as Asterisk's BYE.
    await survives_a_kill(pbx_service_process, a, b)


# After the SIGKILL test, on both drivers, a rolling restart adds only the draining old process: chan_sip only.
@pytest.mark.parametrize("pbx", ["chan_sip"], indirect=True)
async def test_a_call_survives_a_rolling_restart(pbx: Pbx, pbx_service_process, open_phone) -> None:
    a = await open_phone(pbx_service_process.url(debug_html=True))
    b = await open_phone(pbx_service_process.url(debug_html=True))
    await registered(pbx, a, b)
    await call_between(a, b)
    [old] = pbx_service_process.procs
    await pbx_service_process.start()
    await pbx_service_process.terminate(old)
    await refreshed(a)
    await refreshed(b)
    await survived(a)
    await survived(b)
    await hang_up_reaches(a, b)


async def test_asterisk_hanging_up_during_an_outage_ends_the_call_as_connection_lost(pbx: Pbx, pbx_service,
                                                                                     open_phone) -> None:
    # chan_sip's BYE fails while the link is down and it keeps a half-dead dialog (no answer to the refresh,
    # then 491); PJSIP answers 481. Either way the page must end the call within 15 s of its link coming back.
    a = await open_phone(pbx_service.url(debug_html=True))
    await registered(pbx, a)
    await dial(a, asterisk.ECHO_NUMBER)
    await a.wait_state("in-call")
    await hears(a, "the echo")
    await a.page.evaluate(WATCH)
    await a.page.evaluate("""() => { window.__ended = null;
        OmniSense.phone.addEventListener('ended', (e) => { window.__ended = e.detail.cause; }); }""")
    await a.page.context.set_offline(True)
    try:
        await link_down(a)
        await pbx.hang_up(await username_of(a))
        gone = pbx.channel(await username_of(a)) + "-"
        await until(pbx.channels, lambda names: not any(n.startswith(gone) for n in names),
                    "Asterisk's channel to A hung up")
        assert await a.state() == "in-call"  # its BYE could not reach the page
    finally:
        await a.page.context.set_offline(False)
    await a.page.wait_for_function("() => document.body.dataset.link === 'up'", timeout=30000)
    await a.wait_state("registered", timeout=15)
    assert await a.page.evaluate("window.__ended") == "Connection lost"
