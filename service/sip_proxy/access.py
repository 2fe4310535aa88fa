"""Who may open a session: the Origin check and the session query, shared by `/ws` and TURN credentials."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from .. import logs
from ..config import Settings
from ..errors import ApiError
from .session import Session, SessionError, parse_session
from .stats import RelayStats


def origin_allowed(origin: str, allowed: tuple[str, ...], request_scheme: str, request_host: str) -> bool:
    """The service's own origin (same scheme and host) is always allowed; others only when in ALLOWED_ORIGINS.

    Behind a TLS-terminating proxy the scheme is the one the proxy reports, when it is trusted (README,
    "Operations"): the page's https origin is then the service's own.
    """
    origin = origin.strip().rstrip("/").lower()
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme == request_scheme.lower() and parts.netloc == request_host.lower()


def check_request(request: web.Request, settings: Settings, stats: RelayStats) -> Session:
    """Origin, then the session. Raises ApiError (403 for the origin; 401/403 from `parse_session`)."""
    origin = request.headers.get("Origin")
    # Browsers always send Origin on WebSocket handshakes; its absence means a non-browser client, which
    # cross-site WebSocket hijacking cannot involve. Those still need a valid auth_key.
    if origin is not None and not origin_allowed(origin, settings.allowed_origins, request.scheme, request.host):
        stats.refusal("origin_not_allowed")
        raise ApiError(403, {"message": "this origin may not open webphone sessions", "reason": "origin_not_allowed"})
    # A plain dict, dropped after the check: request.query would keep a MultiDict alive on the request (which
    # lives as long as the WebSocket) for nothing.
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    try:
        session = parse_session(query, settings.auth_key_secret, datetime.now(UTC))
    except SessionError as exc:
        stats.refused(exc.reason, logging.INFO, "refused %s from %s: %s", request.path, request.remote, exc.reason)
        raise ApiError(exc.status, exc.body()) from None
    logs.bind(customer_id=session.customer_id, user_id=session.user_id)
    return session
