"""TURN REST API credentials for coturn's `use-auth-secret` (README: TURN credentials). Pure, no I/O.

    username = "<expiry unix time>:<customer_id>:<user_id>:<session end unix time>"
    password = base64(HMAC-SHA1(key=TURN_SECRET, msg=username))

coturn recomputes the password from the same secret and refuses a username whose expiry has passed, so a
credential is never made to outlive its webphone session: the expiry is the earlier of now + TURN_TTL and
the session's `expire_date`. coturn reads only the part before the first `:` as a time, and only when it first
authenticates a client: an allocation made in time may be refreshed for ever. The session's end, the last
field (signed with the rest), is what lets the service cancel such allocations once the session is over
(`session_end_of`, used by turn_reaper.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import re
from typing import Any

from .session import Session


class TurnUnavailable(Exception):
    """No TURN credentials can be issued (no TURN_SECRET configured)."""


def password_for(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode("ascii")


# A DNS name of RFC 1123 labels (a dotted IPv4 address fits it too).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_PORT = re.compile(r"[0-9]{1,5}")


class BadHost(ValueError):
    """A Host header that is not a host name or an IP literal with an optional port."""


def host_from_header(header: str) -> str:
    """The host of an HTTP Host header (`name`, `1.2.3.4`, `[::1]`, each with an optional `:port`), for the
    TURN URIs; raises `BadHost` for anything else (spaces, `?`, `#`, `@`, empty, a port out of range)."""
    if header.startswith("["):
        host, bracket, rest = header[1:].partition("]")
        try:
            # No zone id (fe80::1%eth0): a URI would need it escaped, and it means nothing to another machine.
            ok = bool(bracket) and _IPV6_CHARS.fullmatch(host) is not None and ipaddress.ip_address(host).version == 6
        except ValueError:
            ok = False
        if not ok:
            raise BadHost("the Host header's bracketed address is not an IPv6 address")
    else:
        host, colon, port = header.partition(":")
        rest = colon + port
        if not _HOSTNAME.fullmatch(host):
            raise BadHost("the Host header must be a host name or an IP address, with an optional :port")
    if rest and not (rest[0] == ":" and _PORT.fullmatch(rest[1:]) and 1 <= int(rest[1:]) <= 65535):
        raise BadHost("the Host header's port must be a number from 1 to 65535")
    return host


class BadPort(ValueError):
    """A `turn_port` query parameter that is not a port number."""


def port_from_query(raw: str | None, configured: int) -> int:
    """The page's `turn_port`, or TURN_PORT when the page sent none; `BadPort` for anything but 1-65535."""
    if raw is None or raw == "":
        return configured
    if not (_PORT.fullmatch(raw) and 1 <= int(raw) <= 65535):
        raise BadPort(f"turn_port must be a port number from 1 to 65535 (or left out for this service's {configured})")
    return int(raw)


def uri_host(host: str) -> str:
    """IPv6 literals go in brackets inside a URI."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


_OURS = re.compile(r"[0-9]{1,12}:[0-9]{1,18}:[0-9]{1,18}:([0-9]{1,12})")


def session_end(session: Session) -> int:
    """The session's end in whole seconds, rounded up: an allocation is never cut before the session ends."""
    return math.ceil(session.expires_ts)


def session_end_of(username: str) -> int | None:
    """The session end a username made by `credentials` carries; None for any other username."""
    match = _OURS.fullmatch(username)
    return None if match is None else int(match[1])


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
    username = f"{expiry}:{session.customer_id}:{session.user_id}:{session_end(session)}"
    target = f"{uri_host(host)}:{port}"
    return {
        "username": username,
        "password": password_for(secret, username),
        "ttl": max(ttl, 0),
        "uris": [f"turn:{target}?transport=udp", f"turn:{target}?transport=tcp"],
        "ice_transport_policy": ice_transport_policy,
    }
