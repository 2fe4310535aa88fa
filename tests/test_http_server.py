"""service.http_server on raw sockets: connections that never finish a request are closed, and bounded.

Each test serves the real app through `http_server.start`, as `python -m service serve` does, with a short
handshake timeout so that no test waits the production 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp
import pytest

from service import http_server
from service.app import create_app
from service.sip_proxy import auth_key
from tests.service_process import service_process

TIMEOUT = 1.0  # the handshake timeout these tests serve with


@contextlib.asynccontextmanager
async def serving(settings, **options) -> AsyncIterator[http_server.Serving]:
    server = await http_server.start(create_app(settings), "127.0.0.1", 0, handshake_timeout=TIMEOUT, **options)
    try:
        yield server
    finally:
        await server.close()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Does the server close the connection (EOF, or a reset) within `seconds`? Reads and drops any answer."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HT", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "])
async def test_a_connection_that_never_finishes_its_request_is_closed(make_settings, sent):
    async with serving(make_settings()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(sent)
            # It is not closed at once (a slow client gets its time)...
            assert not await _closed_within(reader, TIMEOUT / 4)
            # ...but it is, within the timeout (and aiohttp's own 1 s timer granularity).
            assert await _closed_within(reader, TIMEOUT + 3)
        finally:
            writer.close()


async def test_a_complete_request_is_answered_and_its_connection_kept_alive_until_the_timeout(make_settings):
    async with serving(make_settings()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            assert await _closed_within(reader, TIMEOUT + 3)  # then idle: closed like any waiting connection
        finally:
            writer.close()


async def test_at_most_max_pending_connections_wait_and_the_oldest_make_room(make_settings):
    async with serving(make_settings(), max_pending=3) as server:
        conns = []
        try:
            for _ in range(5):
                conns.append(await asyncio.open_connection("127.0.0.1", server.port))
                conns[-1][1].write(b"GET /healthz HT")
                await asyncio.sleep(0)  # each accepted in turn
            # The two oldest are closed to make room, long before the timeout; the three newest still wait.
            assert [await _closed_within(r, TIMEOUT / 4) for r, _ in conns] == [True, True, False, False, False]
            # A client that sends its request at once is served (it closes the next oldest waiting one).
            async with aiohttp.ClientSession() as session, \
                    session.get(f"http://127.0.0.1:{server.port}/healthz") as response:
                assert response.status == 200
            assert server.runner.app[http_server.PENDING].closed_for_room >= 2
        finally:
            for _, writer in conns:
                writer.close()


@pytest.mark.stack
async def test_a_relay_session_outlives_the_handshake_timeout(make_settings, stack_env):
    """A WebSocket is a request in progress: the timeout that closes waiting connections never cuts it."""
    settings = make_settings(stack_env)
    expire = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    query = {"customer_id": "1", "user_id": "1", "username": "1001", "expire_date": expire,
             "auth_key": auth_key.sign(settings.auth_key_secret, 1, 1, "1001", expire)}
    async with serving(settings) as server, aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{server.port}/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        # Nothing for three timeouts (a waiting connection would have been closed: receive would see it)...
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=3 * TIMEOUT)
        # ...and the session still relays.
        await ws.send_str("\r\n\r\n")
        assert (await ws.receive(timeout=5)).data == "\r\n"


# -- requests aiohttp's own parser rejects, against `python -m service serve` ----------------------------------

AK, PW, ARCHIVE_KEY = "AKsecret0123456789", "PWsecret0123456789", "ARCHIVEsecret0123456789"
MALFORMED = {
    "URL over 8,190 bytes": b"GET /TForge-OmniSense-Webphone.html?auth_key=" + AK.encode() + b"&password="
    + PW.encode() + b"&pad=" + b"a" * 8200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bare LF line endings": b"POST /vicidial/leads/archive HTTP/1.1\nHost: x\nAuthorization: Key="
    + ARCHIVE_KEY.encode() + b"\nContent-Type: application/json\nContent-Length: 2\n\n{}",
    "control character in the URL": b"GET /ws?auth_key=" + AK.encode() + b"&password=" + PW.encode()
    + b"\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "invalid UTF-8 in the URL": b"GET /ws?auth_key=" + AK.encode() + b"&password=" + PW.encode()
    + b"\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    "control character in Authorization": b"POST /vicidial/leads/archive HTTP/1.1\r\nHost: x\r\nAuthorization: Key="
    + ARCHIVE_KEY.encode() + b"\x01\r\nContent-Length: 2\r\n\r\n{}",
    "invalid UTF-8 in Authorization": b"POST /vicidial/leads/archive HTTP/1.1\r\nHost: x\r\nAuthorization: Key="
    + ARCHIVE_KEY.encode() + b"\xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/9.9": b"GET /healthz?auth_key=" + AK.encode() + b" HTTP/9.9\r\nHost: x\r\n\r\n",
}


async def _raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(10):
            return await reader.read(1 << 20)  # the server answers, then closes (each answer forces a close)
    finally:
        writer.close()


def _leaks(text: str) -> list[str]:
    """Secrets or query strings in `text`."""
    found = [s for s in (AK, PW, ARCHIVE_KEY, "auth_key=", "password=", "Key=A") if s in text]
    found += re.findall(r"/[\w./-]*\?[^\s\"]+", text)
    return found


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_malformed_requests_leave_no_secret_in_logs_or_answers(log_format: str) -> None:
    async with service_process({"LOG_FORMAT": log_format}, ready="listening on") as service:
        for name, data in MALFORMED.items():
            answer = await _raw_exchange(service.port, data)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1."), (name, answer[:200])
            status = int(head.split()[1])
            assert not _leaks(answer.decode("utf-8", "replace")), (name, answer[:300])
            if status == 400:  # refused by aiohttp's parser: JSON like every other error
                assert b"application/json" in head.lower() and json.loads(body)["status"] == 400, (name, answer)
            else:
                assert status in (401, 403), (name, answer[:200])  # parsed, then refused by the service itself
        code, _ = await service.stopped()
    assert code == 0
    lines = [line for line in service.log.splitlines() if line]
    assert sum("malformed HTTP request" in line for line in lines) >= 4
    for line in lines:
        assert not _leaks(line), line
        if log_format == "json":
            entry = json.loads(line)
            assert {"ts", "level", "logger", "message", "context"} <= set(entry)
