"""ViciDial's agent screen framing the phone (from another origin, tests/webphone/test_vicidial.py) on a server
whose web_socket_url is the stack's chan_sip Asterisk, over wss with the private CA and chain-only checks: the
phone registers, enters its ConfBridge room at 2 + room, hears a second participant there, and the logout ends
it."""

from __future__ import annotations

import functools
import secrets
import time

import pytest

from tests.webphone.conftest import SILENT, growth, until
from tests.webphone.test_vicidial import Agent

from .conftest import POOL, Pbx

pytestmark = [pytest.mark.stack, pytest.mark.browser]


async def members(pbx: Pbx, room: str) -> list[str]:
    """The channels in ConfBridge room `room` (`confbridge list ROOM`)."""
    out = await pbx.cli(f"confbridge list {room}")
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"{pbx.inst.tech}/")]


@pytest.mark.parametrize("pbx", ["chan_sip"], indirect=True)
async def test_the_framed_phone_enters_its_confbridge_room_on_asterisk_and_hears_another_agent(
        pbx: Pbx, pbx_service, gateway, screens, vici_rows, open_screen, open_phone) -> None:
    base = await gateway(**pbx.upstream_env())  # SIP_UPSTREAM is not what routes it: the phone's server row is
    room = f"96{secrets.randbelow(100000):05d}"
    extension = POOL()
    server_ip = vici_rows.server(pbx.inst.wss_url, "CONFBRIDGE")
    vici_rows.phone(server_ip, extension)
    agent = Agent(vici_rows, server_ip, extension, f"agent{extension}", room)

    started = time.monotonic()
    framed = await open_screen(screens.add(agent.login(base)))
    await framed.wait_body("registration", "registered")
    print(f"launch to registered: {(time.monotonic() - started) * 1000:.0f} ms")
    await until(functools.partial(pbx.registered, extension), bool, f"Asterisk holding {extension}'s registration")
    await until(lambda: framed.phone("phone.call && [phone.call.peer, phone.call.state]"),
                lambda v: v == [f"2{room}", "in-call"], "the agent's entry 2 + room dialled and answered")
    mine = f"{pbx.channel(extension)}-"
    await until(lambda: members(pbx, room), lambda names: any(n.startswith(mine) for n in names),
                "the framed phone in Asterisk's ConfBridge room")

    await until(lambda: growth(framed, "audioEnergy"), lambda e: e < SILENT, "silence while the agent is alone")

    # A second agent (a TForge launch on the same Asterisk) enters the room: the framed phone hears it.
    other = await open_phone(pbx_service.url())
    await other.wait_state("registered")
    await other.page.fill("#number", f"2{room}")
    await other.page.click("#call-button")
    await other.wait_state("in-call")
    await until(lambda: members(pbx, room), lambda names: len(names) == 2, "both agents in the room")
    await until(lambda: growth(framed, "audioEnergy"), lambda e: e > 1e-4, "the other agent heard in the frame")

    # Logging out of ViciDial ends the framed phone and its call (ViciDial's own logout kicks the agent's channel
    # out of the room on Asterisk's side).
    assert vici_rows.logout(agent.user) == 1
    await framed.wait_body("phoneState", "logged-out", timeout=10)
    assert "logged out of ViciDial" in await framed.frame.locator("#problem").text_content()
    assert await framed.phone("phone.call === null || phone.call === undefined") is True
    assert framed.errors == []
