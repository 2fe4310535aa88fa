"""The PBX's leg over real sockets: keep-alives answered by the relay, a PBX that stops answering pings, and a
full PBX (taken and closed without an HTTP answer) told apart from one that is down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp

from service.app import create_app
from service.sip_proxy import wsframe
from service.sip_proxy.routes import RELAYS, UPSTREAM_CHECK

from .helpers import accept_websocket, full_pbx, loopback_server, session_query

CHECK = 0.2  # the relay's liveness check interval in these tests (UPSTREAM_CHECK_INTERVAL, 15 s, in service)


@contextlib.asynccontextmanager
async def _pbx(*, pong: bool) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A PBX that, like Asterisk, answers no CRLF keep-alive; it answers pings with pongs when `pong`. Its URL
    and every text frame it received."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_websocket(reader, writer)
        frames = wsframe.FrameReader(masked=True, max_size=1 << 20)
        while data := await reader.read(1 << 16):
            for first, payload, key, _raw in frames.feed(data):
                if first & 0x0F == wsframe.Opcode.PING and pong:
                    writer.write(wsframe.encode(wsframe.Opcode.PONG, wsframe.unmask(payload, key), mask=False))
                elif first & 0x0F == wsframe.Opcode.TEXT:
                    received.append(wsframe.unmask(payload, key))
        writer.close()

    async with loopback_server(serve) as url:
        yield url, received


async def _client(aiohttp_client, make_settings, url: str):
    settings = make_settings({"SIP_UPSTREAM": url})
    app = create_app(settings)
    app[UPSTREAM_CHECK] = CHECK
    return await aiohttp_client(app), session_query(settings.auth_key_secret, "1001")


@contextlib.asynccontextmanager
async def _session(aiohttp_client, make_settings, *, pong: bool):
    """A browser session relayed to `_pbx(pong=pong)`: the client, the browser's WebSocket, what the PBX got."""
    async with _pbx(pong=pong) as (url, received):
        client, query = await _client(aiohttp_client, make_settings, url)
        async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
            yield client, ws, received


async def test_keepalives_are_answered_by_the_relay_over_many_intervals_when_the_pbx_answers_none(
        aiohttp_client, make_settings):
    async with _session(aiohttp_client, make_settings, pong=True) as (client, ws, received):
        started = time.monotonic()
        answered = 0
        while time.monotonic() - started < 10 * CHECK:  # ten liveness checks, pings and pongs between
            await ws.send_str("\r\n\r\n")
            msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type is aiohttp.WSMsgType.TEXT and msg.data == "\r\n"
            answered += 1
            await asyncio.sleep(CHECK / 3)
        assert answered >= 10 and not ws.closed
        assert received == []  # no keep-alive reached the PBX
        (relay,) = client.app[RELAYS]
        assert not relay.closing


async def test_a_pbx_that_stops_answering_pings_closes_the_session_with_1013(
        aiohttp_client, make_settings):
    async with _session(aiohttp_client, make_settings, pong=False) as (client, ws, _received):
        started = time.monotonic()
        msg = await asyncio.wait_for(ws.receive(), 5)
        took = time.monotonic() - started
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013
        assert msg.extra == "upstream not responding"
        assert 2 * CHECK <= took < 3 * CHECK + 1  # two silent checks: noticed within two intervals
        metrics = await (await client.get("/metrics")).text()
        assert 'sip_relay_upstream_failures_total{reason="not_responding"} 1.0' in metrics


async def _refused_session(aiohttp_client, make_settings, url: str) -> tuple[str, str, str]:
    """A session before the PBX at `url`, closed with 1013 before it began: the close reason, what /readyz says
    of the PBX, and the metrics."""
    client, query = await _client(aiohttp_client, make_settings, url)
    async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013
    readiness = (await (await client.get("/readyz")).json())["checks"]["sip_upstream"]
    return msg.extra, readiness, await (await client.get("/metrics")).text()


async def test_a_full_pbx_is_told_apart_from_a_down_one(aiohttp_client, make_settings):
    async with full_pbx() as url:
        reason, readiness, metrics = await _refused_session(aiohttp_client, make_settings, url)
    assert reason == "upstream full"
    assert "it is full (Asterisk's sessionlimit)" in readiness
    assert 'sip_relay_upstream_failures_total{reason="full"} 1.0' in metrics
    assert 'sip_relay_upstream_failures_total{reason="unreachable"} 0.0' in metrics


async def test_a_pbx_refusing_connections_is_unavailable_not_full(aiohttp_client, make_settings):
    async with full_pbx() as url:
        pass  # the port is closed again: connections are refused
    reason, readiness, metrics = await _refused_session(aiohttp_client, make_settings, url)
    assert reason == "upstream unavailable"
    assert "unreachable: connection refused" in readiness and "full" not in readiness
    assert 'sip_relay_upstream_failures_total{reason="unreachable"} 1.0' in metrics
    assert 'sip_relay_upstream_failures_total{reason="full"} 0.0' in metrics
