"""Agents on Asterisk (chan_sip and PJSIP) through the relay: register, call each other, the echo and the plain
phone with audio through coturn, hold with silence, DTMF that Asterisk reads, a REFER transfer, and Asterisk
ringing an agent into a ConfBridge room as ViciDial does, answered by the page on its own."""

from __future__ import annotations

import functools
import re

import pytest

from devstack import asterisk, baresip
from tests.webphone.conftest import PhonePage, growth, until

from .conftest import Pbx

pytestmark = [pytest.mark.stack, pytest.mark.browser]


async def username_of(phone: PhonePage) -> str:
    return await phone.phone("phone.params.username")


async def registered(pbx: Pbx, *phones: PhonePage) -> None:
    for phone in phones:
        await phone.wait_state("registered")
        name = await username_of(phone)
        await until(functools.partial(pbx.registered, name), bool, f"Asterisk holding {name}'s registration")


async def dial(a: PhonePage, number: str) -> None:
    await a.page.fill("#number", number)
    await a.page.click("#call-button")


async def auto_answer(phone: PhonePage) -> None:
    await phone.page.click("details#settings summary")
    await phone.page.click("#auto-answer")
    assert await phone.page.evaluate("document.getElementById('auto-answer').checked")


async def hears(phone: PhonePage, what: str) -> None:
    await until(lambda: growth(phone, "audioEnergy"), lambda e: e > 1e-4, what)


async def test_agents_call_each_other_hold_and_send_dtmf(pbx: Pbx, pbx_service, open_phone) -> None:
    a = await open_phone(pbx_service.url())
    b = await open_phone(pbx_service.url())
    await registered(pbx, a, b)

    await dial(a, await username_of(b))
    await b.wait_state("ringing")
    await b.page.click("#answer-button")
    await a.wait_state("in-call")
    await b.wait_state("in-call")
    # Audio both ways, through Asterisk and the TURN relay only.
    for phone in (a, b):
        stats = await until(phone.stats, lambda s: s["bytesReceived"] > 2000, "media arriving")
        assert stats["localCandidateType"] == "relay"
    await hears(a, "B's audio at A")
    await hears(b, "A's audio at B")

    # Hold: Asterisk (with no music-on-hold files) gives the held agent silence, and the holder hears nothing.
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "On hold", "A showing the call on hold")
    await until(lambda: growth(b, "audioEnergy"), lambda e: e < 1e-6, "silence at B while A holds")
    await until(lambda: growth(a, "audioEnergy"), lambda e: e < 1e-6, "silence at A while it holds")
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "In call", "A showing the call resumed")
    await hears(b, "A's audio at B after resuming")
    await hears(a, "B's audio at A after resuming")

    # RFC 4733 DTMF from the keypad, read by Asterisk.
    mark = pbx.log_mark()
    await a.press_keys("15#")
    await until(lambda: a.phone("phone.call.dtmfSent"), lambda s: s == "15#", "the tones sent by A")
    channel = re.escape(pbx.channel(await username_of(a)))
    seen = await until(lambda: _dtmf_ends(pbx, mark, channel), lambda keys: len(keys) >= 3,
                       "Asterisk logging DTMF end for each key")
    assert seen == ["1", "5", "#"]

    await b.page.click("#hangup-button")  # the far end hangs up: Asterisk's BYE reaches A
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert a.errors == [] and b.errors == []


async def _dtmf_ends(pbx: Pbx, mark: int, channel: str) -> list[str]:
    return re.findall(rf"DTMF end '(.)' received on {channel}-", pbx.log_since(mark))


# The same dialplan and media path on both drivers: chan_sip only, to keep the suite short.
@pytest.mark.usefixtures("plain_phone_turn")
@pytest.mark.parametrize("pbx", ["chan_sip"], indirect=True)
async def test_the_echo_and_the_plain_phone(pbx: Pbx, pbx_service, open_phone) -> None:
    a = await open_phone(pbx_service.url())
    await registered(pbx, a)
    await dial(a, asterisk.ECHO_NUMBER)
    await a.wait_state("in-call")
    await hears(a, "the agent's own audio back from Asterisk's echo")
    await a.page.click("#hangup-button")
    await a.wait_state("registered")

    await dial(a, baresip.PHONE_NUMBER)
    await a.wait_state("in-call")
    await hears(a, "the plain phone's tone through Asterisk")
    await until(lambda: pbx.channels(), lambda names: any(n.startswith(f"{pbx.inst.tech}/plainphone") for n in names),
                "Asterisk's leg to the plain phone")
    await a.page.click("#hangup-button")
    await a.wait_state("registered")
    await until(lambda: pbx.channels(), lambda names: names == [] or not any("plainphone" in n for n in names),
                "the plain phone's leg hung up")


async def test_a_blind_transfer_by_refer(pbx: Pbx, pbx_service, open_phone) -> None:
    a, b, c = [await open_phone(pbx_service.url()) for _ in range(3)]
    await registered(pbx, a, b, c)
    await dial(a, await username_of(b))
    await b.wait_state("ringing")
    await b.page.click("#answer-button")
    await b.wait_state("in-call")
    await auto_answer(c)
    await b.page.click("#transfer-button")
    await b.page.fill("#transfer-target", await username_of(c))
    await b.page.keyboard.press("Enter")
    await b.wait_state("registered")
    await c.wait_state("in-call")
    await a.wait_state("in-call")
    await hears(c, "A's audio at C after the transfer")
    await hears(a, "C's audio at A after the transfer")
    await c.page.click("#hangup-button")
    await a.wait_state("registered")


async def test_asterisk_rings_the_agent_into_a_conference_and_the_page_answers(pbx: Pbx, pbx_service,
                                                                               open_phone) -> None:
    room = "9600051"
    a = await open_phone(pbx_service.url())
    b = await open_phone(pbx_service.url())
    await registered(pbx, a, b)
    await auto_answer(a)
    # ViciDial's "Call Agent Webphone": the PBX calls the agent's phone into the agent's room.
    await pbx.originate(await username_of(a), "ConfBridge", room)
    await a.wait_state("in-call")
    # A second agent joins the same room the way ViciDial's agents dial in: 2 + room.
    await dial(b, f"2{room}")
    await b.wait_state("in-call")
    members = await until(lambda: pbx.cli(f"confbridge list {room}"),
                          lambda out: out.count(pbx.inst.tech + "/") >= 2, "both agents in the room")
    assert pbx.channel(await username_of(a)) in members and pbx.channel(await username_of(b)) in members
    await hears(a, "B's audio at A through the conference")
    await hears(b, "A's audio at B through the conference")
    await pbx.hang_up(await username_of(a))  # Asterisk ends the agent's leg
    await a.wait_state("registered")
    await b.page.click("#hangup-button")
    await b.wait_state("registered")
