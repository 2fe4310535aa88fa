"""A webphone session from the query string of `/ws` and `/webphone/turn-credentials`. Pure, no I/O.

`parse_session` checks, in this order: every parameter present and well formed, the `auth_key`
(constant time), then the expiry. Failures are `SessionError`s carrying the HTTP status (401 for anything
that stops the key being checked or the key being wrong, 403 for a valid key whose session has expired)
and a short machine-readable reason, which the edge answers as JSON.

`expire_date` is ISO 8601 (`2026-11-29T17:00:00+02:00`, `...Z`, or a space instead of `T`). A date-time
without an offset is read as UTC, so a link means the same instant wherever it is opened.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from . import auth_key

REQUIRED = ("auth_key", "customer_id", "user_id", "username", "expire_date")
_ID = re.compile(r"[0-9]{1,18}")
# A SIP URI user part without escapes or the characters that would need them in a URL query or a From header.
USERNAME = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=-]{1,64}")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


class SessionError(Exception):
    """A session refused: `status` is the HTTP code, `reason` a stable token, `message` for people."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, str]:
        return {"message": self.message, "reason": self.reason}


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    customer_id: int
    user_id: int
    username: str
    expire_date: str
    expires_at: datetime  # timezone-aware, UTC

    @property
    def expires_ts(self) -> float:
        return self.expires_at.timestamp()

    def seconds_left(self, now: datetime) -> float:
        return (self.expires_at - now).total_seconds()


def parse_expire_date(raw: str) -> datetime:
    """ISO 8601 to an aware UTC datetime; no offset means UTC.

    ValueError if it is not a date-time, or if its UTC instant falls outside the years 1-9999 that a
    datetime holds (`9999-12-31T23:59:59-23:59`, `0001-01-01T00:00:00+01:00`): those are malformed too.
    """
    text = raw.strip()
    if not text or len(text) > 40 or not text[:4].isdigit():
        raise ValueError("not an ISO 8601 date-time")
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time is outside the years 1-9999 in UTC") from None


def _int(query: Mapping[str, str], name: str) -> int:
    raw = query[name]
    if not _ID.fullmatch(raw):
        raise SessionError(401, "bad_parameter", f"{name} must be a non-negative integer")
    return int(raw)


def parse_session(query: Mapping[str, str], secret: str, now: datetime) -> Session:
    """Validate the session parameters of a request; return the `Session` or raise `SessionError`."""
    missing = [name for name in REQUIRED if not query.get(name)]
    if missing:
        raise SessionError(401, "missing_parameter", f"missing parameter: {', '.join(missing)}")
    customer_id = _int(query, "customer_id")
    user_id = _int(query, "user_id")
    username = query["username"]
    if not USERNAME.fullmatch(username):
        raise SessionError(401, "bad_parameter", "username must be 1-64 characters usable in a SIP URI")
    expire_date = query["expire_date"]
    try:
        expires_at = parse_expire_date(expire_date)
    except ValueError:
        raise SessionError(401, "bad_parameter", "expire_date must be an ISO 8601 date-time") from None
    key = query["auth_key"]
    if not _KEY.fullmatch(key) or not auth_key.verify(secret, key, customer_id, user_id, username, expire_date):
        raise SessionError(401, "bad_auth_key", "auth_key does not match this session")
    if expires_at <= now:
        raise SessionError(403, "session_expired", "the session has expired")
    return Session(customer_id, user_id, username, expire_date, expires_at)
