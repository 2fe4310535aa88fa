"""deploy/haproxy/: the repository's HAProxy configuration really in front of two service instances.

The browser's side of it (a host killed mid-call, a rolling restart of both) is in
tests/webphone/test_several_hosts.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from contextlib import AsyncExitStack
from urllib.parse import urlencode

import aiohttp
import pytest

from devstack import haproxy
from service.config import load_settings
from tests.sip_proxy.helpers import new_username, session_query

from .balancer import active_sessions
from .conftest import TwoHosts, free_port, hosts_behind_haproxy
from .test_nginx import wait_for_line

# The service's own 429 for one session key too many (service/sip_proxy/routes.py builds the same body).
TOO_MANY = {"message": "this session already has 5 connections open", "reason": "too_many_sessions", "status": 429}


def test_the_loopback_config_replaces_every_production_value(tmp_path) -> None:
    text = haproxy.loopback_config(haproxy.DEPLOY_CONF.read_text(), port=8400, service_ports=(8401, 8402),
                                   admin_socket=tmp_path / "admin.sock")
    directives = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "10.0.0." not in directives and "/etc/" not in directives and "/run/" not in directives
    assert "bind 127.0.0.1:8400" in text and "daemon" not in directives
    assert "server host1 127.0.0.1:8401" in text and "server host2 127.0.0.1:8402" in text


def test_the_loopback_config_is_valid_for_debians_haproxy(deploy_tools: None, tmp_path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy.loopback_config(haproxy.DEPLOY_CONF.read_text(), port=8400, service_ports=(8401, 8402),
                                              admin_socket=tmp_path / "admin.sock"))
    checked = subprocess.run([haproxy.BINARY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_balancers_cap_and_answer_are_the_services_own() -> None:
    text = haproxy.DEPLOY_CONF.read_text()
    [cap] = re.findall(r"\{ sc0_conn_cur gt (\d+) \}", text)
    [body] = re.findall(r"string '(\{.*?\})'", text)
    assert int(cap) == load_settings({"AUTH_KEY_SECRET": "x" * 32}).max_sessions_per_key == 5
    assert json.loads(body) == TOO_MANY
    # The query string holds the auth_key: no log format that includes it.
    log_format = next(line for line in text.splitlines() if line.strip().startswith("log-format"))
    assert "%HPO" in log_format and not re.search(r"%(r|HU|HQ)\b", log_format)
    assert not any(line.split("#", 1)[0].strip().startswith("option httplog") for line in text.splitlines())


@pytest.mark.stack
async def test_the_per_key_cap_holds_across_both_hosts(two_hosts: TwoHosts, stack_env) -> None:
    front = two_hosts.balancer
    await front.wait_states({"host1": "UP", "host2": "UP"})
    query = session_query(stack_env["AUTH_KEY_SECRET"], new_username())
    url = f"ws://127.0.0.1:{front.port}/ws?{urlencode(query)}"
    async with aiohttp.ClientSession() as http, AsyncExitStack() as opened:
        sockets = []
        for _ in range(5):
            sockets.append(await opened.enter_async_context(
                http.ws_connect(url, protocols=("sip",), origin=front.base)))
        # Spread over both hosts (the fewest connections first), so neither host's own cap of 5 is reached.
        per_host = [await active_sessions(port) for port in two_hosts.service_ports]
        assert sum(per_host) == 5 and min(per_host) >= 1, per_host
        upgrade = {"Origin": front.base, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "sip"}
        async with http.get(url, headers=upgrade) as refused:
            assert refused.status == 429
            assert refused.headers["Content-Type"] == "application/json"
            assert await refused.json() == TOO_MANY
        # Another key is not affected, and one closed session makes room for the next.
        other = session_query(stack_env["AUTH_KEY_SECRET"], new_username())
        async with http.ws_connect(f"ws://127.0.0.1:{front.port}/ws?{urlencode(other)}", protocols=("sip",),
                                   origin=front.base):
            pass
        await sockets[0].close()
        # HAProxy counts the closed one out when its tunnel ends, a moment after the close handshake.
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            try:
                again = await opened.enter_async_context(http.ws_connect(url, protocols=("sip",), origin=front.base))
                break
            except aiohttp.WSServerHandshakeError as error:
                assert error.status == 429 and asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        assert not again.closed
    # HAProxy logged the sessions by path: the auth_key never appears in its log.
    log = await wait_for_line(front.log, "GET /ws HTTP/1.1")
    assert " 429 " in log and query["auth_key"] not in log


@pytest.mark.stack
async def test_a_host_whose_pbx_is_down_gets_no_new_sessions(deploy_tools: None, stack_env, tmp_path) -> None:
    # host2's PBX is a port nothing listens on: its /readyz says 503, so the checks take it out.
    dead_pbx = free_port()
    with hosts_behind_haproxy(stack_env, tmp_path, {"SIP_UPSTREAM": f"ws://127.0.0.1:{dead_pbx}"}) as hosts:
        front = hosts.balancer
        await front.wait_states({"host1": "UP", "host2": "DOWN"})
        async with aiohttp.ClientSession() as http, AsyncExitStack() as opened:
            for _ in range(3):
                query = session_query(stack_env["AUTH_KEY_SECRET"], new_username())
                ws = await opened.enter_async_context(http.ws_connect(
                    f"ws://127.0.0.1:{front.port}/ws?{urlencode(query)}", protocols=("sip",), origin=front.base))
                assert not ws.closed
            assert [await active_sessions(port) for port in hosts.service_ports] == [3, 0]
