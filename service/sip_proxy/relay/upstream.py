"""Opening a session's upstream leg: TCP (or TLS), then the WebSocket handshake with the `sip` subprotocol.

routes.py decides where each session's leg goes (SIP_UPSTREAM, or the agent's ViciDial server) and hands
that to `open_upstream` as an `UpstreamTarget`, which carries everything the connect needs (the URL and,
for wss://, the TLS context built at start-up by upstream_tls.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from urllib.parse import urlsplit

from ..handshake import HandshakeError, failure_reason, new_key
from ..upstream_tls import describe_failure
from .protocols import UpstreamLeg

log = logging.getLogger("service.sip_proxy")

CONNECT_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Where a session's upstream leg goes: a ws:// or wss:// URL and, for wss://, the TLS context to use."""

    url: str
    tls: ssl.SSLContext | None = None

    @classmethod
    def for_url(cls, url: str, tls: ssl.SSLContext) -> UpstreamTarget:
        """The target for `url`: `tls` is used for a wss:// URL only."""
        return cls(url, tls if urlsplit(url).scheme == "wss" else None)


async def open_upstream(target: UpstreamTarget, forwarded_for: str | None) -> UpstreamLeg | str:
    """Open and upgrade the upstream leg; else (logged) why not, as handshake.failure_reason names it:
    `unreachable` (refused, timed out, TLS failed), `full` (taken and closed without an HTTP answer: Asterisk's
    sessionlimit) or `refused` (an HTTP answer other than a `sip` WebSocket)."""
    parts = urlsplit(target.url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    leg = UpstreamLeg(target.url, new_key(), forwarded_for)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: leg, parts.hostname or "", port, ssl=target.tls), CONNECT_TIMEOUT)
        await asyncio.wait_for(asyncio.shield(leg.handshake), CONNECT_TIMEOUT)
    except (TimeoutError, OSError, HandshakeError) as exc:
        log.warning("upstream %s://%s:%s unusable: %s", parts.scheme, parts.hostname, port,
                    exc if isinstance(exc, HandshakeError) else describe_failure(exc))
        leg.abort()
        return failure_reason(exc)
    except BaseException:  # cancelled (shutdown): the socket may be open already
        leg.abort()
        raise
    return leg
