"""Wires the signalling relay (`/ws`) and TURN credentials (`/webphone/turn-credentials`) into the app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from ..appkeys import METRICS_REGISTRY, READINESS_CHECKS, SETTINGS
from ..errors import ApiError, json_response
from . import turn
from .relay import (
    CLOSE_GOING_AWAY, CLOSE_INTERNAL, CLOSE_TIMEOUT, CLOSE_TRY_AGAIN, CONNECT_TIMEOUT, MAX_FRAME, Relay,
    check_request, enable_keepalive, log, open_upstream,
)
from .deadlines import Deadlines
from .stats import RelayCollector, RelayStats

UPSTREAM_HTTP = web.AppKey("sip_upstream_http", aiohttp.ClientSession)
RELAYS = web.AppKey("sip_relays", set)  # set[Relay]: every open session, so shutdown can close them all
STATS = web.AppKey("sip_relay_stats", RelayStats)
DEADLINES = web.AppKey("sip_relay_deadlines", Deadlines)
DEFAULT_TURN_PORT = 3478


async def ws(request: web.Request) -> web.StreamResponse:
    """GET /ws: the SIP-over-WebSocket relay (SPEC section 5)."""
    app = request.app
    stats = app[STATS]
    browser = web.WebSocketResponse(
        protocols=("sip",),
        compress=False,  # browsers offer permessage-deflate; it costs ~20 KB per session and SIP is small
        max_msg_size=MAX_FRAME,
        timeout=CLOSE_TIMEOUT,
        decode_text=False,  # relay the bytes as they came: no UTF-8 decode and re-encode per message
    )
    ready = browser.can_prepare(request)
    if not ready.ok:
        stats.refusal("not_websocket")
        raise ApiError(400, {"message": "expected a WebSocket upgrade", "reason": "not_websocket"})
    if ready.protocol != "sip":
        stats.refusal("no_sip_subprotocol")
        raise ApiError(400, {"message": "the WebSocket must offer the sip subprotocol (RFC 7118)",
                             "reason": "no_sip_subprotocol"})
    session = check_request(request, app[SETTINGS], stats)

    upstream = await open_upstream(app[UPSTREAM_HTTP], app[SETTINGS].sip_upstream, request.remote)
    await browser.prepare(request)
    enable_keepalive(request.transport)
    if upstream is None:
        stats.close(CLOSE_TRY_AGAIN)
        await browser.close(code=CLOSE_TRY_AGAIN, message=b"upstream unavailable")
        return browser
    relay = Relay(browser, upstream, session, stats)
    stats.sessions_total += 1
    relays = app[RELAYS]
    relays.add(relay)
    try:
        await relay.run(app[DEADLINES])
    except Exception:
        # After the upgrade no HTTP answer is possible: close the socket with 1011 instead.
        log.exception("relay session of user %s failed", session.username)
        await asyncio.shield(relay.finish(CLOSE_INTERNAL, b"internal error"))
    finally:
        relays.discard(relay)
    return browser


async def turn_credentials(request: web.Request) -> web.Response:
    """GET /webphone/turn-credentials: TURN REST API credentials for a session (SPEC section 6)."""
    app = request.app
    settings = app[SETTINGS]
    session = check_request(request, settings, app[STATS])
    raw_port = request.query.get("turn_port", "")  # a plain GET: the request ends right after
    port = int(raw_port) if raw_port.isascii() and raw_port.isdigit() and 0 < int(raw_port) < 65536 else DEFAULT_TURN_PORT
    try:
        body = turn.credentials(
            secret=settings.turn_secret,
            session=session,
            host=request.url.host or settings.host,
            port=port,
            ttl_max=settings.turn_ttl,
            ice_transport_policy=settings.ice_transport_policy,
            now=time.time(),
        )
    except turn.TurnUnavailable as exc:
        raise ApiError(503, {"message": str(exc), "reason": "turn_not_configured"}) from None
    app[STATS].turn_issued += 1
    headers = {"Cache-Control": "no-store"}
    origin = request.headers.get("Origin")
    if origin:  # check_request let it through: a listed origin may read the answer cross-site
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    return json_response(200, body, headers)


async def upstream_context(app: web.Application) -> AsyncIterator[None]:
    """One client session for every upstream leg; limit=0 because each browser holds its own connection."""
    app[UPSTREAM_HTTP] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False),
        timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT),
        skip_auto_headers=("User-Agent",),
    )
    try:
        yield
    finally:
        app[DEADLINES].close()
        await app[UPSTREAM_HTTP].close()


async def close_sessions(app: web.Application) -> None:
    """On shutdown, before handlers are cancelled: close every session with 1001 (going away)."""
    relays = list(app[RELAYS])
    await asyncio.gather(*(relay.finish(CLOSE_GOING_AWAY, b"server shutting down") for relay in relays),
                         return_exceptions=True)


async def upstream_ready(app: web.Application) -> str | None:
    """/readyz: can a TCP connection be opened to SIP_UPSTREAM?"""
    parts = urlsplit(app[SETTINGS].sip_upstream)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), 2.0)
    except (OSError, asyncio.TimeoutError) as exc:
        return f"SIP_UPSTREAM {parts.hostname}:{port} unreachable ({exc.__class__.__name__})"
    writer.close()
    return None


def setup(app: web.Application) -> None:
    app[STATS] = stats = RelayStats()
    app[RELAYS] = relays = set()
    app[DEADLINES] = Deadlines()
    app[METRICS_REGISTRY].register(RelayCollector(stats, lambda: len(relays)))
    app[READINESS_CHECKS]["sip_upstream"] = upstream_ready
    app.cleanup_ctx.append(upstream_context)
    app.on_shutdown.append(close_sessions)
    app.router.add_get("/ws", ws)
    app.router.add_get("/webphone/turn-credentials", turn_credentials)
