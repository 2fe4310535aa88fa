"""Wires the signalling relay (`/ws`) and TURN credentials (`/webphone/turn-credentials`) into the app."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator

from aiohttp import web

from ..appkeys import DB_POOL, METRICS_REGISTRY, READINESS_CHECKS, SETTINGS
from ..background import background
from ..config import VICIDIAL_UPSTREAM, ConfigError
from ..errors import ApiError, json_response
from ..vicidial_webphone.sessions import VICIDIAL
from . import turn, upstream_probe, upstream_tls
from .access import check_request
from .deadlines import Deadlines
from .host_limits import HostPerKeyLimit
from .limits import PerKeyLimit
from .metrics import RelayCollector
from .phone_lookup import PhoneRouter
from .phone_routes import Refusal
from .relay import aiohttp_internals
from .relay.core import MAX_FRAME, UPSTREAM_CHECK_INTERVAL
from .relay.dialogs import DialogRegistry
from .relay.protocols import Relay, enable_keepalive
from .relay.upstream import UpstreamTarget, open_upstream
from .session import Session
from .stats import RelayStats
from .turn_reaper import ReaperCollector, TurnReaper
from .wsframe import CloseCode

log = logging.getLogger("service.sip_proxy")

RELAYS = web.AppKey[set[Relay]]("sip_relays")  # every open session, so shutdown can close them all
STATS = web.AppKey("sip_relay_stats", RelayStats)
DEADLINES = web.AppKey("sip_relay_deadlines", Deadlines)
PHONE_ROUTER = web.AppKey("sip_phone_router", PhoneRouter)  # SIP_UPSTREAM=vicidial
UPSTREAM_TLS = web.AppKey("sip_upstream_tls", ssl.SSLContext)  # built once at start-up (upstream_tls.py)
PER_KEY = web.AppKey[PerKeyLimit | HostPerKeyLimit]("sip_relay_sessions_per_key")  # host_limits.py under --workers
DIALOGS = web.AppKey("sip_relay_dialogs", DialogRegistry)  # every agent's dialogs, kept across its sessions
TURN_REAPER = web.AppKey("turn_reaper", TurnReaper)  # only when TURN_CLI is set
UPSTREAM_CHECK = web.AppKey("sip_upstream_check_interval", float)  # seconds between two checks of each PBX leg


async def ws(request: web.Request) -> web.StreamResponse:
    """GET /ws: the SIP-over-WebSocket relay (README: "Webphone sessions, the signalling relay and TURN")."""
    app = request.app
    stats = app[STATS]
    # aiohttp checks and answers the handshake; compression is never negotiated (browsers offer
    # permessage-deflate: it costs ~20 KB per session and SIP is small).
    browser = web.WebSocketResponse(protocols=("sip",), compress=False, max_msg_size=MAX_FRAME)
    ready = browser.can_prepare(request)
    if not ready.ok:
        stats.refusal("not_websocket")
        raise ApiError(400, {"message": "expected a WebSocket upgrade", "reason": "not_websocket"})
    if ready.protocol != "sip":
        stats.refusal("no_sip_subprotocol")
        raise ApiError(400, {"message": "the WebSocket must offer the sip subprotocol (RFC 7118)",
                             "reason": "no_sip_subprotocol"})
    session = check_request(request, app[SETTINGS], stats)
    # One auth_key signs exactly these fields: they name the key without keeping the key itself.
    key = (session.customer_id, session.user_id, session.username, session.expire_date)
    per_key = app[PER_KEY]
    if not per_key.acquire(key):
        stats.refused("too_many_sessions", logging.INFO, "refused %s from %s: too_many_sessions (user %s, customer %s)",
                      request.path, request.remote, session.username, session.customer_id)
        raise ApiError(429, {"message": f"this session already has {per_key.limit} connections open",
                             "reason": "too_many_sessions"})
    try:
        return await _relay_session(request, session, browser)
    finally:
        per_key.release(key)



async def _relay_session(request: web.Request, session: Session, browser: web.WebSocketResponse) -> web.StreamResponse:
    """Find the PBX, open the upstream leg, answer the browser's handshake and relay until either side closes."""
    app = request.app
    stats = app[STATS]
    url = app[SETTINGS].sip_upstream
    vicidial = app.get(VICIDIAL)
    login = None
    if vicidial is not None and vicidial.owns(session):  # launched by ViciDial's agent screen: its own route
        admitted = await vicidial.admit(session)
        if isinstance(admitted, Refusal):
            stats.refused(admitted.reason, logging.INFO, "refused /ws for %r from %s: %s", session.username,
                          request.remote, admitted.message)
            raise ApiError(admitted.status, admitted.body())
        url, login = admitted
    elif url == VICIDIAL_UPSTREAM:
        route = await app[PHONE_ROUTER].route(session.username)
        if isinstance(route, Refusal):
            stats.refused(route.reason, logging.INFO, "refused /ws for %r from %s: %s", session.username,
                          request.remote, route.message)
            raise ApiError(route.status, route.body())
        url = route.url
    upstream = await open_upstream(UpstreamTarget.for_url(url, app[UPSTREAM_TLS]), request.remote)
    transport = request.transport
    if transport is None or transport.is_closing():  # the browser left while the PBX was being reached
        if not isinstance(upstream, str):
            upstream.abort()
        # Nobody reads the answer; nginx's "client closed request" code says so in the access log.
        return web.Response(status=499, reason="Client Closed Request")
    if isinstance(upstream, str):
        await browser.prepare(request)
        stats.upstream_failure(upstream)
        stats.close(CloseCode.TRY_AGAIN_LATER)
        # Full (Asterisk's sessionlimit) and down both mean "try again later"; the reason tells them apart.
        reason = b"upstream full" if upstream == "full" else b"upstream unavailable"
        await browser.close(code=CloseCode.TRY_AGAIN_LATER, message=reason)
        return browser

    relay = Relay(session, stats, upstream, app[DIALOGS].agent(session.customer_id, session.username))
    relay.attach_browser(*aiohttp_internals.take_over(request, relay.browser))
    relays = app[RELAYS]
    relays.add(relay)
    stats.sessions_total += 1
    attached = None
    try:
        await browser.prepare(request)  # the 101, written by aiohttp on the socket the relay now reads
        aiohttp_internals.shed(request, browser)
        enable_keepalive(transport)
        relay.start(app[DEADLINES], app[UPSTREAM_CHECK])
        if vicidial is not None and login is not None:
            attached = vicidial.attach(login, relay)  # None (and closed) when a newer launch is open
        # Awaited as it is (a shield costs about 800 bytes a session): a cancelled handler cancels the future,
        # and the abort below ends the session all the same.
        await relay.done
    except BaseException:
        relay.abort()  # cancelled (shutdown) or failed: drop both sockets now
        raise
    finally:
        relays.discard(relay)
        if attached is not None and vicidial is not None:
            vicidial.detach(attached)
        aiohttp_internals.release(request)  # aiohttp never saw its socket close (the relay's protocol did)
    return browser  # closed by shed(): aiohttp writes nothing more on the socket


async def turn_credentials(request: web.Request) -> web.Response:
    """GET /webphone/turn-credentials: TURN REST API credentials for a session (README: "Webphone sessions,
    the signalling relay and TURN", TURN credentials)."""
    app = request.app
    settings = app[SETTINGS]
    header = request.headers.get("Host")
    try:
        # The host the page called goes into the URIs; without a Host header (HTTP/1.0), the service's own.
        host = settings.host if header is None else turn.host_from_header(header)
    except turn.BadHost as exc:
        raise ApiError(400, {"message": str(exc), "reason": "bad_host"}) from None
    session = check_request(request, settings, app[STATS])
    vicidial = app.get(VICIDIAL)
    if vicidial is not None and vicidial.owns(session):  # the page learns here that its agent logged out
        admitted = await vicidial.admit(session)
        if isinstance(admitted, Refusal):
            raise ApiError(admitted.status, admitted.body())
    try:
        port = turn.port_from_query(request.query.get("turn_port"), settings.turn_port)
    except turn.BadPort as exc:
        raise ApiError(400, {"message": str(exc), "reason": "bad_turn_port"}) from None
    try:
        body = turn.credentials(
            secret=settings.turn_secret,
            session=session,
            host=host,
            port=port,
            ttl_max=settings.turn_ttl,
            ice_transport_policy=settings.ice_transport_policy,
            now=time.time(),
        )
    except turn.TurnUnavailable as exc:
        raise ApiError(503, {"message": str(exc), "reason": "turn_not_configured"}) from None
    app[STATS].turn_issued += 1
    reaper = app.get(TURN_REAPER)
    if reaper is not None:
        reaper.watch(body["username"])
    headers = {"Cache-Control": "no-store"}
    origin = request.headers.get("Origin")
    if origin:  # check_request let it through: a listed origin may read the answer cross-site
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    return json_response(200, body, headers)


async def relay_context(app: web.Application) -> AsyncIterator[None]:
    try:
        yield
    finally:
        app[DEADLINES].close()
        open_relays = app[RELAYS]
        for relay in list(open_relays):
            relay.abort()


async def close_sessions(app: web.Application) -> None:
    """On shutdown, before handlers are cancelled: close every session with 1001 (going away)."""
    open_relays = app[RELAYS]
    relays = list(open_relays)
    for relay in relays:
        relay.finish(CloseCode.GOING_AWAY, b"server shutting down")
    if relays:
        await asyncio.wait([relay.done for relay in relays], timeout=5)


async def upstream_ready(app: web.Application) -> str | None:
    """/readyz: does SIP_UPSTREAM (with `vicidial`: each web_socket_url in use) accept a `sip` WebSocket?"""
    url = app[SETTINGS].sip_upstream
    if url != VICIDIAL_UPSTREAM:
        return await upstream_probe.probe(url, app[UPSTREAM_TLS])
    try:
        urls = await app[PHONE_ROUTER].urls_in_use()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said in words
        return f"ViciDial servers could not be read: {type(exc).__name__}: {exc}"
    if not urls:
        return "no active ViciDial phone is on a server with a web_socket_url"
    failures = await asyncio.gather(*(upstream_probe.probe(u, app[UPSTREAM_TLS]) for u in urls))
    failed = [f for f in failures if f]
    return "; ".join(failed) if failed else None


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[PHONE_ROUTER] = PhoneRouter(lambda: app[DB_POOL])
    try:
        app[UPSTREAM_TLS] = upstream_tls.client_context(settings.sip_upstream_ca_file,
                                                        settings.sip_upstream_tls_verify)
    except upstream_tls.CaFileError as exc:  # the one place the file is read: start-up's one-line error
        raise ConfigError("SIP_UPSTREAM_CA_FILE", str(exc)) from None
    if settings.sip_upstream_tls_verify == "none":
        log.warning("SIP_UPSTREAM_TLS_VERIFY=none: wss:// upstream certificates are not verified; "
                    "anyone on the path can read and change the agents' signalling")
    app[STATS] = stats = RelayStats()
    relays: set[Relay] = set()
    app[RELAYS] = relays
    app[DEADLINES] = Deadlines()
    app[PER_KEY] = PerKeyLimit(app[SETTINGS].max_sessions_per_key)
    app[DIALOGS] = DialogRegistry()
    app[UPSTREAM_CHECK] = UPSTREAM_CHECK_INTERVAL
    app[METRICS_REGISTRY].register(RelayCollector(stats, lambda: len(relays)))
    app[READINESS_CHECKS]["sip_upstream"] = upstream_ready
    if settings.turn_cli is not None and settings.turn_cli_password is not None:
        app[TURN_REAPER] = reaper = TurnReaper(*settings.turn_cli, settings.turn_cli_password)
        app.cleanup_ctx.append(lambda _app: background(reaper.run, "turn-reaper"))
        app[METRICS_REGISTRY].register(ReaperCollector(reaper))
    app.cleanup_ctx.append(relay_context)
    app.on_shutdown.append(close_sessions)
    app.router.add_get("/ws", ws)
    app.router.add_get("/webphone/turn-credentials", turn_credentials)
