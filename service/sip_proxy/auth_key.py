"""Webphone session keys: sign and check `auth_key`. Pure functions, no I/O.

The algorithm, which a CRM back end can reproduce (README, "Webphone sessions..."):

    customer_key = HMAC-SHA256(key=AUTH_KEY_SECRET, msg="omnisense-webphone-customer:" + customer_id)
    message      = "omnisense-webphone-v1\\n" + customer_id + "\\n" + user_id + "\\n" + username + "\\n" + expire_date
    auth_key     = base64url(HMAC-SHA256(key=customer_key, msg=message)) without "=" padding

All strings are UTF-8. `customer_id` and `user_id` are written in plain decimal (no sign, no leading zeros);
`username` and `expire_date` exactly as they appear in the URL (after URL decoding). Keying per customer means
a key leaked from one customer's back end (if customers are given their `customer_key` rather than the master
secret) cannot mint sessions for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

CUSTOMER_LABEL = b"omnisense-webphone-customer:"
MESSAGE_LABEL = "omnisense-webphone-v1"


def customer_key(secret: str, customer_id: int) -> bytes:
    """The per-customer signing key derived from `AUTH_KEY_SECRET`."""
    return hmac.new(secret.encode(), CUSTOMER_LABEL + str(customer_id).encode(), hashlib.sha256).digest()


def canonical_message(customer_id: int, user_id: int, username: str, expire_date: str) -> bytes:
    """The exact bytes that are signed. Fields cannot contain newlines (session.py refuses them)."""
    return "\n".join((MESSAGE_LABEL, str(customer_id), str(user_id), username, expire_date)).encode()


def sign(secret: str, customer_id: int, user_id: int, username: str, expire_date: str) -> str:
    """The `auth_key` for a session: URL-safe base64 of the HMAC-SHA256, without padding (43 characters)."""
    mac = hmac.new(
        customer_key(secret, customer_id),
        canonical_message(customer_id, user_id, username, expire_date),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def verify(secret: str, auth_key: str, customer_id: int, user_id: int, username: str, expire_date: str) -> bool:
    """True if `auth_key` signs these session parameters; the comparison takes constant time."""
    expected = sign(secret, customer_id, user_id, username, expire_date)
    # compare_digest on bytes: it refuses non-ASCII str, and a key from a URL may be anything.
    return hmac.compare_digest(expected.encode(), auth_key.encode("utf-8", "surrogateescape"))
