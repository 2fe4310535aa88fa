"""Launch tokens: what carries a checked ViciDial launch from the launch route to the page. Pure, no I/O.

A token is self-contained and signed (HMAC-SHA256 with a key derived from `AUTH_KEY_SECRET`), so any host of
the service can check it; it expires within `TOKEN_SECONDS` and carries no secret (the exchange reads the
phone's password from the database again). Single use is enforced by a replay cache of the nonces seen: per
process, so behind a balancer without stickiness a token could be exchanged once on each host within its
lifetime (README, "Using it as ViciDial's webphone").
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
from typing import Any

TOKEN_SECONDS = 120.0
KEY_LABEL = b"omnisense-vicidial-launch-token-v1"
MAX_TOKEN = 4096


class TokenError(ValueError):
    """The token is malformed, not ours, expired or used already; `reason` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """A checked launch, as the page's session is made from it."""

    live_agent_id: int
    user: str
    extension: str
    server_ip: str  # the phone's own server_ip (its server's web_socket_url is the upstream)
    expire_date: str  # the session's end: the launch plus VICIDIAL_SESSION_MAX
    conference: str | None  # what the page dials once registered
    options: dict[str, Any]  # the page's options (launch.Options.page())


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(secret: str, grant: Grant, now: float, nonce: str | None = None) -> str:
    body = {**dataclasses.asdict(grant), "exp": now + TOKEN_SECONDS, "nonce": nonce or secrets.token_urlsafe(16)}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


class ReplayCache:
    """Nonces of tokens exchanged in this process, kept until their token would have expired anyway."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def use(self, nonce: str, expires: float, now: float) -> bool:
        """True the first time `nonce` is used; False after."""
        if len(self._seen) >= self.max_entries:
            self._seen = {n: e for n, e in self._seen.items() if e > now}
            if len(self._seen) >= self.max_entries:  # full of live nonces: the oldest goes
                self._seen.pop(next(iter(self._seen)))
        if nonce in self._seen:
            return False
        self._seen[nonce] = expires
        return True


def redeem(secret: str, token: str, now: float, cache: ReplayCache) -> Grant:
    """The token's grant, once: TokenError if it is malformed, not signed by us, expired or used already."""
    payload, sep, mac = token.partition(".")
    if not sep or len(token) > MAX_TOKEN:
        raise TokenError("bad_launch_token", "the launch token is malformed")
    expected = hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest()
    try:
        signed = hmac.compare_digest(expected, _unb64(mac))
    except (binascii.Error, ValueError):
        signed = False
    if not signed:
        raise TokenError("bad_launch_token", "the launch token is not this service's")
    try:
        body = json.loads(_unb64(payload))
        expires, nonce = float(body.pop("exp")), str(body.pop("nonce"))
        grant = Grant(**body)
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise TokenError("bad_launch_token", "the launch token is malformed") from None
    if expires <= now:
        raise TokenError("launch_token_expired", "the launch is over two minutes old: open the phone from the agent"
                         " screen again")
    if not cache.use(nonce, expires, now):
        raise TokenError("launch_token_used", "this launch was used already: open the phone from the agent screen"
                         " again")
    return grant
