"""`python -m service webphone-url`, run as a user would."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tools.sipload import agents
from tools.sipload.ua import Agent

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
