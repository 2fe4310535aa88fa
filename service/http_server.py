"""Serving the app on aiohttp's server, with bounds on connections that have not sent a whole request.

aiohttp 3.14.5 closes a connection that has not finished a request only after `keepalive_timeout`, 3630 s by
default: a client sending half a request line held its socket for an hour, and any number of them could. Here:

- `keepalive_timeout` is `HANDSHAKE_TIMEOUT`: a connection with no complete request within that time of opening
  (or of its last answer) is closed, whatever it has sent. A request in progress (a `/ws` session relaying for
  hours, an archive request) is never cut by it: aiohttp only closes a connection waiting for a request.
- at most `MAX_PENDING` connections per process wait for their first request; past that the oldest is closed.
- a TLS handshake gets the same `HANDSHAKE_TIMEOUT`.
- a request aiohttp's own parser rejects (a line over 8,190 bytes, bare-LF line endings, control characters,
  `HTTP/9.9`) is answered in JSON like every other error and logged as one line naming the kind of fault, never
  with the raw request, which holds query strings and Authorization headers (`RequestHandler.handle_error` logs
  the exception, whose text quotes the bytes, and echoes it in a plain-text 400).
- SIGTERM drains: the listener closes (SO_REUSEPORT: a new instance on the same port is already taking new
  connections), relay sessions close 1001, requests in progress get `DRAIN_TIMEOUT` to finish; SIGHUP calls
  `on_reload` (the TLS pair, for new connections only).

The edge is aiohttp's documented low-level server: `AppRunner.server` is the protocol factory given to
`loop.create_server`; a connection leaves the waiting set when its first request reaches `pending_middleware`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler

from .errors import json_response

WRITTEN_FOR = "3.14.5"
assert aiohttp.__version__ == WRITTEN_FOR, \
    f"service/http_server.py reads aiohttp {WRITTEN_FOR}'s server, not {aiohttp.__version__}"

HANDSHAKE_TIMEOUT = 15.0  # seconds a connection may take to send a whole request
MAX_PENDING = 512  # connections per process still waiting for their first request
ACCEPT_GRACE = 1.0  # seconds a connection accepted just before SIGTERM gets to send its request
DRAIN_TIMEOUT = 4.0  # seconds requests in progress get after SIGTERM (after sessions closed 1001, at most 5 s)

log = logging.getLogger("service.http")


class QuietRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what its parser rejects in JSON, without echoing or logging it."""

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            log.error("error handling a request from %s: %s", request.remote, type(exc).__name__ if exc else "-")
            body = {"message": "internal server error"}
        else:
            # Only the kind of fault: `exc` and `message` quote the raw bytes received.
            log.warning("malformed HTTP request from %s refused %d: %s", request.remote, status,
                        type(exc).__name__ if exc else "-")
            body = {"message": "malformed HTTP request", "reason": "bad_request"}
        if request.writer.output_size > 0:  # as aiohttp: a response already started cannot be replaced
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        response = json_response(status, body)
        response.force_close()
        return response


def _new_handler(server: web.Server) -> RequestHandler:
    """What `web.Server()` makes (aiohttp 3.14.5's `Server.__call__`), with our handler class."""
    kwargs: dict[str, Any] = server._kwargs  # noqa: SLF001 - the handler arguments AppRunner gave the server
    return QuietRequestHandler(server, loop=server._loop, **kwargs)  # noqa: SLF001


class PendingConnections:
    """The connections that have not yet started a request, oldest first."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self._waiting: dict[RequestHandler, None] = {}
        self.closed_for_room = 0  # closed because `limit` others were waiting

    def __len__(self) -> int:
        return len(self._waiting)

    def opened(self, handler: RequestHandler) -> RequestHandler:
        """A new connection (called as the protocol factory, just before it connects)."""
        if len(self._waiting) >= self.limit:
            # Forget the ones that closed meanwhile (aiohttp drops their transport), then close the oldest.
            for old in [h for h in self._waiting if h.transport is None]:
                del self._waiting[old]
            while len(self._waiting) >= self.limit:
                oldest = next(iter(self._waiting))
                del self._waiting[oldest]
                oldest.force_close()
                self.closed_for_room += 1
        self._waiting[handler] = None
        return handler

    def started(self, handler: object) -> None:
        self._waiting.pop(handler, None)  # type: ignore[call-overload]

    def open_waiting(self) -> int:
        """How many connections still open have not sent their first request."""
        return sum(1 for h in self._waiting if h.transport is not None)


PENDING = web.AppKey("http_pending_connections", PendingConnections)


class InFlight:
    """Requests being handled, WebSocket sessions aside (those are closed 1001, not waited for)."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def begin(self) -> None:
        self.count += 1
        self.idle.clear()

    def end(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


IN_FLIGHT = web.AppKey("http_in_flight", InFlight)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def pending_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The first middleware: a connection whose request has arrived is no longer waiting; count it in flight."""
    request.app[PENDING].started(request.protocol)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await handler(request)
    in_flight = request.app[IN_FLIGHT]
    in_flight.begin()
    try:
        return await handler(request)
    finally:
        in_flight.end()


def setup(app: web.Application) -> None:
    app[PENDING] = PendingConnections()
    app[IN_FLIGHT] = InFlight()
    app.middlewares.insert(0, pending_middleware)


class Serving:
    """A started server: `await close()` stops listening, drains, then shuts the app down."""

    def __init__(self, runner: web.AppRunner, listener: asyncio.Server, drain_timeout: float) -> None:
        self.runner = runner
        self.listener = listener
        self.drain_timeout = drain_timeout

    @property
    def port(self) -> int:
        return int(self.listener.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening; close the sessions (on_shutdown: 1001) while requests in progress go on, their bodies
        still read (aiohttp's own shutdown stops reading at once, so a body still arriving never ends); wait up to
        `drain_timeout` for those requests; then aiohttp's shutdown and cleanup, with nothing left to cut."""
        self.listener.close()
        app = self.runner.app
        # Connections accepted just before the listener closed: give their first request a moment to arrive.
        loop = asyncio.get_running_loop()
        grace_until = loop.time() + ACCEPT_GRACE
        # A connection that closes unasked signals nothing to wait on: look again every 20 ms.
        while app[PENDING].open_waiting() and loop.time() < grace_until:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await app.shutdown()
        try:
            async with asyncio.timeout(self.drain_timeout):
                await app[IN_FLIGHT].idle.wait()
        except TimeoutError:
            log.warning("%d requests still in progress after %.0f s: cancelled", app[IN_FLIGHT].count,
                        self.drain_timeout)
        await self.runner.cleanup()  # on_shutdown again: close_sessions finds no session left


async def start(app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                reuse_port: bool = False, access_log_class: type[AbstractAccessLogger] | None = None,
                handshake_timeout: float = HANDSHAKE_TIMEOUT, max_pending: int = MAX_PENDING,
                drain_timeout: float = DRAIN_TIMEOUT) -> Serving:
    """Set the app up and listen on host:port (port 0: any free one)."""
    if access_log_class is None:
        runner = web.AppRunner(app, keepalive_timeout=handshake_timeout)
    else:
        runner = web.AppRunner(app, keepalive_timeout=handshake_timeout, access_log_class=access_log_class)
    await runner.setup()
    pending = app[PENDING]
    pending.limit = max_pending
    server = runner.server
    assert server is not None
    loop = asyncio.get_running_loop()
    try:
        listener = await loop.create_server(
            lambda: pending.opened(_new_handler(server)), host, port, ssl=ssl_context, reuse_port=reuse_port or None,
            backlog=128, ssl_handshake_timeout=handshake_timeout if ssl_context is not None else None)
    except BaseException:
        await runner.cleanup()
        raise
    return Serving(runner, listener, drain_timeout)


async def serve(app: web.Application, host: str, port: int, *, on_reload: Callable[[], None] | None = None,
                **options: Any) -> None:
    """`start`, then serve until SIGTERM or SIGINT (SIGHUP: `on_reload`), then drain and close."""
    serving = await start(app, host, port, **options)
    log.info("listening on %s:%s", host, serving.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_reload is not None:
        loop.add_signal_handler(signal.SIGHUP, on_reload)
    try:
        await stop.wait()
        log.info("stopping: no new connections; closing sessions (1001) and finishing requests in progress")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await serving.close()
