"""The relay's asyncio side: two small protocols over one `RelayCore`, and `Relay`, which runs a session.

aiohttp accepts the browser's handshake (after the checks in routes.py); the relay opens the upstream leg
itself (upstream.py). From then on both sockets belong to `BrowserLeg` and `UpstreamLeg`, and every read is
handed to the core in `data_received`, with no task switch per message: that is most of what a relay built
on aiohttp's message API spends its CPU on. After each call into the core, `Relay.flush` writes what the core
queued for each socket and carries out its actions (core.py says what each one means).
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from ..deadlines import Deadlines, Entry
from ..handshake import MAX_RESPONSE_HEAD, HandshakeError, check_response, closed_during_handshake, request_bytes
from ..session import Session
from ..stats import RelayStats
from .core import CLOSE_TIMEOUT, UPSTREAM_CHECK_INTERVAL, Action, Leg, RelayCore
from .dialogs import AgentDialogs

# A vanished browser (no FIN: sleep, network gone) is noticed by TCP keep-alive probes after this many idle
# seconds, then 3 probes 10 s apart: the kernel does it, the hot path pays nothing per message.
KEEPALIVE_IDLE = 30


class _Protocol(asyncio.Protocol):
    """One socket of a relay; `leg` is its state in the core once the relay is wired up."""

    __slots__ = ("leg", "relay", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.relay: Relay | None = None
        self.leg: Leg | None = None

    def pause_writing(self) -> None:
        relay = self.relay
        if relay is not None and self.leg is not None:
            relay.core.pause_writing(self.leg)
            relay.flush()

    def resume_writing(self) -> None:
        relay = self.relay
        if relay is not None and self.leg is not None:
            relay.core.resume_writing(self.leg)
            relay.flush()

    def eof_received(self) -> bool:
        return False  # half-closed makes no sense for a WebSocket: close


class BrowserLeg(_Protocol):
    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        assert relay is not None
        relay.core.receive_browser(data)
        relay.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        relay = self.relay
        if relay is not None:
            relay.core.lost(relay.core.browser)
            relay.flush()


class UpstreamLeg(_Protocol):
    """The upstream socket; until the handshake completes it collects the HTTP response."""

    __slots__ = ("_head", "_key", "_request", "early", "handshake", "lost")

    def __init__(self, url: str, key: str, forwarded_for: str | None) -> None:
        super().__init__()
        self._request = request_bytes(url, key, "sip", forwarded_for)
        self._key = key
        self._head = b""
        self.early = b""  # what followed the 101 before a relay took this leg (handed to its core)
        self.lost = False
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.write(self._request)
        self._request = b""  # sent once: not kept for the session's life

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay is not None:
            relay.core.receive_upstream(data)
            relay.flush()
            return
        if self.handshake.done():
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
            self.handshake.set_exception(closed_during_handshake(self._head))
        self.lost = True
        relay = self.relay
        if relay is not None:
            relay.core.lost(relay.core.upstream)
            relay.flush()

    def abort(self) -> None:
        """Drop the socket (a leg no relay took: the connect failed, or the browser left meanwhile)."""
        if self.transport is not None and not self.lost:
            self.transport.abort()


class Relay:
    """One session on the event loop: the core, its two sockets, the expiry, the PBX's liveness checks (one
    `Deadlines` entry at a time, re-armed after each) and the closing timeout."""

    __slots__ = (
        "_check",
        "_check_interval",
        "_close_timer",
        "_deadlines",
        "_expiry",
        "_flushing",
        "browser",
        "core",
        "done",
        "session",
        "upstream",
    )

    def __init__(self, session: Session, stats: RelayStats, upstream: UpstreamLeg,
                 dialogs: AgentDialogs | None = None) -> None:
        self.core = core = RelayCore(session, stats, dialogs)
        self.session = session
        self.browser = BrowserLeg()
        self.browser.relay, self.browser.leg = self, core.browser
        self.upstream = upstream
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._deadlines: Deadlines | None = None
        self._expiry: Entry | None = None
        self._check: Entry | None = None
        self._check_interval = UPSTREAM_CHECK_INTERVAL  # seconds between two core.check_upstream() calls
        self._close_timer: asyncio.TimerHandle | None = None
        self._flushing = False
        early, upstream.early = upstream.early, b""
        upstream.relay, upstream.leg = self, core.upstream
        if early:
            core.receive_upstream(early)  # kept by the core until start()
        if upstream.lost:
            core.lost(core.upstream)

    @property
    def closing(self) -> bool:
        return self.core.closing

    @property
    def close_code(self) -> int | None:
        return self.core.close_code

    def attach_browser(self, transport: asyncio.Transport, early: bytes = b"") -> None:
        """The browser's socket, taken over from aiohttp before the 101 (aiohttp_internals.take_over), and
        what the browser had sent already (relayed once the session starts)."""
        self.browser.transport = transport
        if early:
            self.core.receive_browser(early)

    def start(self, deadlines: Deadlines, check_interval: float = UPSTREAM_CHECK_INTERVAL) -> None:
        """After the 101 went to the browser: relay what either side already sent, watch the expiry, and check
        the PBX's leg every `check_interval` seconds."""
        core = self.core
        if not core.closing:
            self._deadlines = deadlines
            self._check_interval = check_interval
            self._expiry = deadlines.add(self.session.expires_ts, self.expire)
            self._check = deadlines.after(self._check_interval, self.check_upstream)
        core.start()
        self.flush()

    def check_upstream(self) -> None:
        self._check = None
        core = self.core
        core.check_upstream()
        self.flush()
        if not core.closing and self._deadlines is not None:
            self._check = self._deadlines.after(self._check_interval, self.check_upstream)

    def expire(self) -> None:
        self.core.expire()
        self.flush()

    def finish(self, code: int, reason: bytes = b"") -> None:
        self.core.finish(code, reason)
        self.flush()

    def abort(self) -> None:
        """Drop both sockets now (close timeout, or the handler being cancelled)."""
        self.core.abort()
        self.flush()

    def flush(self) -> None:
        """Write what the core queued for each socket, then carry out its actions, in order.

        A write can call `pause_writing` back, which queues actions: those are carried out by this same call,
        after the writes (a nested flush would write the same frames twice, so it does nothing).
        """
        if self._flushing:
            return
        self._flushing = True
        try:
            core = self.core
            out = core.browser.out
            if out:
                transport = self.browser.transport
                if transport is not None:
                    for frame in out:
                        if transport.is_closing():  # closed, or a write just failed: the rest goes nowhere
                            break
                        transport.write(frame)
                out.clear()
            out = core.upstream.out
            if out:
                transport = self.upstream.transport
                if transport is not None:
                    for frame in out:
                        if transport.is_closing():
                            break
                        transport.write(frame)
                out.clear()
            if core.actions:
                self._act(core.actions)
        finally:
            self._flushing = False

    def _act(self, actions: list[tuple[Action, Leg | None]]) -> None:
        core = self.core
        while actions:
            action, leg = actions.pop(0)
            if leg is not None:
                transport = (self.browser if leg is core.browser else self.upstream).transport
                if transport is None:
                    continue
                if action is Action.PAUSE_READING or action is Action.RESUME_READING:
                    if not transport.is_closing():
                        try:
                            if action is Action.PAUSE_READING:
                                transport.pause_reading()
                            else:
                                transport.resume_reading()
                        except RuntimeError:
                            pass
                elif action is Action.CLOSE:
                    transport.close()
                else:
                    transport.abort()
            elif action is Action.CLOSING:
                if self._deadlines is not None:
                    for entry in (self._expiry, self._check):
                        if entry is not None:
                            self._deadlines.cancel(entry)
                self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.abort)
            elif action is Action.DONE:
                if self._close_timer is not None:
                    self._close_timer.cancel()
                if not self.done.done():
                    self.done.set_result(None)


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
