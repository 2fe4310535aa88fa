"""Archive API keys: `Authorization: Key=...` checked against ARCHIVE_API_KEYS, and new keys for the CLI.

Only the SHA-256 of each key is configured, so a leaked `.env` does not leak a key. The presented key's
digest is compared with every configured digest in constant time (no early exit), so neither timing nor
the position of a match in the list says anything about the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from ..config import ApiKeyEntry

_SCHEME = "key="


def presented_key(authorization: str | None) -> str | None:
    """The key in an `Authorization: Key=YOUR_API_KEY` header, or None if there is none."""
    if authorization is None:
        return None
    value = authorization.strip()
    if value[: len(_SCHEME)].lower() != _SCHEME:
        return None
    key = value[len(_SCHEME):].strip()
    return key or None


def key_digest(key: str) -> str:
    # aiohttp turns header bytes that are not UTF-8 into lone surrogates; surrogateescape gives the bytes back.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def key_name(authorization: str | None, entries: Iterable[ApiKeyEntry]) -> str | None:
    """The configured name of the key in the header, or None when it is missing or not accepted."""
    key = presented_key(authorization)
    # Hash even when no key was sent, so the time taken does not tell the two cases apart.
    digest = key_digest(key or "").encode()
    found: str | None = None
    for entry in entries:
        if hmac.compare_digest(digest, entry.sha256_hex.encode()) and key is not None:
            found = entry.name
    return found


def new_key(name: str) -> tuple[str, str]:
    """A fresh random key and its `ARCHIVE_API_KEYS` entry `name:sha256hex`."""
    if not name or any(c.isspace() or c == "," for c in name):
        raise ValueError("the key name must be non-empty, without spaces or commas")
    key = secrets.token_urlsafe(32)
    return key, f"{name}:{key_digest(key)}"
