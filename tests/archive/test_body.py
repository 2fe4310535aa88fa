"""How the archive and dearchive routes read a body: keys given twice, a body dribbled in, a client that leaves."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from service.archive.handler import ARCHIVE_STATE

from .conftest import AUTH, DEARCHIVE_PATH, PATH, post

pytestmark = pytest.mark.stack

ROUTES = pytest.mark.parametrize("path", [PATH, DEARCHIVE_PATH])


@contextlib.asynccontextmanager
async def raw_connection(host: str, port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        yield reader, writer
    finally:
        writer.close()


def headers(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


@ROUTES
async def test_a_key_given_twice_is_the_documented_500(client, fresh_db, path) -> None:
    ids = fresh_db.add_leads(1)
    before = fresh_db.snapshot()
    status, answer = await post(client, f'{{"insert_leads": true, "update_leads": true, "delete_leads": true,'
                                        f' "delete_leads": false, "lead_ids": {ids}}}', path=path)
    assert (status, answer) == (500, {
        "message": 'request body is not valid JSON: the key "delete_leads" appears twice in one object, at line 1,'
                   " position 68 the second time", "lead_errors": 0, "lead_ids": [], "status": 500})
    assert fresh_db.snapshot() == before


@ROUTES
async def test_a_dribbled_body_is_answered_408_and_the_connection_closed(aiohttp_client, archive_app, fresh_db,
                                                                         path) -> None:
    app = archive_app()
    app[ARCHIVE_STATE] = dataclasses.replace(app[ARCHIVE_STATE], body_timeout=0.5)
    # After answering, aiohttp reads and drops what still comes for lingering_time (10 s by default), then closes.
    client = await aiohttp_client(app, server_kwargs={"lingering_time": 1})
    async with raw_connection(client.server.host, client.server.port) as (reader, writer):
        writer.write(headers(path, 1000) + b"{")

        async def dribble() -> None:
            # A byte at a time, as a slow-loris client does, for far longer than both bounds.
            with contextlib.suppress(ConnectionError):
                for _ in range(600):
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.05)

        dribbler = asyncio.create_task(dribble())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                         .split(b":")[1])
            answer = await reader.readexactly(length)
            with contextlib.suppress(ConnectionResetError):  # the end of the connection, while still sending
                assert await asyncio.wait_for(reader.read(), 20) == b""
            assert not dribbler.done()
        finally:
            dribbler.cancel()
    assert head.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in head
    assert answer == (b'{"message": "request body was not received within 0.5 s", "lead_errors": 0,'
                      b' "lead_ids": [], "status": 408}')


@ROUTES
@pytest.mark.parametrize("handler_cancellation", [False, True])  # python -m service serve; aiohttp's test server
async def test_a_client_leaving_mid_body_is_a_client_abort(archive_app, fresh_db, path, caplog,
                                                           handler_cancellation) -> None:
    runner = web.AppRunner(archive_app(), handler_cancellation=handler_cancellation)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        await _leave_mid_body(host, port, path, caplog)
    finally:
        await runner.cleanup()


async def _leave_mid_body(host: str, port: int, path: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with raw_connection(host, port) as (_, writer):
            writer.write(headers(path, 500) + b'{"insert_leads": tr')
            await writer.drain()
        for _ in range(200):  # until the handler has seen the connection go
            if any("status=client_abort" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if r.name == "service.archive"]
    assert len(lines) == 1
    assert lines[0].startswith(f"{'archive' if path == PATH else 'dearchive'} key=tester ids=- status=client_abort"
                               " the client closed the connection before sending the whole body")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no "unhandled error", no traceback
    async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/metrics") as resp:
        text = await resp.text()
    assert f'archive_client_aborts_total{{route="{path}"}} 1.0' in text
    assert f'archive_requests_total{{route="{path}"' not in text  # counted apart from answered requests
