"""Webphone launch URLs, as Service Delivery hands them out (the parameters in README, "Launching it"), and the
session query they carry. Pure."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from . import auth_key

PAGE = "TForge-OmniSense-Webphone.html"


def session_query(secret: str, *, customer_id: int, user_id: int, username: str, expire_date: str) -> dict[str, str]:
    """The session's query parameters (`/ws`, `/webphone/turn-credentials`), with an `auth_key` signed by `secret`."""
    return {
        "auth_key": auth_key.sign(secret, customer_id, user_id, username, expire_date),
        "customer_id": str(customer_id),
        "user_id": str(user_id),
        "username": username,
        "expire_date": expire_date,
    }


def webphone_url(
    *,
    secret: str,
    base_url: str,
    customer_id: int,
    user_id: int,
    username: str,
    password: str,
    expire_date: str,
    turn_port: int,
    server: str | None = None,
    debug_console: bool = False,
    debug_html: bool = False,
    crm_origin: str | None = None,
) -> str:
    """A complete URL with a fresh `auth_key`; `server` defaults to the host[:port] of `base_url`."""
    base = base_url.rstrip("/")
    params = session_query(secret, customer_id=customer_id, user_id=user_id, username=username, expire_date=expire_date)
    params.update(server=server or urlsplit(base).netloc, turn_port=str(turn_port), password=password)
    if debug_console:
        params["debug_console"] = "true"
    if debug_html:
        params["debug_html"] = "true"
    if crm_origin:
        params["crm_origin"] = crm_origin
    return f"{base}/{PAGE}?{urlencode(params)}"
