"""The page's modules (static/js/*.js) checked against the Python side that must agree with them, in Chromium.

The pure tests of those modules are `node --test` files under tests/js/; what stays here compares the page's code
with the server's own parser and name rule, and with the load tester's copy of the back-off. They need the browser,
not the local stack: the page comes from an app with no database, PBX or TURN server.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from service.app import create_app
from service.sip_proxy.session import USERNAME, parse_expire_date

VALID = {
    "auth_key": "abc_DEF-123", "server": "phone.example.com:8443", "turn_port": "3478", "customer_id": "7",
    "user_id": "1001", "username": "agent.1001", "password": "p&ss word", "expire_date": "2099-01-01T08:00:00Z",
}


@pytest.fixture
async def modules(make_settings, browser: Browser) -> AsyncIterator[Page]:
    """A page at the service's origin with the page's modules importable (`await import('/static/js/...')`)."""
    # Nothing listens on port 1: serving the page and its modules needs no database.
    server = TestServer(create_app(make_settings({"DATABASE_URL": "mysql://nobody:x@127.0.0.1:1/none"})),
                        host="127.0.0.1", port=None)
    await server.start_server()
    try:
        page = await browser.new_page()
        await page.goto(str(server.make_url("/TForge-OmniSense-Webphone.html")))
        yield page
    finally:
        await server.close()


async def validate(page, entries, now=None):
    return await page.evaluate(
        """async ([entries, now]) => {
            const { validateParams } = await import('/static/js/params.js');
            const r = validateParams(entries, now ?? Date.now());
            return { problems: r.problems.map((p) => p.message), expired: r.expired, params: r.params };
        }""",
        [entries, now],
    )


EXPIRE_DATES = [
    "2026-12-01T17:00:00Z", "2026-12-01T17:00:00+02:00", "2026-12-01 17:00:00", "2026-12-01T17:00",
    "2026-12-01T17:00:00.250-05:30", "2026-12-01", "2026-12-01T17:00:00+0530", "2026-13-01T00:00:00Z", "soon", "",
    # The edges of what a datetime holds, and two-digit years (which Date.UTC would read as 19xx).
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59+23:59",
    "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59.999Z", "0001-01-01T00:59:59+01:00", "0001-01-01T01:00:00+01:00",
    "0050-06-01T12:00:00Z", "0000-01-01T00:00:00Z",
]


@pytest.mark.browser
async def test_expire_date_reads_as_the_server_reads_it(modules) -> None:
    page_ms = await modules.evaluate(
        "async (texts) => { const m = await import('/static/js/params.js');"
        " return texts.map((t) => { const v = m.parseExpireDate(t); return Number.isFinite(v) ? v : null; }); }",
        EXPIRE_DATES)
    for text, ms in zip(EXPIRE_DATES, page_ms, strict=True):
        try:
            server_ms = round(parse_expire_date(text).timestamp() * 1000)
        except ValueError:
            server_ms = None
        assert ms == server_ms, text


@pytest.mark.browser
async def test_username_rule_matches_the_server(modules) -> None:
    for name in ["1001", "agent.x", "a-b_c~d", "o'neil", "x+y=z", "a b", "é", "a@b", "a/b", "x" * 64]:
        result = await validate(modules, list({**VALID, "username": name}.items()))
        assert (result["problems"] == []) == bool(USERNAME.fullmatch(name)), name


@pytest.mark.browser
async def test_the_load_testers_back_off_is_the_pages(modules) -> None:
    # The reconnect-storm benchmark simulates pages with tools.sipload.reconnect.page_delay.
    from tools.sipload.reconnect import page_delay

    attempts, randoms = [0, 1, 2, 3, 5, 6, 7, 40], [0, 0.25, 0.5, 0.9, 1]
    page = await modules.evaluate(
        """async ([attempts, randoms]) => {
        const { backoffDelay } = await import('/static/js/watchdog.js');
        return attempts.map((n) => randoms.map((r) => backoffDelay(n, { random: () => r })));
        }""",
        [attempts, randoms],
    )
    ours = [[round(page_delay(n, functools.partial(float, r)) * 1000) for r in randoms] for n in attempts]
    assert ours == page
