"""deploy/nginx/: the repository's nginx configuration really in front of the service, over TLS."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from devstack import nginx
from tests.sip_proxy.helpers import kamailio_lookup, new_username, session_query
from tools.sipload import agents
from tools.sipload.ua import Agent

from .conftest import Fronted

pytestmark = pytest.mark.stack


async def wait_for_line(path: Path, needle: str, timeout: float = 10.0) -> str:
    """The file's text once it holds `needle` (checked as it grows), or fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        text = await asyncio.to_thread(path.read_text)
        if needle in text:
            return text
        assert asyncio.get_running_loop().time() < deadline, f"{needle!r} never appeared in {path}:\n{text}"
        await asyncio.sleep(0.05)


def test_the_loopback_config_replaces_every_production_value(tmp_path) -> None:
    text = nginx.loopback_config(nginx.DEPLOY_CONF.read_text(), https_port=1443, http_port=1080, service_port=18080,
                                 cert=tmp_path / "c.pem", key=tmp_path / "k.pem", logs=tmp_path)
    directives = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "example.com" not in directives and "/etc/" not in directives and "/var/" not in directives
    assert "listen 127.0.0.1:1443 ssl;" in text and "server 127.0.0.1:18080;" in text


async def test_the_page_loads_over_https_through_nginx(fronted: Fronted) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{fronted.base}/TForge-OmniSense-Webphone.html", ssl=fronted.ssl) as resp:
        assert resp.status == 200
        assert "Content-Security-Policy" in resp.headers and "Strict-Transport-Security" in resp.headers
        assert "<title>" in await resp.text()
    # nginx logs the request once it is answered, with the path only (its format has no $request or $args).
    await wait_for_line(fronted.nginx_dir / "access.log", '"GET /TForge-OmniSense-Webphone.html HTTP/1.1" 200')


async def test_turn_credentials_through_nginx(fronted: Fronted, stack_env) -> None:
    query = session_query(stack_env["AUTH_KEY_SECRET"], new_username())
    async with aiohttp.ClientSession() as http:
        url = f"{fronted.base}/webphone/turn-credentials?{urlencode({**query, 'turn_port': '3478'})}"
        async with http.get(url, ssl=fronted.ssl, headers={"Origin": fronted.base}) as resp:
            body = await resp.json()
    assert resp.status == 200, body
    assert body["uris"] == ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]
    assert body["username"].split(":")[1:3] == ["1", query["username"]] and body["password"]


async def test_a_session_registers_through_nginx_wss(fronted: Fronted, stack_env) -> None:
    username = new_username()
    query = session_query(stack_env["AUTH_KEY_SECRET"], username)
    password = agents.agent_password(agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), username)
    async with aiohttp.ClientSession() as http:
        # The page's own https origin: the service accepts it only because nginx (trusted) says the scheme.
        ws = await http.ws_connect(f"wss://{fronted.host}/ws?{urlencode(query)}", protocols=("sip",),
                                   origin=fronted.base, ssl=fronted.ssl)
        agent = Agent(ws, username, password, timeout=5)
        agent.start()
        try:
            await agent.register()
            assert kamailio_lookup(username)
            # CRLF keep-alive through nginx and back (the page's 30 s heartbeat).
            await ws.send_str("\r\n\r\n")
        finally:
            await agent.close()
    # The service logs the session when it ends, a moment after the close: wait for that line.
    log = await wait_for_line(fronted.service_log, '"GET /ws" 101')
    assert query["auth_key"] not in log
    assert query["auth_key"] not in await wait_for_line(fronted.nginx_dir / "access.log", '"GET /ws HTTP/1.1" 101')


async def test_a_foreign_origin_is_still_refused_through_nginx(fronted: Fronted, stack_env) -> None:
    query = session_query(stack_env["AUTH_KEY_SECRET"], new_username())
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"wss://{fronted.host}/ws?{urlencode(query)}", protocols=("sip",),
                                  origin="https://evil.example.com", ssl=fronted.ssl)
    assert info.value.status == 403
