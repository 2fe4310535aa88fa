"""TURN REST API credentials for coturn's `use-auth-secret` (SPEC section 6). Pure, no I/O.

    username = "<expiry unix time>:<customer_id>:<user_id>"
    password = base64(HMAC-SHA1(key=TURN_SECRET, msg=username))

coturn recomputes the password from the same secret and refuses a username whose expiry has passed, so a
credential is never made to outlive its webphone session: the expiry is the earlier of now + TURN_TTL and
the session's `expire_date`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
from typing import Any

from .session import Session


class TurnUnavailable(Exception):
    """No TURN credentials can be issued (no TURN_SECRET configured)."""


def password_for(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode("ascii")


def uri_host(host: str) -> str:
    """IPv6 literals go in brackets inside a URI."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def credentials(
    *,
    secret: str | None,
    session: Session,
    host: str,
    port: int,
    ttl_max: int,
    ice_transport_policy: str,
    now: float,
) -> dict[str, Any]:
    """The JSON answer of `/webphone/turn-credentials` for this session at unix time `now`."""
    if not secret:
        raise TurnUnavailable("TURN_SECRET is not configured: this service issues no TURN credentials")
    # Whole seconds, rounded down, so the credential ends at or before the session.
    expiry = min(math.floor(now) + ttl_max, math.floor(session.expires_ts))
    ttl = expiry - math.floor(now)
    username = f"{expiry}:{session.customer_id}:{session.user_id}"
    target = f"{uri_host(host)}:{port}"
    return {
        "username": username,
        "password": password_for(secret, username),
        "ttl": max(ttl, 0),
        "uris": [f"turn:{target}?transport=udp", f"turn:{target}?transport=tcp"],
        "ice_transport_policy": ice_transport_policy,
    }
