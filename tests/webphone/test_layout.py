"""A steady page: buttons in fixed places, notices over the call and gone with it, missed calls and recent calls,
the auto-answer badge, the session's last minutes counted down."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import PhonePage, until
from .test_calls import connect_call, username_of

pytestmark = [pytest.mark.stack, pytest.mark.browser]


async def box(phone: PhonePage, selector: str) -> dict[str, Any]:
    found = await phone.page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return dict(found)


async def test_buttons_keep_their_places_and_notices_go_with_their_call(service, open_phone) -> None:
    urls = [service.url() for _ in range(3)]
    a, b, c = [await open_phone(url, width=420, height=760) for url in urls]
    for phone in (a, b, c):
        await phone.wait_state("registered")
    await a.page.fill("#number", username_of(urls[1]))
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    answer, reject = await box(b, "#answer-button"), await box(b, "#reject-button")
    cancel = await box(a, "#hangup-button")
    await b.page.click("#answer-button")
    await a.wait_state("in-call")
    await b.wait_state("in-call")
    hangup = await box(b, "#hangup-button")
    # Hang up, Reject and Cancel share one place; Answer has its own on the same row.
    assert (hangup["x"], hangup["y"]) == (reject["x"], reject["y"]) == (cancel["x"], cancel["y"])
    assert answer["y"] == reject["y"] and answer["x"] < reject["x"]

    # C calls B, who is busy: the notice lies over the call panel and Hang up stays where it was.
    await c.page.fill("#number", username_of(urls[1]))
    await c.page.click("#call-button")
    await c.wait_state("registered")
    await until(lambda: b.text("#notices"), lambda t: "while on this call" in t, "B told of the missed call")
    assert await box(b, "#hangup-button") == hangup
    assert await b.text("#missed-badge") == "1 missed"
    # The notice was about this call: it goes with it; the missed call stays in the list.
    await b.page.click("#hangup-button")
    await b.wait_state("registered")
    assert await b.text("#notices") == ""
    items = await b.page.locator("#recent-list li").all_text_contents()
    assert len(items) == 2 and items[0].startswith(f"From {username_of(urls[0])}")
    assert items[1].startswith(f"Missed call from {username_of(urls[2])}")
    assert re.search(r", \d\d:\d\d$", items[0]), items  # the answered call's duration
    await b.page.click("#recent-title")  # looking at the list clears the cue
    assert await b.page.is_hidden("#missed-badge")


async def test_a_call_the_caller_gave_up_on_is_missed(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    await a.page.fill("#number", username_of(b_url))
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    await a.page.click("#hangup-button")  # Cancel
    await b.wait_state("registered")
    assert await b.text("#missed-badge") == "1 missed"
    assert (await b.page.locator("#recent-list li").all_text_contents())[0].startswith(
        f"Missed call from {username_of(a_url)}")
    # A called and nobody answered: for A that is a call made, not a missed one.
    assert await a.page.is_hidden("#missed-badge")
    assert "not answered" in (await a.page.locator("#recent-list li").all_text_contents())[0]


async def test_auto_answer_shows_a_badge(service, open_phone) -> None:
    a = await open_phone(service.url())
    await a.wait_state("registered")
    assert await a.page.is_hidden("#auto-answer-badge")
    await a.page.click("details#settings summary")
    await a.page.get_by_label("Auto-answer incoming calls").check()
    assert await a.text("#auto-answer-badge") == "Auto-answer on"
    await a.page.get_by_label("Auto-answer incoming calls").uncheck()
    assert await a.page.is_hidden("#auto-answer-badge")


async def test_the_last_five_minutes_are_counted_down(service, open_phone) -> None:
    a = await open_phone(service.url(expires_in=200))
    await a.wait_state("registered")
    first = await until(lambda: a.text("#session-ends"),
                        lambda t: re.fullmatch(r"Session ends in 0[23]:\d\d", t) is not None, "the countdown")
    await until(lambda: a.text("#session-ends"), lambda t: t != first, "the countdown moving")
    far = await open_phone(service.url(expires_in=3600))
    await far.wait_state("registered")
    far_text = await far.text("#session-ends")
    assert far_text.startswith("Session ends ") and " in " not in far_text


async def test_a_notice_during_a_call_does_not_move_the_controls(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url, width=420, height=760), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    await connect_call(a, b, username_of(b_url), typed=True)
    before = [await box(a, s) for s in ("#hangup-button", "#mute-button", "#keypad")]
    await a.page.click("#transfer-button")
    await a.page.fill("#transfer-target", "not a number!")
    await a.page.keyboard.press("Enter")  # refused: a notice
    await until(lambda: a.text("#notices"), lambda t: "transfer to" in t, "the refusal")
    assert [await box(a, s) for s in ("#hangup-button", "#mute-button")] == before[:2]
    await a.page.click("#hangup-button")
    await b.wait_state("registered")
    assert await a.text("#notices") == ""
