"""A full Asterisk (http.conf `sessionlimit` reached) told apart from a down one, on a real Asterisk of the test's own
with a sessionlimit of 2: the next WebSocket is closed unanswered, and the relay says `upstream full`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from devstack import asterisk
from service.app import create_app
from tests.deploy.processes import running
from tests.sip_proxy.helpers import session_query
from tests.webphone.conftest import Service, free_port, until
from tools.sipload import agents

from .conftest import POOL, Pbx

pytestmark = [pytest.mark.stack]

LIMIT = 2


@pytest.fixture
def full_asterisk(asterisk_stack, tmp_path) -> Iterator[asterisk.Instance]:
    """A chan_sip Asterisk of the test's own that takes LIMIT HTTP sessions."""
    inst = dataclasses.replace(asterisk.CHAN_SIP, name="asterisk-full", ws_port=free_port(), wss_port=free_port(),
                               sip_port=free_port(), rtp_ports=(32200, 32219), session_limit=LIMIT, state=tmp_path)
    asterisk.write_config(inst, asterisk_stack)
    with running(asterisk.command(inst), inst.ws_port, tmp_path / "asterisk-full.out"):
        asterisk.wait_fully_booted(inst)  # /ws exists once its modules are loaded, not when the port opens
        yield inst


@contextlib.asynccontextmanager
async def sessions(url: str, count: int) -> AsyncIterator[list[aiohttp.ClientWebSocketResponse]]:
    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(http.ws_connect(url, protocols=("sip",))) for _ in range(count)]


async def test_the_connection_past_sessionlimit_is_closed_as_upstream_full(full_asterisk, aiohttp_client,
                                                                           make_settings, asterisk_stack) -> None:
    settings = make_settings({**asterisk_stack, "SIP_UPSTREAM": full_asterisk.ws_url})
    client = await aiohttp_client(create_app(settings))

    async def readiness() -> str:
        return (await (await client.get("/readyz")).json())["checks"]["sip_upstream"]
    mark = full_asterisk.log_file.stat().st_size
    async with sessions(full_asterisk.ws_url, LIMIT):
        # The agent's leg would be session LIMIT + 1: Asterisk closes it without an HTTP answer.
        query = session_query(settings.auth_key_secret, POOL())
        async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013 and msg.extra == "upstream full"
        assert "full" in await readiness()

        def logged() -> str:
            with open(full_asterisk.log_file, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        await until(lambda: asyncio.to_thread(logged), lambda text: f"exceeded {LIMIT} sessions" in text,
                    "Asterisk logging the session limit")

    # Once those sessions end, the PBX takes connections again.
    await until(readiness, lambda check: check == "ok", "the PBX taking connections again")


@pytest.mark.browser
async def test_the_page_tells_the_agent_the_phone_system_is_full(full_asterisk, asterisk_stack, make_settings,
                                                                 open_phone) -> None:
    # wss, as agents reach chan_sip (its peers take no plain ws).
    settings = Pbx(full_asterisk).settings(make_settings(asterisk_stack))
    server = TestServer(create_app(settings), host="127.0.0.1", port=None)
    await server.start_server()
    try:
        service = Service(settings, settings.turn_port, agents.agent_secret(asterisk_stack["AUTH_KEY_SECRET"]),
                          server=server, new_username=POOL)
        async with sessions(full_asterisk.ws_url, LIMIT):
            a = await open_phone(service.url())
            await until(lambda: a.text("#link-text"), lambda text: "the phone system is full" in text,
                        "the page naming the full PBX")
            assert await a.state() == "connecting"
        await a.wait_state("registered", timeout=30)  # a place is free again: the next try gets in
    finally:
        await server.close()
