"""What the page says without being looked at: live regions, the tab title, desktop notifications."""

from __future__ import annotations

import pytest

from .conftest import PhonePage, until
from .test_calls import username_of

pytestmark = [pytest.mark.stack, pytest.mark.browser]

TITLE = "TForge OmniSense Webphone"

# Counts permission requests and records each notification shown (the real ones are still made).
RECORD_NOTIFICATIONS = """
window.__asked = 0;
window.__shown = [];
const Real = window.Notification;
const ask = Real.requestPermission.bind(Real);
Real.requestPermission = (...args) => { window.__asked += 1; return ask(...args); };
window.Notification = class extends Real {
  constructor(title, options) { super(title, options); window.__shown.push(options?.body ?? ''); }
};
"""


async def said(phone: PhonePage, region: str, text: str) -> None:
    await until(lambda: phone.text(f"#announce-{region}"), lambda t: t == text, f"{region}: {text!r}")


async def test_each_step_of_a_call_is_announced_and_the_title_flashes_while_it_rings(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url)
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await b.page.get_attribute("#announce-alert", "aria-live") == "assertive"
    assert await b.page.get_attribute("#announce-status", "aria-live") == "polite"
    await a.page.fill("#number", username_of(b_url))
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    a_name = username_of(a_url)
    await said(b, "alert", f"Incoming call from {a_name}")
    # The title flashes: the call, the page's own title, the call again.
    for title in (f"📞 Incoming call from {a_name}", TITLE, f"📞 Incoming call from {a_name}"):
        await b.page.wait_for_function("t => document.title === t", arg=title, timeout=5000)
    await b.page.click("#answer-button")
    await said(b, "status", f"Call connected with {a_name}")
    assert await b.page.title() == TITLE
    await b.page.click("#hold-button")
    await said(b, "status", "Call on hold")
    await b.page.click("#hold-button")
    await said(b, "status", "Call resumed")
    await a.page.click("#hangup-button")
    await said(b, "status", "Call ended (Remote hangup)")
    assert await b.page.title() == TITLE


async def test_notification_permission_is_asked_only_on_a_click(service, open_phone) -> None:
    a = await open_phone(service.url(), init_script=RECORD_NOTIFICATIONS)
    await a.wait_state("registered")
    assert await a.page.evaluate("window.__asked") == 0
    assert await a.page.evaluate("Notification.permission") == "default"
    await a.page.click("details#settings summary")
    await a.page.click("#notify-button")
    await until(lambda: a.page.evaluate("window.__asked"), lambda n: n == 1, "permission asked once, on the click")


async def test_a_call_ringing_in_a_hidden_tab_shows_a_desktop_notification(service, open_phone) -> None:
    a_url, b_url = service.url(), service.url()
    a = await open_phone(a_url)
    b = await open_phone(b_url, init_script=RECORD_NOTIFICATIONS, permissions=["notifications"])
    await a.wait_state("registered")
    await b.wait_state("registered")
    await a.page.fill("#number", username_of(b_url))
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    assert await b.page.evaluate("window.__shown") == []  # the tab is in view: no notification
    await a.page.click("#hangup-button")
    await b.wait_state("registered")

    # Headless Chromium never hides a tab, so the page is told it is hidden the way a browser says it.
    await b.page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    await a.page.click("#call-button")
    await b.wait_state("ringing")
    await until(lambda: b.page.evaluate("window.__shown"), lambda s: s == [f"Incoming call from {username_of(a_url)}"],
                "the desktop notification")
    await a.page.click("#hangup-button")
    await b.wait_state("registered")
