"""Keys that are safe: a ringing call never takes the focus, Escape in a field never hangs up, shortcuts only
in the phone, Enter dials."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from .conftest import PhonePage, until
from .test_calls import connect_call, username_of

pytestmark = [pytest.mark.stack, pytest.mark.browser]


async def focused(phone: PhonePage) -> str:
    return await phone.page.evaluate("document.activeElement?.id || document.activeElement?.tagName")


async def test_a_ringing_call_leaves_the_focus_and_escape_in_a_field_only_leaves_it(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")

    # B is typing a number when A's call rings: the focus stays in the field, and so do B's keys.
    await b.page.click("#number")
    await b.page.keyboard.type("12")
    await a.page.fill("#number", username_of(b_url))
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    assert await focused(b) == "number"
    await b.page.keyboard.type("3")
    assert await b.page.input_value("#number") == "123"
    # Escape in the field leaves the field; the call rings on.
    await b.page.keyboard.press("Escape")
    assert await focused(b) == "BODY"
    assert await b.state() == "ringing" and await a.state() == "calling"
    # On the page itself Enter answers.
    await b.page.keyboard.press("Enter")
    await b.wait_state("in-call")
    await a.wait_state("in-call")

    # In the Transfer field digits are the field's and Escape closes it: the customer stays on the line.
    await b.page.click("#transfer-button")
    assert await focused(b) == "transfer-target"
    await b.page.keyboard.type("99")
    assert await b.page.input_value("#transfer-target") == "99"
    await b.page.keyboard.press("Escape")
    assert await b.page.is_hidden("#transfer-form")
    assert await focused(b) == "transfer-button"
    assert await b.state() == "in-call" and await a.state() == "in-call"
    assert await b.phone("phone.call.dtmfSent") == ""
    # Away from any field, Escape still hangs up.
    await b.page.keyboard.press("Escape")
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert a.errors == [] and b.errors == []


async def test_enter_on_the_page_dials_the_number_typed_there(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await focused(a) == "BODY"
    await a.page.keyboard.type(username_of(b_url))  # digits typed on the page go to the number
    assert await a.page.input_value("#number") == username_of(b_url)
    await a.page.keyboard.press("Enter")
    await a.wait_state("calling")
    await b.wait_state("ringing")
    await a.page.keyboard.press("Escape")  # cancels
    await b.wait_state("registered")
    await a.wait_state("registered")


async def test_keys_outside_the_phone_do_nothing(service, open_phone) -> None:
    a_url, b_url = service.url(debug_html=True), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    await connect_call(a, b, username_of(b_url), typed=True)
    await a.page.focus("#debug-log")  # the debug panel sits beside the phone, not in it
    await a.page.keyboard.press("5")
    await a.page.keyboard.press("Escape")
    await until(lambda: a.phone("phone.call.dtmfSent"), lambda s: s == "", "no tone sent", timeout=1)
    assert await a.state() == "in-call"
    await a.page.click("#hangup-button")
    await b.wait_state("registered")


async def test_a_phone_ringing_in_a_crm_frame_leaves_the_crm_focus_alone(service, open_phone, browser) -> None:
    port = urlsplit(service.base).port
    crm_origin = f"http://localhost:{port}"
    phone_url = service.url(crm_origin=crm_origin)
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    host = await context.new_page()
    await host.goto(f"{crm_origin}/static/crm-example.html#url={quote(phone_url, safe='')}")
    await host.frame_locator("#phone").locator("body[data-phone-state='registered']").wait_for()
    await host.click("#dial-number")
    await host.keyboard.type("40")

    caller = await open_phone(service.url())
    await caller.wait_state("registered")
    await caller.page.fill("#number", username_of(phone_url))
    await caller.page.click("#call-button")
    await host.frame_locator("#phone").locator("body[data-phone-state='ringing']").wait_for()
    assert await host.evaluate("document.activeElement.id") == "dial-number"
    await host.keyboard.press("Enter")  # the CRM's own form: the phone's call is not answered
    await host.keyboard.type("1")
    assert await host.input_value("#dial-number") == "401"
    frame = next(f for f in host.frames if f.url.startswith(service.base))
    assert await frame.evaluate("document.body.dataset.phoneState") in ("ringing", "calling")
    await caller.page.click("#hangup-button")
    await caller.wait_state("registered")
