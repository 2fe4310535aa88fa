"""The webphone with a plain SIP phone through rtpengine (the local stack's PBX shape): baresip on UDP, media
bridged between WebRTC (ICE, DTLS-SRTP) and plain RTP by rtpengine, driven by Kamailio's rtpengine module."""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import re
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack import baresip, kamailio
from devstack.baresip_control import PhoneControl

from ..sip_proxy.helpers import kamailio_lookup
from .conftest import ENGINES, PhonePage, until

RTP_COUNTS = """(async () => {
  const pc = OmniSense.phone.call.session.sessionDescriptionHandler.peerConnection;
  let sent = 0, received = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.kind !== "audio") return;
    if (s.type === "outbound-rtp") sent += s.packetsSent;
    if (s.type === "inbound-rtp") received += s.packetsReceived;
  });
  return { sent, received };
})()"""


async def registered(control: PhoneControl) -> bool:
    """Kamailio holds the phone's binding (baresip's own view would not show a restarted Kamailio's loss)."""
    return await asyncio.to_thread(kamailio_lookup, baresip.PHONE_NUMBER)


@pytest.fixture
async def plain_phone(stack_env, plain_phone_turn) -> AsyncIterator[PhoneControl]:
    """The stack's baresip, registered. A Kamailio restarted by an earlier test forgets its binding until
    baresip's next refresh (and a refresh that met the restart backs off): then devstack starts it anew."""
    control = await PhoneControl.connect()
    if not await registered(control):
        await control.close()
        baresip.stop()
        baresip.start((kamailio.address(kamailio.local_url(stack_env))[0], kamailio.UDP_PORT))
        control = await PhoneControl.connect()
        await until(lambda: registered(control), bool, "the plain phone registered with Kamailio")
    try:
        yield control
    finally:
        # Whatever a failed test left up; baresip 1.0 does not always answer a hangup it has nothing for.
        with contextlib.suppress(TimeoutError):
            await control.command("hangup", timeout=2)
        await control.close()


def recordings() -> set[Path]:
    return set(baresip.RECORDINGS.glob("dump-*-dec.wav"))


def loudness(path: Path) -> float:
    """RMS of the recording's 16-bit samples: 0 for silence, about 9,000 for a full-scale-quarter tone."""
    with wave.open(str(path)) as recording:
        assert recording.getsampwidth() == 2
        samples = array.array("h", recording.readframes(recording.getnframes()))
    return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0


async def rtp_counts(phone: PhonePage) -> dict[str, int]:
    return await phone.page.evaluate(RTP_COUNTS)


async def assert_audio_both_ways(phone: PhonePage) -> None:
    first = await until(lambda: rtp_counts(phone), lambda c: c["sent"] > 25 and c["received"] > 25,
                        "RTP flowing both ways")
    await until(lambda: rtp_counts(phone),
                lambda c: c["sent"] > first["sent"] + 25 and c["received"] > first["received"] + 25,
                "RTP still flowing both ways a second later")
    await until(phone.stats, lambda s: s["audioEnergy"] > 1e-4, "the plain phone's audio heard by the webphone")


@pytest.mark.stack
@pytest.mark.browser
async def test_the_webphone_calls_the_plain_phone_with_audio_both_ways(service, open_phone, plain_phone) -> None:
    before = recordings()
    since = len(plain_phone.events)
    a = await open_phone(service.url())
    await a.wait_state("registered")
    await a.page.fill("#number", baresip.PHONE_NUMBER)
    await a.page.click("#call-button")
    await a.wait_state("in-call")
    await plain_phone.wait_event(lambda e: e.get("type") == "CALL_ESTABLISHED", since=since)
    await assert_audio_both_ways(a)
    await a.page.click("#hangup-button")
    await plain_phone.wait_event(lambda e: e.get("type") == "CALL_CLOSED", since=since)
    await a.wait_state("registered")
    (recording,) = recordings() - before
    assert loudness(recording) > 300, "the plain phone heard the webphone's microphone"
    assert a.errors == []


def username_of(phone_url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(phone_url).query)["username"][0]


async def ring_agent(plain_phone: PhoneControl, uri: str, agent: PhonePage) -> None:
    await plain_phone.command("dial", uri)
    await agent.wait_state("ringing")
    await agent.page.click("#answer-button")
    await agent.wait_state("in-call")


@pytest.mark.stack
@pytest.mark.browser
async def test_the_plain_phone_calls_the_webphone_and_hangs_up(service, open_phone, plain_phone) -> None:
    before = recordings()
    url = service.url()
    a = await open_phone(url)
    await a.wait_state("registered")
    since = len(plain_phone.events)
    await ring_agent(plain_phone, f"sip:{username_of(url)}@127.0.0.1:{kamailio.UDP_PORT}", a)
    assert await a.text("#call-peer") == baresip.PHONE_NUMBER
    await plain_phone.wait_event(lambda e: e.get("type") == "CALL_ESTABLISHED", since=since)
    await assert_audio_both_ways(a)
    await plain_phone.command("hangup")  # BYE from the plain side
    await a.wait_state("registered")
    (recording,) = recordings() - before
    assert loudness(recording) > 300
    assert a.errors == []


async def pbx_call(plain_phone: PhoneControl, service, open_phone, engine: str = "chromium") -> PhonePage:
    """As Asterisk (and ViciDial at login) calls a registered phone: To is the agent's Contact URI, so the
    agent's own in-dialog requests (re-INVITEs, BYE) carry that Contact as From."""
    url = service.url()
    a = await open_phone(url, engine=engine)
    await a.wait_state("registered")
    since = len(plain_phone.events)
    await ring_agent(plain_phone, f"sip:agent-{username_of(url)}@127.0.0.1:{kamailio.UDP_PORT}", a)
    await plain_phone.wait_event(lambda e: e.get("type") == "CALL_ESTABLISHED", since=since)
    to, contact, aor = await a.phone("[phone.call.session.localIdentity.uri.toString(),"
                                     " phone.ua.contact.uri.toString(), phone.ua.configuration.uri.toString()]")
    # To: the Contact, sip:USERNAME@RANDOM.invalid;transport=ws (the user is the agent's, for `sip show peers`;
    # the host SIP.js's made-up one), not the address of record.
    assert to == contact != aor
    assert re.fullmatch(rf"sip:{username_of(url)}@[a-z0-9]+\.invalid;transport=ws", contact), contact
    await assert_audio_both_ways(a)
    return a


@pytest.mark.stack
@pytest.mark.browser
async def test_a_pbx_call_to_the_agents_contact_holds_and_resumes(service, open_phone, plain_phone) -> None:
    a = await pbx_call(plain_phone, service, open_phone)
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "On hold", "the agent showing the call on hold")
    assert (await a.stats())["direction"] == "sendonly"
    held = await rtp_counts(a)
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "In call", "the agent showing the call resumed")
    assert (await a.stats())["direction"] == "sendrecv"
    await until(lambda: rtp_counts(a), lambda c: c["received"] > held["received"] + 25, "media again after resuming")
    await a.page.click("#hangup-button")
    await a.wait_state("registered")
    assert a.errors == []


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.parametrize("engine", ENGINES)
async def test_a_pbx_call_to_the_agents_contact_carries_rfc4733_dtmf(service, open_phone, plain_phone, engine) -> None:
    a = await pbx_call(plain_phone, service, open_phone, engine)
    mark = len(plain_phone.events)
    await a.press_keys("15#")
    keys = []
    for _ in "15#":
        event = await plain_phone.wait_event(lambda e: e.get("type") == "CALL_DTMF_START", since=mark)
        keys.append(event["param"])
        mark = plain_phone.events.index(event) + 1
    assert keys == ["1", "5", "#"]
    await a.page.click("#hangup-button")  # BYE from the webphone, in a dialog whose From is the Contact
    await plain_phone.wait_event(lambda e: e.get("type") == "CALL_CLOSED", since=mark)
    await a.wait_state("registered")
    assert a.errors == []
