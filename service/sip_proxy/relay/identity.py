"""The relay's SIP identity policy: which requests from a browser claim another user than its session's.

Pure: bytes in, a verdict out. For REGISTER and INVITE (in any letter case: the PBX reads method names in
any case, Kamailio does) the From user, and for REGISTER also the To user (the address of record being
bound), must be the session's username. Only the From and To headers are read (`sip.identity_users`); the
full parse is for building the rare 403.
"""

from __future__ import annotations

from .. import sip

IDENTITY_METHODS = frozenset({b"REGISTER", b"INVITE"})


class Refusal:
    """A request the relay answers itself: who it claimed to be (None: a URI without a user part)."""

    __slots__ = ("claimed", "method")

    def __init__(self, method: bytes, claimed: str | None) -> None:
        self.method = method
        self.claimed = claimed


class IdentityPolicy:
    __slots__ = ("username",)

    def __init__(self, username: str) -> None:
        self.username = username

    def check(self, method: bytes, message: bytes) -> Refusal | None:
        """None when the request may pass (another method, or the session's own user), else a `Refusal`.

        `method` is the start line's token as sent. A checked request without exactly one From and one To
        raises `SipParseError`, as does one the parser cannot read.
        """
        method = method.upper()
        if method not in IDENTITY_METHODS:
            return None
        froms, tos = sip.identity_users(message)
        if len(froms) != 1 or len(tos) != 1:
            raise sip.SipParseError("a request needs exactly one From and one To")
        username = self.username
        if froms[0] == username and (method != b"REGISTER" or tos[0] == username):
            return None
        return Refusal(method, froms[0] if froms[0] != username else tos[0])

    @staticmethod
    def refusal(message: bytes) -> bytes:
        """The SIP 403 that answers a refused request (it copies the transaction's headers)."""
        return sip.forbidden_response(sip.parse(message)).encode()
