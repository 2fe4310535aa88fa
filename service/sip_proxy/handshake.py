"""The client side of a WebSocket opening handshake (RFC 6455 section 4.1), sans-I/O.

The relay opens its upstream legs itself rather than through aiohttp's client, so that after the handshake
the socket belongs to the relay's own protocol (see relay.py for why).
"""

from __future__ import annotations

import base64
import hashlib
import os
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_RESPONSE_HEAD = 8192


class HandshakeError(Exception):
    """The server did not accept the WebSocket (or not with the `sip` subprotocol)."""


class UpstreamFull(HandshakeError):
    """The server took the connection (TCP, and TLS for wss://) and closed it without a byte of HTTP answer.

    That is how Asterisk's HTTP server turns away a connection over its `http.conf` `sessionlimit`: a PBX that
    is up but full, as opposed to one that refuses the connection or never answers (down).
    """


FULL = "the PBX closed the connection without answering the WebSocket handshake: it is full (Asterisk's sessionlimit)"


def closed_during_handshake(received: bytes) -> HandshakeError:
    """The error for a connection closed before the response head ended, `received` being what came of it."""
    if not received:
        return UpstreamFull(FULL)
    return HandshakeError("connection closed during the WebSocket handshake")


def failure_reason(exc: BaseException) -> str:
    """The sip_relay_upstream_failures reason of a failed upstream open: `full`, `refused` or `unreachable`."""
    if isinstance(exc, UpstreamFull):
        return "full"
    if isinstance(exc, HandshakeError):
        return "refused"
    return "unreachable"


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def request_bytes(url: str, key: str, protocol: str = "sip", forwarded_for: str | None = None) -> bytes:
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "wss" else 80
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != default_port:
        host = f"{host}:{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Protocol: {protocol}",
    ]
    if forwarded_for:
        lines.append(f"X-Forwarded-For: {forwarded_for}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def check_response(head: bytes, key: str, protocol: str = "sip") -> None:
    """Validate the response head (status line and headers, without the blank line). Raises HandshakeError."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("HTTP/1.") or status[1] != "101":
        raise HandshakeError(f"upstream answered {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in headers.get("connection", "").lower():
        raise HandshakeError("upstream did not upgrade to websocket")
    if headers.get("sec-websocket-accept") != accept_for(key):
        raise HandshakeError("upstream sent a wrong Sec-WebSocket-Accept")
    if headers.get("sec-websocket-protocol", "").lower() != protocol:
        raise HandshakeError(f"upstream did not accept the {protocol} subprotocol")
    if headers.get("sec-websocket-extensions"):
        raise HandshakeError("upstream negotiated an extension that was not offered")
