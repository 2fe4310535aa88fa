"""`python -m service webphone-url` and `python -m service loadtest`, run as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from service.sip_proxy import agents
from service.sip_proxy.ua import Agent

from .helpers import in_, new_username

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", *args, cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None  # communicate() returns once the process has exited
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.stack
async def test_a_minted_url_opens_a_session_that_registers(relay, stack_env):
    username = new_username()
    password = agents.agent_password(agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), username)
    expires = in_(3600)
    code, out, err = await run_cli(
        "webphone-url", "--customer-id", "7", "--user-id", username, "--username", username, "--password", password,
        "--expires", expires, "--base-url", "https://phone.example.com", "--turn-port", "3479", "--debug-html",
        "--crm-origin", "https://crm.example.com", env=stack_env)
    assert code == 0, err
    url = urlsplit(out.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "phone.example.com", "/TForge-OmniSense-Webphone.html")
    params = dict(parse_qsl(url.query))
    assert params["server"] == "phone.example.com" and params["turn_port"] == "3479"
    assert params["password"] == password and params["expire_date"] == expires
    assert params["debug_html"] == "true" and "debug_console" not in params
    assert params["crm_origin"] == "https://crm.example.com"

    session = {k: params[k] for k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
    ws = await relay.ws_connect(f"/ws?{urlencode(session)}", protocols=("sip",))
    agent = Agent(ws, params["username"], params["password"], timeout=5)
    agent.start()
    try:
        await agent.register()
    finally:
        await agent.close()


async def test_webphone_url_refuses_a_bad_date() -> None:
    code, out, err = await run_cli("webphone-url", "--customer-id", "1", "--user-id", "1", "--username", "a",
                                   "--password", "p", "--expires", "next tuesday",
                                   env={"AUTH_KEY_SECRET": "cli-test-secret-0123456789"})
    assert code == 2 and "ISO 8601" in err and not out


@pytest.mark.stack
async def test_loadtest_through_the_relay_ends_with_a_json_line(relay):
    url = f"ws://{relay.server.host}:{relay.server.port}/ws"
    code, out, err = await run_cli("loadtest", "--agents", "6", "--duration", "1.5", "--hold", "0.2",
                                   "--first-user", new_username(), "--url", url, "--json", env={})
    assert code == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["agents"] == result["registered"] == 6
    assert result["calls_completed"] >= 3 and result["calls_attempted"] >= result["calls_completed"]
    assert result["errors"] == 0 and result["errors_by_status"] == {}
    for key in ("register_ms", "call_setup_ms"):
        assert set(result[key]) == {"p50", "p95", "p99", "max"} and result[key]["max"] > 0
    assert result["messages_per_s"] > 0
    assert "registered 6/6" in err  # the progress line


@pytest.mark.stack
async def test_loadtest_exits_1_when_agents_fail(relay):
    url = f"ws://{relay.server.host}:{relay.server.port}/ws"
    code, out, _err = await run_cli("loadtest", "--agents", "2", "--duration", "0", "--agent-secret", "wrong",
                                   "--first-user", new_username(), "--url", url, "--json", env={})
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and result["registered"] == 0 and result["errors_by_status"] == {"401": 2}


@pytest.mark.stack
async def test_loadtest_counts_a_connection_lost_mid_call_as_an_error(stack_env):
    """A socket that closes under a caller is an error in the report, not a crash of the whole run."""
    import argparse
    import time

    import aiohttp

    from service.sip_proxy.loadtest import LoadTest

    from .helpers import direct_to_kamailio

    args = argparse.Namespace(agents=2, hold=0.0, agent_secret=None)
    test = LoadTest(args, stack_env["AUTH_KEY_SECRET"], "unused", out_json=False)
    async with aiohttp.ClientSession() as http:
        ws = await direct_to_kamailio(stack_env, http)
        await ws.close()  # gone before the caller notices (its reader never ran)
        caller = Agent(ws, new_username(), "pw")
        callee = Agent(ws, new_username(), "pw")
        await test.caller(caller, callee, b"v=0\r\n", time.monotonic() + 0.5)
    assert test.calls_attempted >= 1 and test.calls_completed == 0
    assert sum(test.errors.values()) == test.calls_attempted and set(test.errors) == {"connect"}
