"""The page's pure modules (static/js/*.js), run in Chromium: parameters, redaction, back-off, commands.

They need the browser, not the local stack: the page comes from an app with no database, PBX or TURN server.
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


@pytest.mark.browser
async def test_parameters_in_any_order_validate(modules) -> None:
    entries = list(VALID.items())
    for order in (entries, entries[::-1], entries[3:] + entries[:3] + [("vendor_extra", "x")]):
        result = await validate(modules, order)
        assert result["problems"] == [] and not result["expired"]
        assert result["params"]["turn_port"] == 3478 and result["params"]["password"] == "p&ss word"


MALFORMED = [
    ("auth_key", "has space", "auth_key is malformed"),
    ("server", "", "server is missing"),
    ("server", "wss://phone.example.com", "server must be"),
    ("server", "host:0", "server must be"),
    ("server", "ho st", "server must be"),
    ("turn_port", "65536", "turn_port must be"),
    ("turn_port", "3478.0", "turn_port must be"),
    ("customer_id", "-1", "customer_id must be"),
    ("user_id", "1e3", "user_id must be"),
    ("username", "a b", "username must be"),
    ("username", "x" * 65, "username must be"),
    ("expire_date", "2026-02-30T00:00:00Z", "expire_date must be"),
    ("expire_date", "31/12/2026", "expire_date must be"),
    ("expire_date", "9999-12-31T23:59:59-23:59", "expire_date must be"),
    ("expire_date", "0001-01-01T00:00:00+01:00", "expire_date must be"),
    ("debug_console", "yes", "debug_console must be"),
    ("crm_origin", "https://crm.example.com/path", "crm_origin must be"),
]


@pytest.mark.browser
async def test_each_malformed_parameter_is_named(modules) -> None:
    for name, value, message in MALFORMED:
        result = await validate(modules, list({**VALID, name: value}.items()))
        assert len(result["problems"]) == 1, (name, value, result["problems"])
        assert result["problems"][0].startswith(message), (name, value, result["problems"])


@pytest.mark.browser
async def test_missing_and_repeated_parameters_are_named(modules) -> None:
    entries = [(k, v) for k, v in VALID.items() if k not in ("password", "server")] + [("user_id", "2")]
    result = await validate(modules, entries)
    assert set(result["problems"]) == {"server is missing", "password is missing", "user_id is given more than once"}


@pytest.mark.browser
async def test_expiry_is_judged_against_the_clock(modules) -> None:
    result = await validate(modules, list({**VALID, "expire_date": "2026-01-01T10:00:00+02:00"}.items()),
                            now=1767254400000)  # 2026-01-01T08:00:00Z: exactly then
    assert result["problems"] == [] and result["expired"]


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
async def test_server_must_be_the_pages_own_host(modules) -> None:
    verdicts = await modules.evaluate("""async () => {
        const { serverMismatch } = await import('/static/js/params.js');
        const page = { protocol: 'https:', host: 'phone.example.com' };
        return [serverMismatch('phone.example.com', page), serverMismatch('PHONE.example.com:443', page),
                serverMismatch('phone.example.com:8443', page), serverMismatch('evil.example.net', page)];
    }""")
    assert verdicts[:2] == [None, None]
    assert all("phone.example.com" in v for v in verdicts[2:])


@pytest.mark.browser
async def test_redaction_removes_secrets_in_every_form(modules) -> None:
    out = await modules.evaluate("""async () => {
        const { redact } = await import('/static/js/log.js');
        const secrets = ['p&ss word/+', 'KEY_abc-123'];
        return redact('pw p&ss word/+ enc p%26ss%20word%2F%2B form p%26ss+word%2F%2B '
          + 'ws://h/ws?auth_key=KEY_abc-123&x=1 json {"password":"other"} q password=zzz', secrets);
    }""")
    assert "p&ss" not in out and "p%26ss" not in out and "KEY_abc" not in out
    assert '"password":"[redacted]"' in out and "password=[redacted]" in out and "auth_key=[redacted]" in out


@pytest.mark.browser
async def test_backoff_grows_without_limit_but_is_capped(modules) -> None:
    delays = await modules.evaluate("""async () => {
        const { backoffDelay } = await import('/static/js/watchdog.js');
        return [0, 1, 2, 3, 10, 1000].map(
            (n) => [backoffDelay(n, { random: () => 0 }), backoffDelay(n, { random: () => 1 })]);
    }""")
    assert delays[0] == [400, 600] and delays[1] == [800, 1200]
    assert delays[-1] == [24000, 36000] and delays[-2] == delays[-1]


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


@pytest.mark.browser
async def test_numbers_and_crm_commands_are_checked(modules) -> None:
    out = await modules.evaluate("""async () => {
        const { normalizeNumber } = await import('/static/js/phone.js');
        const { parseCommand } = await import('/static/js/crm.js');
        return {
          numbers: ['+27 (11) 555-0100', ' 1002 ', 'sales.team', '1002@evil', '', 'x'.repeat(65)].map(normalizeNumber),
          commands: [{ type: 'dial', number: '1002' }, { type: 'mute', on: 'yes' }, { type: 'dtmf', digits: '' },
                     { type: 'reboot' }, 'dial', { type: 'hold', on: false }].map((c) => parseCommand(c)),
        };
    }""")
    assert out["numbers"] == ["+27115550100", "1002", "sales.team", None, None, None]
    ok, bad_mute, bad_dtmf, unknown, not_object, hold = out["commands"]
    assert ok == [{"type": "dial", "number": "1002"}, None] and hold == [{"type": "hold", "on": False}, None]
    assert bad_mute[0] is None and "on: true or false" in bad_mute[1]
    assert bad_dtmf[0] is None and unknown[0] is None and not_object[0] is None


@pytest.mark.browser
async def test_the_crm_bridge_obeys_only_its_origin_and_window(modules) -> None:
    calls = await modules.evaluate("""async () => {
        const { CrmBridge } = await import('/static/js/crm.js');
        const calls = [];
        const phone = new EventTarget();
        phone.dial = (n) => calls.push(['dial', n]);
        const parent = { postMessage: (m, o) => calls.push(['posted', m.type, o]) };
        const win = new EventTarget();
        win.parent = parent;
        const log = { info() {}, warn() {} };
        new CrmBridge({ origin: 'https://crm.example.com', phone, log, win }).start();
        const send = (origin, source, data) =>
            win.dispatchEvent(Object.assign(new Event('message'), { origin, source, data }));
        send('https://evil.example.net', parent, { type: 'dial', number: '1' });
        send('https://crm.example.com', {}, { type: 'dial', number: '2' });
        send('https://crm.example.com', parent, { type: 'dial', number: '3' });
        send('https://crm.example.com', parent, { type: 'format-disk' });
        phone.dispatchEvent(new CustomEvent('incoming', { detail: { from: '1002', secret: 'x' } }));
        return calls;
    }""")
    assert calls == [
        ["dial", "3"],
        ["posted", "ok", "https://crm.example.com"],
        ["posted", "error", "https://crm.example.com"],
        ["posted", "incoming", "https://crm.example.com"],
    ]
