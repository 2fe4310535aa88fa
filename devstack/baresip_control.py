"""Talking to the stack's baresip over its ctrl_tcp socket: netstring-framed JSON commands, responses and events.

    {"command": "dial", "params": "sip:1001@127.0.0.1", "token": "7"}  ->  {"response": true, "ok": true, ...}
    events: {"event": true, "class": "call", "type": "CALL_ESTABLISHED", "peeruri": ..., "param": ...}

baresip 1.0's ctrl_tcp sends its events to the newest connection only: two clients at once (two test runs
on one machine, or `python -m devstack pbx-call` during a test) take each other's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import Callable
from typing import Any

from . import baresip

Event = dict[str, Any]


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class NetstringReader:
    """Splits a byte stream into netstring payloads."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out: list[bytes] = []
        while True:
            colon = self.buffer.find(b":")
            if colon < 0:
                return out
            size = int(self.buffer[:colon])
            end = colon + 1 + size
            if len(self.buffer) < end + 1:
                return out
            out.append(self.buffer[colon + 1:end])
            self.buffer = self.buffer[end + 1:]


class PhoneControl:
    """An asyncio client: `await command(...)`, and every event kept in `events` for `wait_event`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        self._responses: dict[str, asyncio.Future[Event]] = {}
        self._tokens = itertools.count(1)
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, host: str = baresip.HOST, port: int = baresip.CTRL_PORT) -> PhoneControl:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._task

    async def _read(self) -> None:
        frames = NetstringReader()
        while data := await self.reader.read(65536):
            for payload in frames.feed(data):
                message = json.loads(payload)
                if message.get("response"):
                    future = self._responses.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("event"):
                    async with self._changed:
                        self.events.append(message)
                        self._changed.notify_all()

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> Event:
        token = str(next(self._tokens))
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        self.writer.write(netstring(json.dumps({"command": name, "params": params, "token": token}).encode()))
        return await asyncio.wait_for(future, timeout)

    async def wait_event(self, check: Callable[[Event], bool], timeout: float = 10.0, since: int = 0) -> Event:
        """The first event from index `since` on for which `check` is true (waiting for it to come)."""
        async with self._changed:
            async with asyncio.timeout(timeout):
                while True:
                    for event in self.events[since:]:
                        if check(event):
                            return event
                    since = len(self.events)
                    await self._changed.wait()


def send(name: str, params: str = "", host: str = baresip.HOST, port: int = baresip.CTRL_PORT) -> dict[str, Any]:
    """One command, blocking (for `python -m devstack pbx-call`)."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(netstring(json.dumps({"command": name, "params": params, "token": "cli"}).encode()))
        frames = NetstringReader()
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("baresip closed its control socket")
            for payload in frames.feed(data):
                message = json.loads(payload)
                if message.get("response"):
                    return message
