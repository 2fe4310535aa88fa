"""A shift on Asterisk, which never answers the page's CRLF keep-alive: an idle agent and an agent in a long call
keep their one WebSocket across many keep-alives. The page's interval is cut to 1 s (its test hook
`window.webphoneKeepAliveS`), so 15 keep-alives stand for seven and a half minutes of the real 30 s ones."""

from __future__ import annotations

import pytest

from devstack import asterisk
from tests.webphone.conftest import PhonePage, growth, until

from .conftest import Pbx
from .test_calls import dial, hears, registered, username_of

pytestmark = [pytest.mark.stack, pytest.mark.browser]

KEEPALIVES = 15
FAST_KEEPALIVE = "window.webphoneKeepAliveS = 1;"


async def keeps_its_link(phone: PhonePage, keepalives: int, what: str) -> None:
    """`keepalives` more keep-alives go out, and the page never opens another WebSocket meanwhile."""
    start = phone.keepalives
    await until(lambda: _count(phone), lambda n: n >= start + keepalives, f"{keepalives} keep-alives {what}",
                timeout=keepalives * 2 + 10)
    assert len(phone.websockets) == 1, f"the page reconnected {what}: {phone.websockets}"
    # Asterisk answers none of them: the relay does (the last may still be on its way back).
    assert phone.keepalive_answers >= phone.keepalives - 1, (phone.keepalive_answers, phone.keepalives)
    log = await phone.text("#debug-log")
    assert "reconnecting" not in log and "no answer to the keep-alive" not in log, log[-2000:]


async def _count(phone: PhonePage) -> int:
    return phone.keepalives


# Both channel drivers ignore the keep-alive alike (it is Asterisk's HTTP server that carries the WebSocket).
@pytest.mark.parametrize("pbx", ["chan_sip"], indirect=True)
async def test_an_idle_agent_and_a_long_call_never_reconnect(pbx: Pbx, pbx_service, open_phone) -> None:
    a = await open_phone(pbx_service.url(debug_html=True), init_script=FAST_KEEPALIVE)
    await registered(pbx, a)
    await keeps_its_link(a, KEEPALIVES, "while idle")
    # Still reachable: Asterisk rings the agent (what ViciDial's "Call Agent Webphone" does at any moment).
    await pbx.originate(await username_of(a), "Echo", "")
    await a.wait_state("ringing")
    await a.page.click("#answer-button")
    await a.wait_state("in-call")
    await hears(a, "the echo")
    await keeps_its_link(a, KEEPALIVES, "during the call")
    assert await growth(a, "packetsReceived", 1.0) > 20
    await a.page.click("#hangup-button")
    await a.wait_state("registered")
    await dial(a, asterisk.ECHO_NUMBER)
    await a.wait_state("in-call")
    await a.page.click("#hangup-button")
    await a.wait_state("registered")
