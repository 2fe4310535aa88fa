# ruff: noqa: SLF001 - reaching into aiohttp's private parts is what this module is for, and all it is for
"""Every use the relay makes of aiohttp's private internals, in one place, for the one version they were read in.

The relay lets aiohttp check and answer the browser's WebSocket handshake, then takes the socket over so
that each frame is handled in its own protocol's `data_received` (see protocols.py). That needs three things
aiohttp does not offer publicly:
- the socket is handed to the relay's protocol before aiohttp writes the 101 (`transport.set_protocol`), so
  no frame the browser sends after reading the 101 can reach aiohttp's own WebSocket reader;
- what aiohttp already read after the handshake request (a fast client sends its first frames before the
  101 arrives, and the upstream connect takes a while) sits in its request handler's `_message_tail`: it is
  taken from there and handed to the relay, and reading resumed if aiohttp had paused it over that buffer;
- once the 101 is written, what aiohttp built to read and write frames on that socket (its frame queue, frame
  parser and writer) and its HTTP parser are dropped, and the response marked closed so that aiohttp writes
  nothing on the socket when the handler returns (`shed`): a session lives for hours, and those were about
  3 KB of each idle session's memory;
- aiohttp never sees the socket close (the relay's protocol does), so it is told by hand
  (`connection_lost(None)` on its request handler), or it would keep the connection in its books.
And it unmasks browser frames with aiohttp's C helper (`websocket_mask`), ten times faster than pure Python;
importing this module installs it in wsframe.

aiohttp is pinned in pyproject.toml; on another version this module refuses to load rather than guess.
"""

from __future__ import annotations

import asyncio
from typing import cast

import aiohttp
from aiohttp import web
from aiohttp._websocket.helpers import websocket_mask

from .. import wsframe

WRITTEN_FOR = "3.14.5"
if aiohttp.__version__ != WRITTEN_FOR:  # not an assert: python -O must not skip it
    raise ImportError(f"service/sip_proxy/relay/aiohttp_internals.py was written for aiohttp {WRITTEN_FOR}, "
                      f"not {aiohttp.__version__}: check each use against the new version's sources")

wsframe.use_mask_helper(websocket_mask)


def take_over(request: web.Request, protocol: asyncio.Protocol) -> tuple[asyncio.Transport, bytes]:
    """Give the browser's socket to `protocol` (call before `WebSocketResponse.prepare` writes the 101).

    Returns the transport and the bytes the browser sent after its handshake request that aiohttp had
    already read (empty unless the client did not wait for the 101).
    """
    transport = cast(asyncio.Transport, request.transport)  # aiohttp's handler runs over a stream transport
    transport.set_protocol(protocol)
    handler = request.protocol
    early: bytes = handler._message_tail
    handler._message_tail = b""
    if handler._buffer_paused:  # aiohttp stopped reading over that buffer; the relay decides from now on
        handler._buffer_paused = False
        transport.resume_reading()
    return transport, early


def shed(request: web.Request, response: web.WebSocketResponse) -> None:
    """After `response.prepare` wrote the 101: forget aiohttp's WebSocket reader, parser and writer for the socket
    the relay reads and writes, and its HTTP parser (only the next request on the connection would use it, and
    there is none). The response counts as closed and its end as written: the relay closes the socket itself,
    so `close()` and aiohttp's own `write_eof()` after the handler write nothing."""
    response._set_closed()
    response._eof_sent = True
    response._reader = None
    response._parser = None
    response._writer = None
    handler = request.protocol
    handler._payload_parser = None
    handler._parser = None


def release(request: web.Request) -> None:
    """Tell aiohttp's request handler that the socket it no longer reads is gone, so it forgets it."""
    request.protocol.connection_lost(None)
