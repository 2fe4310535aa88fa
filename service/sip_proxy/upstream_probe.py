"""The readiness probe of an upstream: a real WebSocket opening handshake (TLS included), then a Close.

Opening TCP alone says nothing about a PBX that refuses the certificate's chain, the `sip` subprotocol or
the upgrade; this does what every session's upstream leg does, and names what failed.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from .handshake import (
    MAX_RESPONSE_HEAD,
    HandshakeError,
    check_response,
    closed_during_handshake,
    new_key,
    request_bytes,
)
from .upstream_tls import describe_failure
from .wsframe import CloseCode, Opcode, close_payload, encode

PROBE_TIMEOUT = 3.0


async def probe(url: str, tls: ssl.SSLContext | None, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when `url` accepts a `sip` WebSocket; else a short reason such as the certificate error."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    where = f"{url}"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=tls if parts.scheme == "wss" else None, limit=MAX_RESPONSE_HEAD)
            key = new_key()
            writer.write(request_bytes(url, key))
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except ConnectionResetError:  # connected, then reset unread: nothing came back either
                raise asyncio.IncompleteReadError(b"", None) from None
            check_response(head[:-4], key)
            writer.write(encode(Opcode.CLOSE, close_payload(CloseCode.NORMAL), mask=True))
            await writer.drain()
    except HandshakeError as exc:
        return f"{where}: {exc}"
    except asyncio.IncompleteReadError as exc:
        return f"{where}: {closed_during_handshake(exc.partial)}"
    except asyncio.LimitOverrunError:
        return f"{where}: response head too long"
    except (OSError, TimeoutError) as exc:
        return f"{where} unreachable: {describe_failure(exc)}"
    finally:
        if writer is not None:
            writer.transport.abort()
    return None
