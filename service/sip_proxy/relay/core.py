"""The relay's core, sans-I/O: one session's two WebSocket legs as plain state, bytes in, bytes and actions out.

The asyncio side (protocols.py) feeds it what each socket reads (`receive_browser`, `receive_upstream`) and
what happens to the sockets (`lost`, `pause_writing`, `resume_writing`, the expiry, the close timeout). After
each call it writes `browser.out` and `upstream.out` to their sockets, in order, and carries out `actions`
(stop or resume reading a leg, close or drop its socket, start the closing timeout, end the session). This
module does no I/O and imports no I/O library, so every decision here is tested by feeding it bytes.

What the relay does to SIP (RFC 7118 framing, one message per frame):
- a browser's frames go to the PBX byte for byte (a browser masks its frames, as a client must), after a
  start-line check (`sip.classify`) and the identity policy (identity.py); a request claiming another user
  is answered with a SIP 403 and not forwarded;
- the PBX's frames go to the browser byte for byte as text frames (binary ones are re-framed as text;
  sip.js 0.15 reads binary frames as Latin-1);
- pings are answered on each hop; a message the browser sends in fragments is reassembled before it is checked.

Keep-alives (RFC 5626 CRLF) end at the relay: not every PBX answers them over WebSocket (Asterisk's chan_sip and
PJSIP do not), and a page that hears nothing tears down a healthy link. The relay answers the browser's
`\r\n\r\n` with `\r\n` itself, once the PBX's leg has shown it is alive: anything read from the PBX since the
last liveness check proves that; otherwise a WebSocket ping goes to the PBX and the answer waits for whatever
the PBX sends next (its pong). The I/O side calls `check_upstream()` every UPSTREAM_CHECK_INTERVAL: a check
with nothing heard since the previous one pings the PBX, and a second such check in a row closes the session
(1013 `upstream not responding`), so a vanished PBX is noticed within two intervals.
Kamailio routes replies and in-dialog requests back over the connection an agent registered on, so the
mapping is strictly 1:1 and nothing in the messages is changed.

Closing: either side closing closes the other; the browser's leg gets the code that says why (the README's
close-code table), the PBX's leg 1000 (4001 at expiry). Backpressure: a leg whose socket is full stops the
reading of both legs until it drains (the other leg relays into it, and its own peer fills it too with pongs
and 403s); once closing, both are read again so the peers' Close frames get through.
"""

from __future__ import annotations

import enum
import logging

from .. import sip
from ..session import Session
from ..stats import FROM_BROWSER, FROM_UPSTREAM, RelayStats
from ..wsframe import (
    CloseCode,
    FrameError,
    FrameReader,
    Opcode,
    close_payload,
    encode,
    parse_close,
    unmask,
    valid_close_code,
)
from .dialogs import AgentDialogs
from .identity import DROP, PBX_METHODS, IdentityPolicy

log = logging.getLogger("service.sip_proxy")

MAX_FRAME = 64 * 1024
# Kamailio's own SIP buffer is 65535 bytes; allow more from upstream so a full-size message is never cut.
MAX_UPSTREAM_FRAME = 128 * 1024
CLOSE_TIMEOUT = 3.0  # how long a closing leg waits for the peer's Close before the socket is dropped
# Seconds between two liveness checks of the PBX's leg: a PBX silent (pong included) for two in a row is gone.
# 15 s notices a vanished PBX within 30 s, sooner than the page's own keep-alive did (30 s, then 10 s to answer).
UPSTREAM_CHECK_INTERVAL = 15.0
KEEPALIVE_ANSWER = b"\r\n"  # RFC 5626 section 4.4.1: the pong to a CRLF keep-alive

# Close codes worth a log line (the others are ordinary endings).
_LOGGED_CLOSES = frozenset((CloseCode.SESSION_EXPIRED, CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG,
                            CloseCode.PROTOCOL_ERROR, CloseCode.INTERNAL_ERROR))

# Plain ints for the per-frame comparisons (an IntEnum member compares as fast, but is looked up slower).
_TEXT, _BINARY, _CONTINUATION = int(Opcode.TEXT), int(Opcode.BINARY), int(Opcode.CONTINUATION)
_CLOSE, _PING, _PONG = int(Opcode.CLOSE), int(Opcode.PING), int(Opcode.PONG)
_KEEPALIVE_ANSWER_FRAME = encode(_TEXT, KEEPALIVE_ANSWER, mask=False)  # a server frame: unmasked, the same every time


class Action(enum.Enum):
    """What the I/O side must do besides writing `out`, with the leg it concerns (None: the session)."""

    PAUSE_READING = "pause reading"
    RESUME_READING = "resume reading"
    CLOSE = "close the socket once written"
    ABORT = "drop the socket now"
    CLOSING = "closing has begun: stop the expiry and the liveness checks, call close_timeout() after CLOSE_TIMEOUT"
    DONE = "both sockets are gone"


class Leg:
    """One WebSocket leg as the core sees it: its frame reader, what to write to it, and its closing state."""

    __slots__ = ("close_received", "close_sent", "early", "lost", "name", "out", "read_holds", "reader", "shut")

    def __init__(self, name: str, reader: FrameReader) -> None:
        self.name = name
        self.reader = reader
        self.out: list[bytes] = []  # frames for this leg's socket, in order; the I/O side empties it
        self.close_sent = False
        self.close_received = False
        self.lost = False  # the socket is gone
        self.shut = False  # gone, or told to close or drop: nothing more is written to it
        self.read_holds = 0  # full sockets this leg waits for before it is read again
        self.early = b""  # bytes read before the session started, handled once it has

    def send(self, frame: bytes) -> None:
        if not self.shut:
            self.out.append(frame)

    def __repr__(self) -> str:
        return f"<Leg {self.name}>"


class RelayCore:
    """One session: the browser leg, the upstream leg, the checks in between, and closing both together."""

    __slots__ = (
        "_awaiting_upstream",
        "_fragments",
        "_fragments_opcode",
        "_keepalive_owed",
        "_silent_checks",
        "_unanswered_method",
        "_unanswered_size",
        "_upstream_fragments",
        "actions",
        "browser",
        "close_code",
        "closing",
        "done",
        "identity",
        "session",
        "started",
        "stats",
        "upstream",
        "upstream_heard",
    )

    def __init__(self, session: Session, stats: RelayStats, dialogs: AgentDialogs | None = None) -> None:
        self.session = session
        self.stats = stats
        self.browser = Leg("browser", FrameReader(masked=True, max_size=MAX_FRAME))
        self.upstream = Leg("upstream", FrameReader(masked=False, max_size=MAX_UPSTREAM_FRAME))
        self.actions: list[tuple[Action, Leg | None]] = []  # in order; the I/O side empties it
        self.identity = IdentityPolicy(session.username, dialogs)
        self.started = False
        self.closing = False
        self.close_code: int | None = None
        self.done = False
        self._fragments: list[bytes] | None = None  # a browser message arriving in several frames
        self._fragments_opcode = _TEXT
        self._upstream_fragments: list[bytes] | None = None
        # The last request relayed to the PBX while nothing has come back from it since (ACKs get no answer).
        self._unanswered_method: bytes | None = None
        self._unanswered_size = 0
        # PBX liveness: anything read from it since the last check; a ping out and not yet followed by anything;
        # a browser keep-alive to answer once it is; checks in a row that heard nothing.
        self.upstream_heard = False
        self._awaiting_upstream = False
        self._keepalive_owed = False
        self._silent_checks = 0

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """The 101 went to the browser: relay what either side already sent."""
        self.started = True
        self.upstream_heard = True  # the PBX's own 101 just came
        if self.closing:
            return
        for leg, handle in ((self.upstream, self.receive_upstream), (self.browser, self.receive_browser)):
            early, leg.early = leg.early, b""
            if early and not self.closing:
                handle(early)
        if self.upstream.lost:
            self.lost(self.upstream)

    def expire(self) -> None:
        """The session's expire_date has come: both legs close with 4001, whatever is happening."""
        self.finish(CloseCode.SESSION_EXPIRED, b"session expired")

    def check_upstream(self) -> None:
        """Every UPSTREAM_CHECK_INTERVAL: has the PBX said anything since the last check? If not, ping it; if the
        previous check had to ping too and nothing came back, the PBX is gone: close with 1013."""
        if self.closing or not self.started:
            return
        if self.upstream_heard:
            self.upstream_heard = False
            self._silent_checks = 0
            return
        self._silent_checks += 1
        if self._silent_checks < 2:
            self._ping_upstream()
            return
        self.stats.upstream_failure("not_responding")
        log.warning("the PBX stopped answering on the leg of user %s (customer %s): no pong to its ping",
                    self.session.username, self.session.customer_id)
        self.finish(CloseCode.TRY_AGAIN_LATER, b"upstream not responding")
        self._abort(self.upstream)

    def _ping_upstream(self) -> None:
        if not self._awaiting_upstream:
            self._awaiting_upstream = True
            self.upstream.send(encode(_PING, b"", mask=True))

    def _browser_keepalive(self) -> None:
        """A CRLF keep-alive from the browser: answered here (never forwarded) once the PBX is known alive."""
        if self.upstream_heard:
            self.browser.send(_KEEPALIVE_ANSWER_FRAME)
        else:
            self._keepalive_owed = True
            self._ping_upstream()

    def _upstream_alive(self) -> None:
        """The PBX sent something after a ping: answer the browser's keep-alive that waited for it."""
        self._awaiting_upstream = False
        self._silent_checks = 0
        if self._keepalive_owed:
            self._keepalive_owed = False
            self.browser.send(_KEEPALIVE_ANSWER_FRAME)

    def finish(self, code: int, reason: bytes = b"") -> None:
        """Close both legs; the browser's gets `code`. The first call decides; later ones change nothing."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        browser, upstream = self.browser, self.upstream
        if not browser.lost:
            self.stats.close(code)
        for leg in (browser, upstream):  # read again: the peers' Close frames must get through
            if leg.read_holds:
                leg.read_holds = 0
                self.actions.append((Action.RESUME_READING, leg))
        if code in _LOGGED_CLOSES:
            log.info("closing session of user %s (customer %s): %d %s", self.session.username,
                     self.session.customer_id, code, reason.decode())
        upstream_code = CloseCode.SESSION_EXPIRED if code == CloseCode.SESSION_EXPIRED else CloseCode.NORMAL
        for leg, leg_code, mask in ((browser, code, False), (upstream, upstream_code, True)):
            if leg.lost:
                continue
            if not leg.close_sent:
                payload = close_payload(leg_code, reason if leg_code != CloseCode.NORMAL else b"")
                leg.send(encode(_CLOSE, payload, mask=mask))
                leg.close_sent = True
            if leg.close_received:
                self._close(leg)
        self.actions.append((Action.CLOSING, None))
        self._check_done()

    def close_timeout(self) -> None:
        """The peers did not finish the closing handshake in time (or the session is torn down): drop both."""
        if not self.closing:
            self.finish(CloseCode.GOING_AWAY, b"")
        self._abort(self.browser)
        self._abort(self.upstream)

    def abort(self) -> None:
        """Drop both sockets now (the handler cancelled): as the close timeout does. A method of its own, not an
        alias, because mypyc's native classes refuse a method assigned as a class attribute."""
        self.close_timeout()

    def lost(self, leg: Leg) -> None:
        """`leg`'s socket is gone (closed by either end, or broken)."""
        leg.lost = leg.shut = True
        if leg is self.upstream and not self.started and not self.closing:
            return  # start() reports it: until then the session has not begun
        if not self.closing:
            if leg is self.browser:
                self.finish(CloseCode.NORMAL)  # the browser went away: close the PBX's leg politely
            else:
                self._upstream_closed(None)
        self._check_done()

    def _check_done(self) -> None:
        if self.browser.lost and self.upstream.lost and not self.done:
            self.done = True
            self.actions.append((Action.DONE, None))

    def _close(self, leg: Leg) -> None:
        if not leg.lost and not leg.shut:
            leg.shut = True
            self.actions.append((Action.CLOSE, leg))

    def _abort(self, leg: Leg) -> None:
        if not leg.lost:
            leg.shut = True
            self.actions.append((Action.ABORT, leg))

    def _browser_closed(self, payload: bytes) -> None:
        """The browser's Close (unmasked payload): echo its code (RFC 6455 5.5.1), or fail on a bad one."""
        browser = self.browser
        browser.close_received = True
        if self.closing:
            self._close(browser)
            return
        if not payload:  # no code at all (1005 on the receiving side): answered 1000
            self.finish(CloseCode.NORMAL)
            return
        code = parse_close(payload)
        if len(payload) == 1 or not valid_close_code(code):
            self.stats.refusal("bad_frame")
            self.finish(CloseCode.PROTOCOL_ERROR, b"invalid close code")
            return
        if not payload.isascii():
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self.stats.refusal("not_utf8")
                self.finish(CloseCode.INVALID_DATA, b"close reason is not UTF-8")
                return
        self.finish(code)

    def _upstream_closed(self, code: int | None) -> None:
        """The PBX's leg ended (its Close with `code`, or the socket lost: None) while the session was open."""
        if code == CloseCode.MESSAGE_TOO_BIG:
            self.finish(CloseCode.MESSAGE_TOO_BIG, b"message too big for the PBX")
        elif self._unanswered_method is not None:
            # The PBX hung up on a request it never answered: it could not take that message (Kamailio drops
            # what exceeds its tcp_rd_buf_size and closes), which is not the PBX being unavailable.
            self.stats.refused("upstream_dropped_message", logging.WARNING,
                               "the PBX closed the leg of user %s (customer %s) after a %d-byte %s it never "
                               "answered: it could not take that message", self.session.username,
                               self.session.customer_id, self._unanswered_size,
                               self._unanswered_method.decode(errors="replace"))
            self.finish(CloseCode.INTERNAL_ERROR, b"the PBX dropped a message")
        else:
            self.finish(CloseCode.TRY_AGAIN_LATER, b"upstream unavailable")

    # -- backpressure ----------------------------------------------------------------------------------------

    def pause_writing(self, leg: Leg) -> None:
        """`leg`'s socket is full: stop reading both legs until it drains (backpressure end to end).

        The other leg relays into it, and this leg's own peer fills it too (pongs, SIP 403s), so reading that
        peer must stop as well. Once closing, nothing is held: only Close frames are read then.
        """
        if not self.closing:
            self._hold(self.browser)
            self._hold(self.upstream)

    def resume_writing(self, leg: Leg) -> None:
        self._release(self.browser)
        self._release(self.upstream)

    def _hold(self, leg: Leg) -> None:
        leg.read_holds += 1
        if leg.read_holds == 1:
            self.actions.append((Action.PAUSE_READING, leg))

    def _release(self, leg: Leg) -> None:
        if leg.read_holds == 0:  # a resume without its pause (closing released every hold)
            return
        leg.read_holds -= 1
        if leg.read_holds == 0:
            self.actions.append((Action.RESUME_READING, leg))

    # -- browser to upstream ---------------------------------------------------------------------------------

    def receive_browser(self, data: bytes) -> None:
        browser = self.browser
        if not self.started:
            browser.early += data
            return
        try:
            frames = browser.reader.feed(data)
        except FrameError as exc:
            if not self.closing:
                self.stats.refusal("too_big" if exc.code == CloseCode.MESSAGE_TOO_BIG else "bad_frame")
            self.finish(exc.code, exc.reason.encode())
            self._close(browser)  # after the Close frame is flushed: the rest of the stream is unreadable
            return
        if self.closing:  # only the browser's Close matters now
            for first, payload, key, _raw in frames:
                if first & 0x0F == _CLOSE:
                    self._browser_closed(unmask(payload, key))
            return
        for first, payload, key, raw in frames:
            opcode = first & 0x0F
            if opcode == _TEXT or opcode == _BINARY:  # noqa: SIM109 - no tuple built per frame
                if self._fragments is not None:  # RFC 6455 5.4: only continuations until the message ends
                    self.stats.refusal("bad_frame")
                    self.finish(CloseCode.PROTOCOL_ERROR, b"new message inside a fragmented one")
                    return
                if first & 0x80:
                    self._browser_message(unmask(payload, key), raw, opcode)
                else:
                    self._fragments, self._fragments_opcode = [unmask(payload, key)], Opcode(opcode)
            elif opcode == _CONTINUATION:
                self._browser_fragment(first, unmask(payload, key))
            elif opcode == _PING:
                browser.send(encode(_PONG, unmask(payload, key), mask=False))
            elif opcode == _CLOSE:
                self._browser_closed(unmask(payload, key))
            if self.closing:  # set by the calls above (mypy keeps the narrowing from the check before the loop)
                return  # type: ignore[unreachable]

    def _browser_fragment(self, first: int, part: bytes) -> None:
        if self._fragments is None:
            self.finish(CloseCode.PROTOCOL_ERROR, b"continuation without a first frame")
            return
        self._fragments.append(part)
        if sum(map(len, self._fragments)) > MAX_FRAME:
            self.stats.refusal("too_big")
            self.finish(CloseCode.MESSAGE_TOO_BIG, b"message too big")
            return
        if first & 0x80:
            message, self._fragments = b"".join(self._fragments), None
            self._browser_message(message, None, self._fragments_opcode)

    def _browser_message(self, message: bytes, raw: bytes | None, opcode: int) -> None:
        stats = self.stats
        if opcode == _TEXT and not message.isascii():  # RFC 6455 8.1: a text message must be UTF-8
            try:
                message.decode("utf-8")
            except UnicodeDecodeError:
                stats.refusal("not_utf8")
                self.finish(CloseCode.INVALID_DATA, b"text message is not UTF-8")
                return
        try:
            what, token = sip.classify(message)
            if what == "keepalive":
                self._browser_keepalive()
                return
            framing = sip.framing_error(message)
            if framing is not None:
                self._badly_framed(what, token, message, framing)
                return
            if what == "request":
                stats.request(FROM_BROWSER, token)
                refusal = self.identity.check(token, message)
                if refusal is not None:
                    if refusal is DROP:  # the ACK for a 403 the relay made: the PBX never saw that INVITE
                        return
                    stats.refused("identity_mismatch", logging.WARNING,
                                  "refused %s as user %r on the session of %s (customer %s)",
                                  refusal.method.decode(), refusal.claimed, self.session.username,
                                  self.session.customer_id)
                    self.browser.send(encode(_TEXT, refusal.response, mask=False))
                    return
                if token != b"ACK" and token.upper() != b"ACK":
                    self._unanswered_method = token
                    self._unanswered_size = len(message)
            elif what == "response":
                stats.response(FROM_BROWSER, token)
                if self.identity.dialogs.offered:
                    self.identity.browser_response(token, message)
        except sip.SipParseError:
            stats.refusal("not_sip")
            self.finish(CloseCode.POLICY_VIOLATION, b"not a SIP message")
            return
        # The browser's own frame, still masked with its key, is a valid client frame for the PBX.
        upstream = self.upstream
        if not upstream.shut:  # upstream.send, inline: once per message
            upstream.out.append(raw if raw is not None else encode(opcode, message, mask=True))

    def _badly_framed(self, what: str, token: bytes, message: bytes, reason: str) -> None:
        """A browser message whose head is not strictly CRLF-framed (`reason`, from sip.framing_error): a SIP 400
        for a request (when one can be built), else close 1008. Nothing of it is forwarded."""
        self.stats.refused("bad_framing", logging.WARNING, "refused a badly framed %s (%s) on the session of %s "
                           "(customer %s)", token.decode(errors="replace"), reason, self.session.username,
                           self.session.customer_id)
        response = self.identity.refuse(token, message, 400, "Bad Request") if what == "request" else None
        if response is None:
            self.finish(CloseCode.POLICY_VIOLATION, b"badly framed SIP message")
        else:
            self.browser.send(encode(_TEXT, response, mask=False))

    # -- upstream to browser ---------------------------------------------------------------------------------

    def receive_upstream(self, data: bytes) -> None:
        upstream = self.upstream
        if not self.started:
            upstream.early += data
            return
        self.upstream_heard = True
        if self._awaiting_upstream:
            self._upstream_alive()
        try:
            frames = upstream.reader.feed(data)
        except FrameError as exc:
            log.warning("upstream framing error: %s", exc.reason)
            self.finish(CloseCode.TRY_AGAIN_LATER, b"upstream protocol error")
            self._abort(upstream)
            return
        stats = self.stats
        browser = self.browser
        for first, payload, _key, raw in frames:
            opcode = first & 0x0F
            if self.closing and opcode != _CLOSE:
                continue
            if opcode == _TEXT and first & 0x80:
                self._unanswered_method = None  # the PBX is answering: what it does next is not about that request
                # The PBX is trusted: its start lines are read only to count them.
                if payload.startswith(b"SIP/2.0 "):
                    stats.response(FROM_UPSTREAM, payload[8:11])
                    if self.identity.register_pending:
                        self._seen_from_upstream(payload[8:11], payload, response=True)
                elif payload[:1].isalpha():
                    method = payload[: payload.find(b" ", 0, 33)]
                    stats.request(FROM_UPSTREAM, method)
                    if method in PBX_METHODS:
                        self._seen_from_upstream(method, payload, response=False)
                if not browser.shut:  # browser.send(raw), inline: an unmasked server frame is valid for it as it is
                    browser.out.append(raw)
            elif opcode == _BINARY or opcode == _TEXT or opcode == _CONTINUATION:  # noqa: SIM109
                self._upstream_other(first, opcode, payload)
            elif opcode == _PING:
                upstream.send(encode(_PONG, payload, mask=True))
            elif opcode == _CLOSE:
                upstream.close_received = True
                if self.closing:
                    self._close(upstream)
                else:
                    self._upstream_closed(parse_close(payload))

    def _seen_from_upstream(self, token: bytes, message: bytes, response: bool) -> None:
        """Show the identity policy a PBX message it tracks (a REGISTER's answer, a dialog begun or ended)."""
        try:
            if response:
                self.identity.pbx_response(token, message)
            else:
                self.identity.pbx_request(token, message)
        except sip.SipParseError:
            pass  # the PBX is trusted to speak SIP; what cannot be read here just sets up no dialog

    def _upstream_other(self, first: int, opcode: int, payload: bytes) -> None:
        """Binary or fragmented messages from the PBX: reassembled and sent to the browser as one text frame."""
        self._unanswered_method = None
        if opcode != _CONTINUATION:
            self._upstream_fragments = []
        if self._upstream_fragments is None:
            self.finish(CloseCode.TRY_AGAIN_LATER, b"upstream protocol error")
            return
        self._upstream_fragments.append(payload)
        if not first & 0x80:
            return
        message, self._upstream_fragments = b"".join(self._upstream_fragments), None
        try:
            message.decode("utf-8")
            kind = _TEXT
        except UnicodeDecodeError:
            kind = _BINARY
        self.browser.send(encode(kind, message, mask=False))
