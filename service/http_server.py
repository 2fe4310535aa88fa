"""Serving the app on aiohttp's server, with bounds on connections that have not sent a whole request.

aiohttp 3.14.5 closes a connection that has not finished a request only after `keepalive_timeout`, 3630 s by
default: a client sending half a request line held its socket for an hour, and any number of them could. Here:

- `keepalive_timeout` is `HANDSHAKE_TIMEOUT`: a connection with no complete request within that time of opening
  (or of its last answer) is closed, whatever it has sent. A request in progress (a `/ws` session relaying for
  hours, an archive request) is never cut by it: aiohttp only closes a connection waiting for a request.
- at most `MAX_PENDING` connections per process wait for their first request; past that the oldest is closed.
- a TLS handshake gets the same `HANDSHAKE_TIMEOUT`.

The edge is aiohttp's documented low-level server: `AppRunner.server` is the protocol factory given to
`loop.create_server`; a connection leaves the waiting set when its first request reaches `pending_middleware`.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler

WRITTEN_FOR = "3.14.5"
assert aiohttp.__version__ == WRITTEN_FOR, \
    f"service/http_server.py reads aiohttp {WRITTEN_FOR}'s server, not {aiohttp.__version__}"

HANDSHAKE_TIMEOUT = 15.0  # seconds a connection may take to send a whole request
MAX_PENDING = 512  # connections per process still waiting for their first request


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


PENDING = web.AppKey("http_pending_connections", PendingConnections)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def pending_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The first middleware: a connection whose request has arrived is no longer waiting."""
    request.app[PENDING].started(request.protocol)
    return await handler(request)


def setup(app: web.Application) -> None:
    app[PENDING] = PendingConnections()
    app.middlewares.insert(0, pending_middleware)


class Serving:
    """A started server: `await close()` stops listening, then shuts the app down as aiohttp's run_app does."""

    def __init__(self, runner: web.AppRunner, listener: asyncio.Server) -> None:
        self.runner = runner
        self.listener = listener

    @property
    def port(self) -> int:
        return int(self.listener.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.listener.close()
        await self.runner.cleanup()


async def start(app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                reuse_port: bool = False, access_log_class: type[AbstractAccessLogger] | None = None,
                handshake_timeout: float = HANDSHAKE_TIMEOUT, max_pending: int = MAX_PENDING) -> Serving:
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
            lambda: pending.opened(server()), host, port, ssl=ssl_context, reuse_port=reuse_port or None,
            backlog=128, ssl_handshake_timeout=handshake_timeout if ssl_context is not None else None)
    except BaseException:
        await runner.cleanup()
        raise
    return Serving(runner, listener)


async def serve(app: web.Application, host: str, port: int, **options: object) -> None:
    """`start`, then serve until SIGTERM or SIGINT, then close."""
    serving = await start(app, host, port, **options)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await serving.close()
