"""The signalling relay's I/O edge: `/ws`, one upstream WebSocket per browser WebSocket.

Checks happen before the upgrade (a WebSocket handshake, the `sip` subprotocol, the Origin, the session's
key and expiry) so a refused browser gets an HTTP status and a JSON reason. After that the relay is a pipe
that looks only at each frame's start line (`sip.classify`), parses REGISTER and INVITE fully to check who
they claim to be from, and never changes a byte: Kamailio routes replies and in-dialog requests back over the
connection an agent registered on, so the mapping must stay 1:1 (docs/research: RFC 7118, Kamailio nathelper).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import WSMsgType, web

from ..appkeys import SETTINGS
from ..config import Settings
from ..errors import ApiError
from . import sip
from .deadlines import Deadlines
from .session import Session, SessionError, parse_session
from .stats import FROM_BROWSER, FROM_UPSTREAM, RelayStats

log = logging.getLogger("service.sip_proxy")

MAX_FRAME = 64 * 1024
# Kamailio's own SIP buffer is 65535 bytes; allow a little over MAX_FRAME from upstream so a full-size
# message is never cut.
MAX_UPSTREAM_FRAME = 128 * 1024
IDENTITY_METHODS = frozenset({b"REGISTER", b"INVITE"})
# A vanished browser (no FIN: sleep, network gone) is noticed by TCP keep-alive probes after this many
# idle seconds, then 3 probes 10 s apart. The kernel does it, so the hot path pays nothing per message,
# unlike a WebSocket heartbeat, which re-arms a timer on every frame received.
KEEPALIVE_IDLE = 30
CLOSE_TIMEOUT = 3.0  # how long a close waits for the peer's close frame
CONNECT_TIMEOUT = 5.0

CLOSE_EXPIRED = 4001
CLOSE_GOING_AWAY = aiohttp.WSCloseCode.GOING_AWAY  # 1001
CLOSE_POLICY = aiohttp.WSCloseCode.POLICY_VIOLATION  # 1008
CLOSE_TOO_BIG = aiohttp.WSCloseCode.MESSAGE_TOO_BIG  # 1009
CLOSE_TRY_AGAIN = aiohttp.WSCloseCode.TRY_AGAIN_LATER  # 1013
CLOSE_INTERNAL = aiohttp.WSCloseCode.INTERNAL_ERROR  # 1011
CLOSE_OK = aiohttp.WSCloseCode.OK


class Relay:
    """One browser WebSocket and its upstream WebSocket, pumped both ways until either ends."""

    __slots__ = ("browser", "upstream", "session", "stats", "_username", "_closing", "_pump")

    def __init__(self, browser: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse,
                 session: Session, stats: RelayStats) -> None:
        self.browser = browser
        self.upstream = upstream
        self.session = session
        self.stats = stats
        self._username = session.username
        self._closing: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None

    def expire(self) -> None:
        """The session's expire_date has come: close both legs with 4001."""
        self.finish(CLOSE_EXPIRED, b"session expired")

    async def run(self, deadlines: Deadlines) -> None:
        expiry = deadlines.add(self.session.expires_ts, self.expire)
        self._pump = asyncio.get_running_loop().create_task(self._from_upstream())
        try:
            code, reason = await self._from_browser()
            await asyncio.shield(self.finish(code, reason))
            await self._pump
        finally:
            deadlines.cancel(expiry)
            if not self._pump.done():
                self._pump.cancel()
            if not self.upstream.closed:
                # Cancelled mid-way (server shutdown): the shielded close still runs to completion.
                await asyncio.shield(self.upstream.close(code=CLOSE_GOING_AWAY))

    def finish(self, code: int, reason: bytes) -> asyncio.Task[None]:
        """Close both legs; the browser gets `code`. The first caller decides the code, later calls join it."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close_both(code, reason))
        return self._closing

    async def _close_both(self, code: int, reason: bytes) -> None:
        if not self.browser.closed:
            self.stats.close(code)
        upstream_code = code if code == CLOSE_EXPIRED else CLOSE_OK
        if code in (CLOSE_EXPIRED, CLOSE_POLICY, CLOSE_TOO_BIG):
            log.info("closing session of user %s (customer %s): %d %s", self._username,
                     self.session.customer_id, code, reason.decode())
        await asyncio.gather(
            self.browser.close(code=code, message=reason),
            self.upstream.close(code=upstream_code, message=reason if code == CLOSE_EXPIRED else b""),
            return_exceptions=True,
        )

    async def _from_browser(self) -> tuple[int, bytes]:
        """Browser to upstream. Returns the close code and reason for the browser's leg."""
        browser, upstream, stats = self.browser, self.upstream, self.stats
        while True:
            msg = await browser.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                data: bytes = msg.data
                try:
                    what, token = sip.classify(data)
                    if what == "request":
                        stats.request(FROM_BROWSER, token)
                        if token in IDENTITY_METHODS:
                            refusal = self._identity_refusal(token, data)
                            if refusal is not None:
                                await browser.send_frame(refusal, WSMsgType.TEXT)
                                continue
                    elif what == "response":
                        stats.response(FROM_BROWSER, token)
                except sip.SipParseError:
                    stats.refusal("not_sip")
                    return CLOSE_POLICY, b"not a SIP message"
                try:
                    await upstream.send_frame(data, kind)
                except (aiohttp.ClientConnectionResetError, ConnectionError):
                    return CLOSE_TRY_AGAIN, b"upstream unavailable"
            elif kind is WSMsgType.ERROR:
                if browser.close_code == CLOSE_TOO_BIG:
                    stats.refusal("too_big")
                    stats.close(CLOSE_TOO_BIG)
                    return CLOSE_TOO_BIG, b"message too big"
                return CLOSE_OK, b""
            else:  # CLOSE, CLOSING, CLOSED: the browser went, or finish() is closing it
                return CLOSE_OK, b""

    async def _from_upstream(self) -> None:
        """Upstream to browser, always as text frames (sip.js 0.15 decodes binary frames as Latin-1)."""
        browser, upstream, stats = self.browser, self.upstream, self.stats
        while True:
            msg = await upstream.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                data: bytes = msg.data
                # The PBX is trusted: its start lines are only read for counting, never validated.
                if data.startswith(b"SIP/2.0 "):
                    stats.response(FROM_UPSTREAM, data[8:11])
                elif data[:1].isalpha():
                    stats.request(FROM_UPSTREAM, data[: data.find(b" ", 0, 33)])
                if kind is WSMsgType.BINARY and not _is_utf8(data):
                    kind = WSMsgType.BINARY
                else:
                    kind = WSMsgType.TEXT
                try:
                    await browser.send_frame(data, kind)
                except ConnectionError:
                    self.finish(CLOSE_OK, b"")
                    return
            else:
                # The upstream closed or failed. If we are closing it ourselves this changes nothing.
                self.finish(CLOSE_TRY_AGAIN, b"upstream unavailable")
                return

    def _identity_refusal(self, method: bytes, data: bytes) -> bytes | None:
        """A SIP 403 if this REGISTER/INVITE claims another user than the session's, else None.

        For REGISTER the To user (the address of record being bound) must match as well. Only the From and
        To headers are read (`sip.identity_users`); the full parse is for building the rare 403.
        """
        froms, tos = sip.identity_users(data)
        if len(froms) != 1 or len(tos) != 1:
            raise sip.SipParseError("a request needs exactly one From and one To")
        if froms[0] == self._username and (method != b"REGISTER" or tos[0] == self._username):
            return None
        self.stats.refusal("identity_mismatch")
        claimed = froms[0] if froms[0] != self._username else tos[0]
        log.warning("refused %s as user %r on the session of %s (customer %s)", method.decode(), claimed,
                    self._username, self.session.customer_id)
        return sip.forbidden_response(sip.parse(data)).encode()


def enable_keepalive(transport: asyncio.BaseTransport | None) -> None:
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    except (OSError, AttributeError):  # not Linux, or not a TCP socket: the PBX's pings still run
        pass


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def origin_allowed(origin: str, allowed: tuple[str, ...], request_host: str) -> bool:
    """The service's own origin (same host) is always allowed; others only when listed in ALLOWED_ORIGINS."""
    origin = origin.strip().rstrip("/").lower()
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request_host.lower()


def check_request(request: web.Request, settings: Settings, stats: RelayStats) -> Session:
    """The checks shared by /ws and /webphone/turn-credentials: Origin, then the session. Raises ApiError."""
    origin = request.headers.get("Origin")
    # Browsers always send Origin on WebSocket handshakes; its absence means a non-browser client, which
    # cross-site WebSocket hijacking cannot involve. Those still need a valid auth_key.
    if origin is not None and not origin_allowed(origin, settings.allowed_origins, request.host):
        stats.refusal("origin_not_allowed")
        raise ApiError(403, {"message": "this origin may not open webphone sessions", "reason": "origin_not_allowed"})
    # A plain dict, dropped after the check: request.query would keep a MultiDict alive on the request (which
    # lives as long as the WebSocket) for nothing.
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    try:
        return parse_session(query, settings.auth_key_secret, datetime.now(timezone.utc))
    except SessionError as exc:
        stats.refusal(exc.reason)
        log.info("refused %s from %s: %s", request.path, request.remote, exc.reason)
        raise ApiError(exc.status, exc.body()) from None


async def open_upstream(http: aiohttp.ClientSession, url: str, remote: str | None) -> aiohttp.ClientWebSocketResponse | None:
    """The upstream leg, or None when the PBX cannot be reached or will not speak `sip`."""
    try:
        upstream = await http.ws_connect(
            url,
            protocols=("sip",),
            compress=0,
            autoping=True,
            max_msg_size=MAX_UPSTREAM_FRAME,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
            decode_text=False,
            headers={"X-Forwarded-For": remote} if remote else None,
        )
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        log.warning("upstream %s unreachable: %s", url, exc.__class__.__name__)
        return None
    if upstream.protocol != "sip":
        await upstream.close()
        log.warning("upstream %s did not accept the sip subprotocol", url)
        return None
    return upstream
