"""Start-up: bad links are named and connect nowhere; the password leaves the address bar and logs; an output
the browser cannot route is said."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from .conftest import ENGINES, iso_in

pytestmark = [pytest.mark.stack, pytest.mark.browser]


def without(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qs(parts.query).items() if k != name]
    return parts._replace(query=urlencode([(k, v[0]) for k, v in query])).geturl()


def replaced(url: str, **values: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(values)
    return parts._replace(query=urlencode(query)).geturl()


def contacted_the_service(phone) -> list[str]:
    return [u for u in phone.requests if "/webphone/turn-credentials" in u or "/ws" in u] + phone.websockets


async def test_a_missing_parameter_is_named_and_nothing_connects(service, open_phone) -> None:
    phone = await open_phone(without(service.url(), "password"))
    await phone.wait_state("error")
    assert "password is missing" in await phone.text("#problem-list")
    assert await phone.page.is_hidden("#keypad")
    assert contacted_the_service(phone) == []


async def test_malformed_parameters_in_any_order_are_each_named(service, open_phone) -> None:
    url = service.url()
    parts = urlsplit(url)
    pairs = sorted(parse_qs(parts.query).items(), reverse=True)  # another order than the minted one
    query = {k: v[0] for k, v in pairs}
    query.update(turn_port="70000", customer_id="abc", server="", expire_date="tomorrow", debug_html="yes")
    phone = await open_phone(parts._replace(query=urlencode(query)).geturl())
    await phone.wait_state("error")
    problems = await phone.text("#problem-list")
    for expected in ("turn_port must be", "customer_id must be", "server is missing", "expire_date must be",
                     "debug_html must be"):
        assert expected in problems
    assert "username" not in problems and "auth_key" not in problems
    assert contacted_the_service(phone) == []


async def test_an_expired_session_says_so_and_connects_nowhere(service, open_phone) -> None:
    phone = await open_phone(service.url(expire_date=iso_in(-60)))
    await phone.wait_state("expired")
    assert await phone.text("#status-text") == "Session expired"
    assert "expired" in await phone.text("#problem-lead")
    assert contacted_the_service(phone) == []


async def test_a_forged_key_is_refused_before_the_upgrade_and_the_page_says_so(service, open_phone) -> None:
    forged = replaced(service.url(), auth_key="A" * 43)
    phone = await open_phone(forged)
    await phone.wait_state("error")
    assert "auth_key does not match" in await phone.text("#problem-lead")
    assert phone.websockets == []

    # The relay itself refuses the same query before any upgrade: HTTP 401, JSON reason.
    query = {k: v[0] for k, v in parse_qs(urlsplit(forged).query).items()
             if k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "sip"}
    async with aiohttp.ClientSession() as http, http.get(f"{service.base}/ws?{urlencode(query)}",
                                                          headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["reason"] == "bad_auth_key"


async def test_the_query_leaves_the_address_bar_and_a_reload_still_works(service, open_phone) -> None:
    url = service.url(debug_html=True)
    password = parse_qs(urlsplit(url).query)["password"][0]
    auth_key = parse_qs(urlsplit(url).query)["auth_key"][0]
    phone = await open_phone(url)
    await phone.wait_state("registered")
    assert phone.page.url == f"{service.base}/TForge-OmniSense-Webphone.html"

    await phone.page.reload()
    await phone.wait_state("registered")
    log = await phone.text("#debug-log")
    assert "parameters from session" in log and "registered" in log
    assert "REGISTER sip:" in log  # SIP.js's own trace is there...
    assert password not in log and auth_key not in log  # ...but never the secrets
    assert "auth_key=[redacted]" in log

    # A new tab has no saved parameters: it asks for the link.
    other = await phone.page.context.new_page()
    await other.goto(phone.page.url)
    await other.wait_for_function("() => document.body.dataset.phoneState === 'error'")
    assert "parameters are missing" in await other.locator("#problem-lead").text_content()


async def test_debug_console_logs_sip_js_without_secrets(service, open_phone, browser) -> None:
    url = service.url(debug_console=True)
    query = parse_qs(urlsplit(url).query)
    context = await browser.new_context()
    page = await context.new_page()
    lines: list[str] = []
    page.on("console", lambda message: lines.append(message.text))
    await page.goto(url)
    await page.wait_for_function("() => document.body.dataset.phoneState === 'registered'")
    text = "\n".join(lines)
    assert "sip.transport" in text and "sip.ua" in text
    assert query["password"][0] not in text and query["auth_key"][0] not in text
    assert await page.is_hidden("#debug")  # debug_html was not asked for


async def test_the_page_works_at_360_px_and_by_keyboard(service, open_phone) -> None:
    phone = await open_phone(service.url(), width=360, height=740)
    await phone.wait_state("registered")
    width = await phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360  # nothing sticks out sideways
    # Every control has an accessible name.
    unnamed = await phone.page.evaluate("""() => [...document.querySelectorAll('button, input, select')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => !(el.getAttribute('aria-label') || el.labels?.length || el.textContent.trim()))
        .map((el) => el.outerHTML)""")
    assert unnamed == []
    # Digits typed anywhere go to the number; Tab reaches the Call button.
    await phone.page.keyboard.type("12")
    assert await phone.page.input_value("#number") == "12"
    for _ in range(30):
        await phone.page.keyboard.press("Tab")
        if await phone.page.evaluate("document.activeElement.id") == "call-button":
            break
    assert await phone.page.evaluate("document.activeElement.id") == "call-button"


async def test_the_auto_answer_choice_is_kept_for_the_next_load(service, open_phone) -> None:
    phone = await open_phone(service.url())
    await phone.wait_state("registered")
    await phone.page.click("#settings summary")
    await phone.page.check("#auto-answer")
    assert await phone.page.evaluate("localStorage.getItem('omnisense-webphone:auto-answer')") == "true"
    await phone.page.reload()
    await phone.wait_state("registered")
    assert await phone.page.is_checked("#auto-answer")
    assert await phone.phone("phone.autoAnswer") is True


async def test_a_second_tab_of_the_same_agent_takes_over_after_asking(service, browser) -> None:
    context = await browser.new_context()
    url = service.url()
    first = await context.new_page()
    await first.goto(url)
    await first.wait_for_function("() => document.body.dataset.phoneState === 'registered'")
    second = await context.new_page()
    asked: list[str] = []

    async def accept(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()
    second.on("dialog", accept)
    await second.goto(url)
    await second.wait_for_function("() => document.body.dataset.phoneState === 'registered'")
    await first.wait_for_function("() => document.body.dataset.phoneState === 'error'")
    assert "another tab" in (await first.locator("body").inner_text())
    assert len(asked) == 1 and "already open in another tab" in asked[0]

    # Declined: the new tab stays off and the running one keeps the phone.
    third = await context.new_page()
    third.on("dialog", lambda dialog: dialog.dismiss())
    await third.goto(url)
    await third.wait_for_function("() => document.body.dataset.phoneState === 'error'")
    assert await second.evaluate("document.body.dataset.phoneState") == "registered"
    await context.close()


NO_SINK_ID = ("delete HTMLMediaElement.prototype.setSinkId;"
              " if (window.AudioContext) delete AudioContext.prototype.setSinkId;")
"""Before the page's scripts: a browser that cannot route audio to a chosen output (as older Firefox)."""


async def output_pickers(phone) -> dict[str, bool]:
    """Which output pickers the settings panel offers, and which say they cannot."""
    await phone.page.click("#settings summary")
    return {
        "speaker": not await phone.page.evaluate("document.getElementById('speaker-select').disabled"),
        "speaker hint": await phone.page.is_visible("#speaker-hint"),
        "ringer": not await phone.page.evaluate("document.getElementById('ringer-select').disabled"),
        "ringer hint": await phone.page.is_visible("#ringer-hint"),
    }


@pytest.mark.firefox
async def test_firefox_says_it_rings_on_the_default_speaker(service, open_phone) -> None:
    # Firefox ESR 153 routes a media element (setSinkId) but not an AudioContext, where the ringtone plays.
    phone = await open_phone(service.url(), engine="firefox")
    await phone.wait_state("registered")
    assert await output_pickers(phone) == {"speaker": True, "speaker hint": False, "ringer": False,
                                           "ringer hint": True}
    assert await phone.text("#ringer-hint") == "This browser rings on the system's default speaker."


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_browser_without_set_sink_id_says_calls_play_on_the_default_speaker(service, open_phone,
                                                                                      engine) -> None:
    phone = await open_phone(service.url(), engine=engine, init_script=NO_SINK_ID)
    await phone.wait_state("registered")
    assert await output_pickers(phone) == {"speaker": False, "speaker hint": True, "ringer": False,
                                           "ringer hint": True}
    assert await phone.text("#speaker-hint") == "This browser plays calls on the system's default speaker."
    assert phone.errors == []
