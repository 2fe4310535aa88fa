"""How the service serves the page, its assets and sip.js (no browser, no stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import webphone
from service.app import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(aiohttp_client, make_settings):
    settings = make_settings({"ALLOWED_ORIGINS": "https://crm.example.com"})
    return await aiohttp_client(create_app(settings))


async def test_the_page_is_served_no_store_no_referrer_with_a_strict_csp(client) -> None:
    response = await client.get("/TForge-OmniSense-Webphone.html?crm_origin=https://other.example.org:8443")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    host = f"{client.server.host}:{client.server.port}"
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert csp["frame-ancestors"] == "'self' https://crm.example.com https://other.example.org:8443"
    assert "TForge OmniSense Webphone" in await response.text()


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "https://a.example.com/path", "https://a.example.com;x",
                                 "https://a.example.com 'unsafe-inline'", "https://user@a.example.com", "*"])
async def test_a_bad_crm_origin_never_reaches_the_csp(client, bad) -> None:
    response = await client.get("/TForge-OmniSense-Webphone.html", params={"crm_origin": bad})
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors 'self' https://crm.example.com")


async def test_root_redirects_to_the_page_with_its_query(client) -> None:
    response = await client.get("/?server=x&username=1001", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/TForge-OmniSense-Webphone.html?server=x&username=1001"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_sip_js_0_15_11_comes_unchanged_from_the_npm_package(client) -> None:
    response = await client.get(webphone.SIP_JS_ROUTE)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert await response.read() == (ROOT / "node_modules/sip.js/dist/sip.min.js").read_bytes()
    assert json.loads((ROOT / "node_modules/sip.js/package.json").read_text())["version"] == "0.15.11"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/sip.js"]["version"] == "0.15.11"
    assert not list((ROOT / "static").rglob("sip*.js"))  # never copied into the repo


async def test_assets_are_served_and_nothing_outside_static(client) -> None:
    response = await client.get("/static/js/main.js")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    for path in ("/static/../service/app.py", "/static/%2e%2e/service/app.py", "/static/.hidden",
                 "/static/js/", "/static/nothing.js"):
        assert (await client.get(path)).status == 404, path


def test_resolve_asset_stays_inside_static() -> None:
    assert webphone.resolve_asset("js/params.js") == webphone.STATIC_DIR / "js" / "params.js"
    for bad in ("../pyproject.toml", "js/../../pyproject.toml", "/etc/passwd", "js//params.js", ".git", ""):
        assert webphone.resolve_asset(bad) is None, bad
