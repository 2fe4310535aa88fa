"""The signalling relay's pipe: one browser WebSocket and its own upstream WebSocket, frame by frame.

aiohttp accepts the browser's handshake (after the checks in routes.py); the relay opens the upstream leg
itself (handshake.py). From then on both sockets belong to two small asyncio protocols (`BrowserLeg`,
`UpstreamLeg`) and every frame is handled in `data_received`, with no task switch per message: that is
most of what a relay built on aiohttp's message API spends its CPU on.

What the pipe does to SIP (RFC 7118 framing, one message per frame):
- a browser's frames go to the PBX byte for byte (a browser masks its frames, as a client must), after a
  start-line check (`sip.classify`) and, for REGISTER and INVITE, the identity check (`sip.identity_users`);
  a REGISTER/INVITE claiming another user is answered with a SIP 403 and not forwarded;
- the PBX's frames go to the browser byte for byte as text frames (binary ones are re-framed as text;
  sip.js 0.15 reads binary frames as Latin-1);
- pings are answered on each hop; CRLF keep-alives are data and pass through.
Kamailio routes replies and in-dialog requests back over the connection an agent registered on, so the
mapping is strictly 1:1 and nothing in the messages is changed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from urllib.parse import urlsplit

from . import sip
from .deadlines import Deadlines
from .handshake import MAX_RESPONSE_HEAD, HandshakeError, check_response, new_key, request_bytes
from .session import Session
from .upstream_tls import describe_failure
from .stats import FROM_BROWSER, FROM_UPSTREAM, RelayStats
from .wsframe import (
    OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, FrameError, FrameReader, close_payload, encode,
    parse_close, unmask,
)

log = logging.getLogger("service.sip_proxy")

MAX_FRAME = 64 * 1024
# Kamailio's own SIP buffer is 65535 bytes; allow more from upstream so a full-size message is never cut.
MAX_UPSTREAM_FRAME = 128 * 1024
IDENTITY_METHODS = frozenset({b"REGISTER", b"INVITE"})
# A vanished browser (no FIN: sleep, network gone) is noticed by TCP keep-alive probes after this many idle
# seconds, then 3 probes 10 s apart: the kernel does it, the hot path pays nothing per message.
KEEPALIVE_IDLE = 30
CLOSE_TIMEOUT = 3.0  # how long a closing leg waits for the peer's Close before the socket is dropped
CONNECT_TIMEOUT = 5.0

CLOSE_OK = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL = 1002
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
CLOSE_EXPIRED = 4001


class _Leg(asyncio.Protocol):
    """One socket of a relay: its frame reader, and flow control toward the other leg."""

    transport: asyncio.Transport | None = None

    def __init__(self, reader: FrameReader) -> None:
        self.relay: Relay | None = None
        self.reader = reader
        self.close_sent = False
        self.close_received = False
        self.lost = False
        self.read_holds = 0  # full sockets this one waits for before it is read again

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close_transport(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def other(self) -> "_Leg":
        raise NotImplementedError

    # This socket is full: stop reading both until it drains (backpressure end to end). The other leg relays
    # into it, and this leg's own peer fills it too (pongs, SIP 403s), so reading that peer must stop as well.
    def pause_writing(self) -> None:
        if self.relay is not None and not self.relay.closing:  # closing: only Close frames are read, see finish
            self.hold_reading()
            self.other().hold_reading()

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.release_reading()
            self.other().release_reading()

    def hold_reading(self) -> None:
        self.read_holds += 1
        if self.read_holds == 1:
            _set_reading(self.transport, False)

    def release_reading(self) -> None:
        if self.read_holds == 0:  # a resume without its pause (before the relay was wired up)
            return
        self.read_holds -= 1
        if self.read_holds == 0:
            _set_reading(self.transport, True)

    def eof_received(self) -> bool:
        return False  # half-closed makes no sense for a WebSocket: close

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.relay is not None:
            self.relay.leg_lost(self)


def _set_reading(transport: asyncio.Transport | None, on: bool) -> None:
    if transport is None or transport.is_closing():
        return
    try:
        transport.resume_reading() if on else transport.pause_reading()
    except RuntimeError:
        pass


class BrowserLeg(_Leg):
    def other(self) -> _Leg:
        assert self.relay is not None
        return self.relay.upstream

    early = b""  # a client that sends before it has read the 101: kept until the relay starts

    def data_received(self, data: bytes) -> None:
        assert self.relay is not None
        if self.relay.started:
            self.relay.from_browser(data)
        else:
            self.early += data


class UpstreamLeg(_Leg):
    """The upstream socket; until the handshake completes it collects the HTTP response."""

    def __init__(self, url: str, key: str, forwarded_for: str | None) -> None:
        super().__init__(FrameReader(masked=False, max_size=MAX_UPSTREAM_FRAME))
        self._request = request_bytes(url, key, "sip", forwarded_for)
        self._key = key
        self._head = b""
        self.early = b""  # frames that arrive before the relay has started (sent on once it has)
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def other(self) -> _Leg:
        assert self.relay is not None
        return self.relay.browser

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.handshake.done():
            if self.relay is not None and self.relay.started:
                self.relay.from_upstream(data)
            else:
                self.early += data
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_RESPONSE_HEAD:
                self.handshake.set_exception(HandshakeError("response head too long"))
            return
        head, rest = self._head[:end], self._head[end + 4:]
        self._head = b""
        try:
            check_response(head, self._key)
        except HandshakeError as exc:
            self.handshake.set_exception(exc)
            return
        self.handshake.set_result(None)
        self.early = rest

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError("connection closed during the handshake"))
        self.lost = True
        if self.relay is not None and self.relay.started:
            self.relay.leg_lost(self)


async def connect_upstream(url: str, forwarded_for: str | None, tls: ssl.SSLContext | None) -> UpstreamLeg | None:
    """Open and upgrade the upstream leg; None (logged) when the PBX cannot be reached or refuses `sip`.

    `tls` is the one client context built at start-up (upstream_tls.py), used for wss:// URLs.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    context = tls if parts.scheme == "wss" else None
    leg = UpstreamLeg(url, new_key(), forwarded_for)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: leg, parts.hostname, port, ssl=context), CONNECT_TIMEOUT)
        await asyncio.wait_for(asyncio.shield(leg.handshake), CONNECT_TIMEOUT)
    except (OSError, asyncio.TimeoutError, HandshakeError) as exc:
        log.warning("upstream %s://%s:%s unusable: %s", parts.scheme, parts.hostname, port,
                    exc if isinstance(exc, HandshakeError) else describe_failure(exc))
        leg.abort()
        return None
    except BaseException:  # cancelled (shutdown): the socket may be open already
        leg.abort()
        raise
    return leg


class Relay:
    """One session: the browser leg, the upstream leg, the checks in between, and closing both together."""

    def __init__(self, session: Session, stats: RelayStats, upstream: UpstreamLeg) -> None:
        self.session = session
        self.stats = stats
        self._username = session.username
        self.browser = BrowserLeg(FrameReader(masked=True, max_size=MAX_FRAME))
        self.browser.relay = self
        self.upstream = upstream
        upstream.relay = self
        self.started = False
        self.closing = False
        self.close_code: int | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._expiry: list | None = None
        self._deadlines: Deadlines | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._fragments: list[bytes] | None = None  # a browser message arriving in several frames
        self._fragments_opcode = OP_TEXT
        self._upstream_fragments: list[bytes] | None = None

    # -- life cycle ----------------------------------------------------------------------------------------

    def attach_browser(self, transport: asyncio.Transport) -> None:
        """Take the browser's socket over from aiohttp, before aiohttp writes the 101: nothing can be missed."""
        self.browser.transport = transport
        transport.set_protocol(self.browser)

    def start(self, deadlines: Deadlines) -> None:
        """After the 101 went to the browser: relay what the PBX already sent, and watch the expiry."""
        self.started = True
        if self.closing:
            return
        self._deadlines = deadlines
        self._expiry = deadlines.add(self.session.expires_ts, self.expire)
        for leg, handle in ((self.upstream, self.from_upstream), (self.browser, self.from_browser)):
            early, leg.early = leg.early, b""
            if early and not self.closing:
                handle(early)
        if self.upstream.lost:
            self.leg_lost(self.upstream)

    def expire(self) -> None:
        """The session's expire_date has come: both legs close with 4001, whatever is happening."""
        self.finish(CLOSE_EXPIRED, b"session expired")

    def finish(self, code: int, reason: bytes = b"") -> None:
        """Close both legs; the browser's gets `code`. The first call decides; later ones change nothing."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        if self._expiry is not None and self._deadlines is not None:
            self._deadlines.cancel(self._expiry)
        if not self.browser.lost:
            self.stats.close(code)
        for leg in (self.browser, self.upstream):  # read again: the peers' Close frames must get through
            if leg.read_holds:
                leg.read_holds = 0
                _set_reading(leg.transport, True)
        if code in (CLOSE_EXPIRED, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_PROTOCOL, CLOSE_INTERNAL):
            log.info("closing session of user %s (customer %s): %d %s", self._username,
                     self.session.customer_id, code, reason.decode())
        upstream_code = CLOSE_EXPIRED if code == CLOSE_EXPIRED else CLOSE_OK
        for leg, leg_code, mask in ((self.browser, code, False), (self.upstream, upstream_code, True)):
            if leg.lost:
                continue
            if not leg.close_sent:
                leg.write(encode(OP_CLOSE, close_payload(leg_code, reason if leg_code != CLOSE_OK else b""), mask=mask))
                leg.close_sent = True
            if leg.close_received:
                leg.close_transport()
        self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.abort)
        self._check_done()

    def abort(self) -> None:
        """Drop both sockets now (close timeout, or the handler being cancelled)."""
        if not self.closing:
            self.finish(CLOSE_GOING_AWAY, b"")
        self.browser.abort()
        self.upstream.abort()

    def leg_lost(self, leg: _Leg) -> None:
        if not self.closing:
            if leg is self.browser:
                self.finish(CLOSE_OK)  # the browser went away: close the PBX's leg politely
            else:
                self.finish(CLOSE_TRY_AGAIN, b"upstream unavailable")
        self._check_done()

    def _check_done(self) -> None:
        if self.browser.lost and self.upstream.lost and not self.done.done():
            if self._close_timer is not None:
                self._close_timer.cancel()
            self.done.set_result(None)

    def _closed_by_peer(self, leg: _Leg, code: int) -> None:
        leg.close_received = True
        if self.closing:
            leg.close_transport()
        elif leg is self.browser:
            # Echo the browser's own code (RFC 6455 5.5.1); 1005/1006 cannot be sent, so 1000 instead.
            self.finish(code if 1000 <= code < 5000 and code not in (1005, 1006, 1015) else CLOSE_OK)
        else:
            self.finish(CLOSE_TRY_AGAIN, b"upstream unavailable")

    # -- browser to upstream ---------------------------------------------------------------------------------

    def from_browser(self, data: bytes) -> None:
        # Fast path: the read holds exactly one whole, masked, unfragmented text frame (what browsers send).
        # A read can be shorter than a frame header (6 bytes at least, masked): those take the slow path.
        if (not self.closing and data[0] == 0x81 and len(data) > 5 and not self.browser.reader.pending
                and self._fragments is None):
            length = data[1] & 0x7F
            header = 2 if length < 126 else 4 if length == 126 else 0
            if header == 4:
                length = (data[2] << 8) | data[3]
            if header and data[1] & 0x80 and header + 4 + length == len(data) and length <= MAX_FRAME:
                self._browser_message(unmask(data[header + 4:], data[header:header + 4]), data, OP_TEXT)
                return
        if self.closing:  # only the browser's Close matters now
            for first, payload, key, _raw in self._safe_feed(self.browser, data) or ():
                if first & 0x0F == OP_CLOSE:
                    self._closed_by_peer(self.browser, parse_close(unmask(payload, key)))
            return
        frames = self._safe_feed(self.browser, data)
        if frames is None:
            return
        for first, payload, key, raw in frames:
            opcode = first & 0x0F
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if self._fragments is not None:  # RFC 6455 5.4: only continuations until the message ends
                    self.stats.refusal("bad_frame")
                    self.finish(CLOSE_PROTOCOL, b"new message inside a fragmented one")
                    return
                if first & 0x80:
                    self._browser_message(unmask(payload, key), raw, opcode)
                else:
                    self._fragments, self._fragments_opcode = [unmask(payload, key)], opcode
            elif opcode == OP_CONTINUATION:
                self._browser_fragment(first, unmask(payload, key))
            elif opcode == OP_PING:
                self.browser.write(encode(OP_PONG, unmask(payload, key), mask=False))
            elif opcode == OP_CLOSE:
                self._closed_by_peer(self.browser, parse_close(unmask(payload, key)))
            if self.closing:
                return

    def _browser_fragment(self, first: int, part: bytes) -> None:
        if self._fragments is None:
            self.finish(CLOSE_PROTOCOL, b"continuation without a first frame")
            return
        self._fragments.append(part)
        if sum(map(len, self._fragments)) > MAX_FRAME:
            self.stats.refusal("too_big")
            self.finish(CLOSE_TOO_BIG, b"message too big")
            return
        if first & 0x80:
            message, self._fragments = b"".join(self._fragments), None
            self._browser_message(message, None, self._fragments_opcode)

    def _browser_message(self, message: bytes, raw: bytes | None, opcode: int) -> None:
        stats = self.stats
        try:
            what, token = sip.classify(message)
            if what == "request":
                stats.request(FROM_BROWSER, token)
                method = token.upper()  # the PBX reads method names in any case (Kamailio does)
                if method in IDENTITY_METHODS:
                    refusal = self._identity_refusal(method, message)
                    if refusal is not None:
                        self.browser.write(encode(OP_TEXT, refusal, mask=False))
                        return
            elif what == "response":
                stats.response(FROM_BROWSER, token)
        except sip.SipParseError:
            stats.refusal("not_sip")
            self.finish(CLOSE_POLICY, b"not a SIP message")
            return
        # The browser's own frame, still masked with its key, is a valid client frame for the PBX.
        self.upstream.write(raw if raw is not None else encode(opcode, message, mask=True))

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
        claimed = froms[0] if froms[0] != self._username else tos[0]
        self.stats.refused("identity_mismatch", logging.WARNING, "refused %s as user %r on the session of %s "
                           "(customer %s)", method.decode(), claimed, self._username, self.session.customer_id)
        return sip.forbidden_response(sip.parse(data)).encode()

    # -- upstream to browser ---------------------------------------------------------------------------------

    def from_upstream(self, data: bytes) -> None:
        # Fast path: the read holds exactly one whole unfragmented text frame (what Kamailio sends); a read
        # shorter than the 4 bytes the header check may index takes the slow path.
        if not self.closing and data[0] == 0x81 and len(data) > 3 and not self.upstream.reader.pending:
            length = data[1]
            header = 2 if length < 126 else 4 if length == 126 else 0
            if header == 4:
                length = (data[2] << 8) | data[3]
            if header and header + length == len(data):
                if data.startswith(b"SIP/2.0 ", header):
                    self.stats.response(FROM_UPSTREAM, data[header + 8:header + 11])
                elif data[header:header + 1].isalpha():
                    self.stats.request(FROM_UPSTREAM, data[header:data.find(b" ", header, header + 33)])
                self.browser.write(data)
                return
        frames = self._safe_feed(self.upstream, data)
        if frames is None:
            return
        stats = self.stats
        for first, payload, _key, raw in frames:
            opcode = first & 0x0F
            if self.closing and opcode != OP_CLOSE:
                continue
            if opcode == OP_TEXT and first & 0x80:
                # The PBX is trusted: its start lines are read only to count them.
                if payload.startswith(b"SIP/2.0 "):
                    stats.response(FROM_UPSTREAM, payload[8:11])
                elif payload[:1].isalpha():
                    stats.request(FROM_UPSTREAM, payload[: payload.find(b" ", 0, 33)])
                self.browser.write(raw)  # an unmasked server frame: valid for the browser as it is
            elif opcode == OP_BINARY or opcode == OP_TEXT or opcode == OP_CONTINUATION:
                self._upstream_other(first, opcode, payload)
            elif opcode == OP_PING:
                self.upstream.write(encode(OP_PONG, payload, mask=True))
            elif opcode == OP_CLOSE:
                self._closed_by_peer(self.upstream, parse_close(payload))

    def _upstream_other(self, first: int, opcode: int, payload: bytes) -> None:
        """Binary or fragmented messages from the PBX: reassembled and sent to the browser as one text frame."""
        if opcode != OP_CONTINUATION:
            self._upstream_fragments = []
        if self._upstream_fragments is None:
            self.finish(CLOSE_TRY_AGAIN, b"upstream protocol error")
            return
        self._upstream_fragments.append(payload)
        if not first & 0x80:
            return
        message, self._upstream_fragments = b"".join(self._upstream_fragments), None
        try:
            message.decode("utf-8")
            kind = OP_TEXT
        except UnicodeDecodeError:
            kind = OP_BINARY
        self.browser.write(encode(kind, message, mask=False))

    def _safe_feed(self, leg: _Leg, data: bytes) -> list | None:
        """Frames from `data`; on a framing error, close (the browser's leg gets 1002 or 1009) and None."""
        try:
            return leg.reader.feed(data)
        except FrameError as exc:
            if leg is self.upstream:
                log.warning("upstream framing error: %s", exc.reason)
                self.finish(CLOSE_TRY_AGAIN, b"upstream protocol error")
                leg.abort()
            else:
                if not self.closing:
                    self.stats.refusal("too_big" if exc.code == CLOSE_TOO_BIG else "bad_frame")
                self.finish(exc.code, exc.reason.encode())
                leg.close_transport()  # after the Close frame is flushed: the rest of the stream is unreadable
            return None


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
