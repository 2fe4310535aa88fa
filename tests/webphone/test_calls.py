"""Two (and three) agents in Chromium calling each other through /ws, Kamailio and coturn (relay only)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import HEARD, SILENT, PhonePage, growth, hang_up_reaches, save_screenshot_path, until

pytestmark = [pytest.mark.stack, pytest.mark.browser]


def username_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["username"][0]


async def connect_call(a: PhonePage, b: PhonePage, number: str, *, typed: bool) -> None:
    if typed:
        await a.page.fill("#number", number)
    else:
        await a.press_keys(number)
    assert await a.page.input_value("#number") == number
    await a.page.click("#call-button")
    await a.wait_state("calling")
    await b.wait_state("ringing")
    assert await b.text("#call-peer") == await a.phone("phone.params.username")  # B sees who calls
    await b.page.click("#answer-button")
    await a.wait_state("in-call")
    await b.wait_state("in-call")


async def test_two_agents_call_with_audio_through_turn_and_use_every_control(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    b_name = username_of(b_url)
    a = await open_phone(a_url)
    b = await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await a.text("#status-text") == "Registered"
    await a.page.screenshot(path=save_screenshot_path("webphone-idle.png"))

    await connect_call(a, b, b_name, typed=False)
    assert await a.text("#call-peer") == b_name

    # Audio both ways, and only through TURN relays (ICE_TRANSPORT_POLICY=relay).
    for phone in (a, b):
        stats = await until(phone.stats, lambda s: s["bytesReceived"] > 2000 and s["localCandidateType"] == "relay",
                            "media arriving over a relay candidate pair")
        assert stats["remoteCandidateType"] == "relay"
        assert await growth(phone, "bytesReceived") > 1000
    await until(lambda: a.text("#call-timer"), lambda t: t != "00:00", "the call timer running")
    await a.page.screenshot(path=save_screenshot_path("webphone-in-call.png"))

    # Mute: B hears silence from A (the fake microphone beeps otherwise); unmute brings it back.
    await a.page.click("#mute-button")
    assert await a.page.get_attribute("#mute-button", "aria-pressed") == "true"
    assert await a.phone("phone.call.senders().every((s) => !s.track.enabled)")
    await until(lambda: growth(b, "audioEnergy"), lambda e: e < SILENT, "silence at B while A is muted")
    await a.page.click("#mute-button")
    await until(lambda: growth(b, "audioEnergy"), lambda e: e > HEARD, "A's audio at B again after unmuting")

    # Hold: a re-INVITE makes A send-only and B receive-only; A then receives nothing until it resumes.
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "On hold", "A showing the call on hold")
    assert (await a.stats())["direction"] == "sendonly"
    assert (await b.stats())["direction"] == "recvonly"
    await until(lambda: growth(a, "packetsReceived", 0.6), lambda n: n == 0, "B's media stopping while on hold")
    # ... and B no longer hears A: the held party gets silence, not the agent's microphone.
    assert await a.phone("phone.call.senders().length > 0 && phone.call.senders().every((s) => !s.track.enabled)")
    await until(lambda: growth(b, "audioEnergy"), lambda e: e < SILENT, "silence at B while A holds the call")
    await a.page.screenshot(path=save_screenshot_path("webphone-on-hold.png"))
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "In call", "A showing the call resumed")
    assert (await a.stats())["direction"] == "sendrecv"
    await until(lambda: growth(a, "packetsReceived", 0.6), lambda n: n > 10, "B's media again after resuming")
    await until(lambda: growth(b, "audioEnergy"), lambda e: e > HEARD, "A's audio at B again after resuming")

    # DTMF from the keypad goes out as RFC 4733 events (the browser's DTMF sender reports each tone sent).
    await a.press_keys("12#")
    await a.page.keyboard.press("9")
    await until(lambda: a.phone("phone.call.dtmfSent"), lambda s: s == "12#9", "the tones sent by A")
    assert "Sent 12#9" in await a.text("#call-flags")

    # Another microphone mid-call (same sender, new track) and another speaker for the call audio.
    await a.page.click("details#settings summary")
    await until(lambda: a.page.locator("#mic-select option").all_text_contents(),
                lambda names: "Fake Audio Input 2" in names, "device names once the microphone is allowed")
    await a.page.select_option("#mic-select", label="Fake Audio Input 2")
    await until(lambda: a.phone("phone.call.senders()[0].track.label"), lambda label: label == "Fake Audio Input 2",
                "the call using the chosen microphone")
    await until(lambda: growth(b, "audioEnergy"), lambda e: e > HEARD, "audio from the new microphone at B")
    output = await a.page.select_option("#speaker-select", label="Fake Audio Output 1")
    await until(lambda: a.page.evaluate("document.getElementById('remote-audio').sinkId"),
                lambda sink: sink == output[0], "the call audio on the chosen speaker")

    await a.page.click("#hangup-button")
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await b.text("#call-state") == "Ready"
    assert a.errors == [] and b.errors == []


async def audio_both_ways(a: PhonePage, b: PhonePage) -> None:
    """Media over relay candidates both ways, and each hears the other's microphone."""
    for phone in (a, b):
        stats = await until(phone.stats, lambda s: s["bytesReceived"] > 2000 and s["localCandidateType"] == "relay",
                            "media arriving over a relay candidate pair")
        assert stats["remoteCandidateType"] == "relay"
        await until(lambda: growth(phone, "audioEnergy"), lambda e: e > HEARD, "the far end's microphone heard")  # noqa: B023


@pytest.mark.firefox
@pytest.mark.parametrize(("caller", "callee"), [("firefox", "chromium"), ("chromium", "firefox")])
async def test_firefox_and_chromium_call_each_other_hold_and_hang_up(service, open_phone, caller, callee) -> None:
    a_url, b_url = service.url(), service.url()
    a = await open_phone(a_url, engine=caller)
    b = await open_phone(b_url, engine=callee)
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await a.text("#status-text") == "Registered" and await b.text("#status-text") == "Registered"
    await connect_call(a, b, username_of(b_url), typed=caller == "chromium")
    await audio_both_ways(a, b)
    firefox, chromium = (a, b) if caller == "firefox" else (b, a)
    await firefox.page.screenshot(path=save_screenshot_path(f"firefox-in-call-{callee}.png"))

    # Firefox holds: Chromium hears silence and Firefox receives nothing; resumed, audio comes back both ways.
    await firefox.page.click("#hold-button")
    await until(lambda: firefox.text("#call-state"), lambda t: t == "On hold", "Firefox showing the call on hold")
    assert (await firefox.stats())["direction"] == "sendonly"
    assert (await chromium.stats())["direction"] == "recvonly"
    await until(lambda: growth(chromium, "audioEnergy"), lambda e: e < SILENT, "silence at Chromium while held")
    await until(lambda: growth(firefox, "packetsReceived", 0.6), lambda n: n == 0, "no media at Firefox while held")
    await firefox.page.click("#hold-button")
    await until(lambda: firefox.text("#call-state"), lambda t: t == "In call", "Firefox showing the call resumed")
    await audio_both_ways(a, b)

    # Firefox's keypad sends RFC 4733 events (the plain-phone tests show them arriving at the far end).
    await firefox.press_keys("15#")
    await until(lambda: firefox.phone("phone.call.dtmfSent"), lambda s: s == "15#", "the tones sent by Firefox")

    # The caller hangs up: Firefox sends the BYE in one run and receives it in the other.
    await hang_up_reaches(a, b)
    assert await b.text("#call-state") == "Ready"
    assert a.errors == [] and b.errors == []


async def test_busy_agent_answers_486_and_transfers_blind(service, open_phone) -> None:
    urls = [service.url() for _ in range(3)]
    a, b, c = [await open_phone(url) for url in urls]
    names = [username_of(url) for url in urls]
    for phone in (a, b, c):
        await phone.wait_state("registered")
    await connect_call(a, b, names[1], typed=True)

    # C calls B, who is busy: C hears busy at once (486), B's call goes on and B is told.
    ended = c.page.evaluate("new Promise((r) => OmniSense.phone.addEventListener('ended', (e) => r(e.detail.cause)))")
    await c.page.fill("#number", names[1])
    await c.page.click("#call-button")
    assert await ended == "Busy"
    await c.wait_state("registered")
    assert await b.state() == "in-call"
    await until(lambda: b.text("#notices"), lambda t: "while on this call" in t, "B told of the missed call")

    # C switches auto-answer on; B blind-transfers A to C (REFER); C answers by itself; B is free.
    await c.page.click("details#settings summary")
    await c.page.get_by_label("Auto-answer incoming calls").check()
    await b.page.click("#transfer-button")
    await b.page.fill("#transfer-target", names[2])
    await b.page.keyboard.press("Enter")
    await b.wait_state("registered")
    await c.wait_state("in-call")
    await a.wait_state("in-call")
    assert await a.text("#call-peer") == names[2]
    await until(c.stats, lambda s: s["bytesReceived"] > 1000, "audio from A at C after the transfer")
    await c.page.keyboard.press("Escape")  # hang up from the keyboard
    await a.wait_state("registered")
    await c.wait_state("registered")
    assert a.errors == [] and b.errors == [] and c.errors == []


async def test_a_session_expiring_during_a_call_ends_it(service, open_phone) -> None:
    a_url = service.url(expires_in=9)
    b_url = service.url()
    a = await open_phone(a_url)
    b = await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    # Minutes before the end the agent is warned (here: at once, the session is that short).
    await until(lambda: a.text("#notices"), lambda t: "This session ends at" in t, "the expiry warning")
    await connect_call(a, b, username_of(b_url), typed=True)

    await a.wait_state("expired", timeout=20)
    await b.wait_state("registered")
    assert "expired" in (await a.text("#problem")).lower()
    assert await a.phone("phone.call") is None
    # No retry is pending and none can be: the watchdog stopped for good (no clock-guessed wait for one).
    assert await a.phone("phone.watchdog.stopped && phone.watchdog.timer === null")
    assert await a.state() == "expired"
