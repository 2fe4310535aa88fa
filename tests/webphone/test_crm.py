"""The example CRM host page (another origin) drives an embedded phone by postMessage and hears its events."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from .conftest import ENGINES, until
from .firefox import FirefoxPage

pytestmark = [pytest.mark.stack, pytest.mark.browser]


async def events(host) -> list[dict]:
    """The events the host page received from the phone, oldest first."""
    items = await host.evaluate("""() => [...document.querySelectorAll('#events li[data-direction="received"]')]
        .map((li) => li.dataset.event)""")
    return [json.loads(item) for item in reversed(items)]


def frame_at(host, url_prefix: str):
    """The frame of `host` whose address starts with `url_prefix`, to evaluate in."""
    if isinstance(host, FirefoxPage):
        return host.frame(url_prefix)
    return next(f for f in host.frames if f.url.startswith(url_prefix))


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_example_host_page_dials_and_hears_the_events(service, open_phone, open_page, engine) -> None:
    port = urlsplit(service.base).port
    crm_origin = f"http://localhost:{port}"  # another origin than the phone's http://127.0.0.1:port
    callee_url = service.url()
    callee_name = parse_qs(urlsplit(callee_url).query)["username"][0]
    callee = await open_phone(callee_url)
    await callee.wait_state("registered")

    # The host page (and the phone in it) in `engine`; the callee is a Chromium agent.
    phone_url = service.url(crm_origin=crm_origin)
    host = await open_page(engine=engine, width=1200, height=900)
    await host.goto(f"{crm_origin}/static/crm-example.html#url={quote(phone_url, safe='')}")
    await until(lambda: events(host), lambda e: {"type": "registered"} in e, "the registered event")
    inner = frame_at(host, service.base)
    phone_state = "() => document.body.dataset.phoneState"

    await host.fill("#dial-number", callee_name)
    await host.click("#dial-form button[type=submit]")
    await callee.wait_state("ringing")
    await callee.page.click("#answer-button")
    await until(lambda: events(host), lambda e: any(x["type"] == "connected" for x in e), "the connected event")
    assert await inner.evaluate(phone_state) == "in-call"

    # A registration refresh fires SIP.js's `registered` again: nothing changes, no second event.
    await inner.evaluate("() => OmniSense.phone.ua.register()")
    await until(lambda: inner.evaluate("() => OmniSense.phone.ua.isRegistered()"), bool, "the refresh done")
    assert await inner.evaluate(phone_state) == "in-call"

    # Commands: mute and hold take effect in the phone; a bad command comes back as an error event.
    await host.click("#mute")
    await until(lambda: inner.evaluate("() => OmniSense.phone.call?.muted"), bool, "muted by the CRM")
    await host.click("#hold")
    await until(lambda: inner.evaluate("() => OmniSense.phone.call?.held"), bool, "held by the CRM")
    await host.fill("#dtmf-digits", "x")
    await host.click("#dtmf-form button[type=submit]")
    await until(lambda: events(host), lambda e: any(x["type"] == "error" for x in e), "an error event")

    # The host page's buttons follow the phone's events, not the clicks.
    assert await host.get_attribute("#mute", "aria-pressed") == "true"
    assert await host.get_attribute("#hold", "aria-pressed") == "true"
    await host.click('[data-command="getState"]')
    received = await until(lambda: events(host), lambda e: e[-1] == {"type": "ok", "command": "getState"},
                           "getState answered")
    state = received[-2]
    assert state["state"] == "in-call" and state["link"] == "up" and state["registered"] is True
    assert state["call"]["muted"] is True and state["call"]["held"] is True
    assert state["call"]["direction"] == "outgoing" and state["call"]["peer"] == callee_name

    await host.click('[data-command="hangup"]')
    await callee.wait_state("registered")
    received = await until(lambda: events(host), lambda e: e[-1] == {"type": "ok", "command": "hangup"},
                           "hangup answered")
    assert [e["type"] for e in received] == [
        "registered", "calling", "ok", "ringing", "connected", "muted", "ok", "ok", "held", "error", "state", "ok",
        "ended", "ok"]
    assert [e["command"] for e in received if e["type"] in ("ok", "error")] == [
        "dial", "mute", "hold", "dtmf", "getState", "hangup"]
    assert received[-2]["cause"] == "Hangup"
    call_events = [e for e in received if e["type"] in ("calling", "ringing", "connected", "muted", "held", "ended")]
    call_id = state["call"]["call_id"]
    assert call_id and all(e["call_id"] == call_id for e in call_events)
    assert received[1]["number"] == callee_name

    # The phone posted only to the CRM's origin, and the page it sits in is that origin.
    assert await host.evaluate("location.origin") == crm_origin


async def test_a_phone_window_opened_by_the_crm_talks_to_its_opener(service, browser) -> None:
    crm_origin = f"http://localhost:{urlsplit(service.base).port}"
    context = await browser.new_context()
    host = await context.new_page()
    async with context.expect_page() as popup_info:
        await host.goto(f"{crm_origin}/static/crm-example.html#window=1&url={quote(service.url(), safe='')}")
    popup = await popup_info.value
    await popup.wait_for_function("() => document.body.dataset.phoneState === 'registered'")
    assert popup.url.startswith(service.base) and "?" not in popup.url  # the query left the address bar
    await until(lambda: events(host), lambda e: {"type": "registered"} in e, "registered, posted to the opener")

    # A command the phone cannot do now comes back as an error event, to the opener only.
    await host.click('[data-command="hangup"]')
    received = await until(lambda: events(host), lambda e: e[-1]["type"] == "error", "the error event")
    assert received[-1]["message"] == "There is no call to hang up."
