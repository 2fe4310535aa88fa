"""The page for every agent: axe-core in each state, focus, Tab order, 200 % zoom, announcements, safe keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from service.app import create_app

from .conftest import PhonePage, Service, hang_up_reaches, save_screenshot_path, until
from .test_calls import connect_call, username_of

AXE = Path(__file__).resolve().parents[2] / "node_modules/axe-core/axe.min.js"


async def serious_violations(phone: PhonePage) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    if not await phone.page.evaluate("typeof axe !== 'undefined'"):
        await phone.page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await phone.page.evaluate("""async () => {
        const r = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
    }""")
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in found if v["impact"] in ("serious", "critical")]


def luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"[\d.]+", css)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


async def in_view(phone: PhonePage, selector: str) -> bool:
    """Whether the element is shown entirely inside the viewport, without scrolling."""
    return await phone.page.eval_on_selector(selector, """(el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
    }""")


async def brand_whole(phone: PhonePage) -> bool:
    return await phone.page.eval_on_selector("#brand", """(el) => {
        const r = el.getBoundingClientRect();
        return el.scrollWidth <= el.clientWidth && r.right <= innerWidth
          && el.textContent.includes('OmniSense Webphone');
    }""")


async def tab_order(phone: PhonePage, stops: int = 30) -> list[str]:
    """The ids (or data-key) of the first `stops` elements Tab reaches from the top of the page."""
    await phone.page.evaluate("document.activeElement?.blur()")
    seen = []
    for _ in range(stops):
        await phone.page.keyboard.press("Tab")
        seen.append(await phone.page.evaluate("""(() => {
            const e = document.activeElement;
            return e.id || (e.dataset.key ? `key-${e.dataset.key}` : e.tagName);
        })()"""))
    return seen


@pytest.mark.stack
@pytest.mark.browser
async def test_idle_ringing_in_call_and_on_hold_pass_axe_and_fit_at_200_percent(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    for zoom in (1, 2):
        a = await open_phone(a_url, width=420, height=760, zoom=zoom, bypass_csp=True)
        b = await open_phone(b_url, width=420, height=760, zoom=zoom, bypass_csp=True)
        await a.wait_state("registered")
        await b.wait_state("registered")
        tag = "" if zoom == 1 else "-200"
        await a.page.screenshot(path=save_screenshot_path(f"a11y-idle{tag}.png"))
        assert await serious_violations(a) == [], "idle"
        assert await brand_whole(a) and await in_view(a, "#call-button")

        await a.page.fill("#number", username_of(b_url))
        await a.page.click("#call-button")
        await b.wait_state("ringing")
        await b.page.screenshot(path=save_screenshot_path(f"a11y-ringing{tag}.png"))
        assert await serious_violations(b) == [], "ringing"
        assert await in_view(b, "#answer-button") and await in_view(b, "#reject-button") and await brand_whole(b)
        await b.page.click("#answer-button")
        await a.wait_state("in-call")
        await b.wait_state("in-call")
        await a.page.screenshot(path=save_screenshot_path(f"a11y-in-call{tag}.png"))
        assert await serious_violations(a) == [], "in-call"
        assert await in_view(a, "#hangup-button") and await in_view(a, "#mute-button") and await brand_whole(a)
        if zoom == 1:
            # During a call the call controls come before the keypad in Tab order.
            order = await tab_order(a)
            assert "hangup-button" in order and "key-1" in order, order
            assert order.index("hangup-button") < order.index("key-1")
            assert order.index("mute-button") < order.index("key-1")

        await a.page.click("#hold-button")
        await a.page.locator("#call-state", has_text="On hold").wait_for()
        await a.page.screenshot(path=save_screenshot_path(f"a11y-on-hold{tag}.png"))
        assert await serious_violations(a) == [], "on-hold"
        assert await in_view(a, "#hangup-button")
        await a.page.click("#hangup-button")
        await b.wait_state("registered")
        await a.page.context.close()
        await b.page.context.close()


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.firefox
async def test_firefox_registered_and_in_call_pass_axe(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a = await open_phone(a_url, width=420, height=760, engine="firefox")
    b = await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await serious_violations(a) == [], "registered"
    assert await brand_whole(a) and await in_view(a, "#call-button")
    await connect_call(a, b, username_of(b_url), typed=True)
    await a.page.screenshot(path=save_screenshot_path("a11y-firefox-in-call.png"))
    assert await serious_violations(a) == [], "in-call"
    assert await in_view(a, "#hangup-button") and await in_view(a, "#mute-button")
    await hang_up_reaches(a, b)
    assert a.errors == []


@pytest.mark.stack
@pytest.mark.browser
async def test_on_hold_looks_unlike_in_call(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    await connect_call(a, b, username_of(b_url), typed=True)
    look = """(() => {
        const s = getComputedStyle(document.getElementById('call-state'));
        const p = getComputedStyle(document.getElementById('call'));
        return [s.color, s.backgroundColor, p.backgroundColor];
    })()"""
    live = await a.page.evaluate(look)
    await a.page.click("#hold-button")
    await until(lambda: a.text("#call-state"), lambda t: t == "On hold", "on hold")
    held = await a.page.evaluate(look)
    assert all(x != y for x, y in zip(live, held, strict=True)), (live, held)
    assert contrast(held[0], held[1]) >= 4.5


@pytest.mark.stack
@pytest.mark.browser
async def test_the_focus_ring_stands_out(service, open_phone) -> None:
    a = await open_phone(service.url())
    await a.wait_state("registered")
    for selector in ("#number", "#keypad button[data-key='5']", "#call-button", "details#settings summary"):
        await a.page.focus(selector)
        await a.page.keyboard.press("Shift+Tab")
        await a.page.keyboard.press("Tab")  # reached by keyboard: :focus-visible
        ring = await a.page.eval_on_selector(selector, """(el) => {
            const s = getComputedStyle(el);
            let bg = 'rgb(255, 255, 255)';
            for (let p = el.parentElement; p; p = p.parentElement) {
                const c = getComputedStyle(p).backgroundColor;
                if (c !== 'rgba(0, 0, 0, 0)') { bg = c; break; }
            }
            return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
                     around: bg, focused: document.activeElement === el };
        }""")
        assert ring["focused"] and ring["style"] == "solid" and ring["width"] >= 2, (selector, ring)
        assert contrast(ring["color"], ring["around"]) >= 3, (selector, ring)


@pytest.mark.stack
@pytest.mark.browser
async def test_expired_and_error_pages_pass_axe(service, open_phone) -> None:
    expired = await open_phone(service.url(expire_date="2020-01-01T00:00:00Z"), width=420, height=760, bypass_csp=True)
    await expired.wait_state("expired")
    assert await serious_violations(expired) == [], "expired"
    error = await open_phone(f"{service.base}/TForge-OmniSense-Webphone.html?server=x", width=420, height=760,
                             bypass_csp=True)
    await error.wait_state("error")
    assert await serious_violations(error) == [], "error"
    await error.page.screenshot(path=save_screenshot_path("a11y-error.png"))


@pytest.mark.stack
@pytest.mark.browser
async def test_reconnecting_shows_why_counts_down_offers_retry_and_announces(service: Service, open_phone) -> None:
    a = await open_phone(service.url(debug_html=True), width=420, height=760, bypass_csp=True)
    await a.wait_state("registered")
    port = service.server.port
    await service.server.close()  # the service goes away under the registered page
    await a.wait_state("reconnecting")
    await until(lambda: a.text("#announce-status"), lambda t: t.startswith("Connection lost"), "link lost announced")
    text = await until(lambda: a.text("#link-text"), lambda t: "next try in" in t, "the retry countdown")
    assert re.search(r"Reconnecting \(.+\): next try in \d+ s\.", text), text
    assert await a.page.is_visible("#retry-now")
    assert await serious_violations(a) == [], "reconnecting"
    await a.page.screenshot(path=save_screenshot_path("a11y-reconnecting.png"))
    # Back again on the same port while the next try is seconds away: "Retry now" connects at once.
    def seconds_to_next_try(text: str) -> int:
        found = re.search(r"next try in (\d+) s", text)
        return int(found.group(1)) if found else 0
    await until(lambda: a.text("#link-text"), lambda t: seconds_to_next_try(t) >= 3,
                "a retry three seconds or more away", timeout=20)
    again = TestServer(create_app(service.settings), host="127.0.0.1", port=port)
    await again.start_server()
    try:
        await a.page.click("#retry-now")
        await a.wait_state("registered", timeout=10)
        assert "reconnecting now (asked by the agent)" in await a.text("#debug-log")
        await until(lambda: a.text("#announce-status"), lambda t: t == "Connection restored", "link back announced")
        assert await a.page.is_hidden("#link")
    finally:
        await again.close()
