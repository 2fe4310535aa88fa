"""The relay's SIP identity policy: which browser requests claim another user than their session's.

Pure: bytes in, a verdict out. Every request outside a dialog (no tag in its To header), whatever the
method, must have the session's username as its From user, and a REGISTER (which never belongs to a dialog,
so it is checked whatever its To says) must also have it as its To user, the address of record being bound.
Requests inside a dialog pass unchanged: a PBX that calls an agent may put the agent's Contact in To, so the
agent's re-INVITE then carries that Contact as From. Every request needs exactly one From and one To
(`sip.identity_headers` finds them in any spelling). A refused request is answered with a SIP 403 by the
relay; when it was an INVITE, the ACK the browser sends for that 403 is not forwarded either.
"""

from __future__ import annotations

import collections
import secrets

from .. import sip

REMEMBERED_REFUSALS = 16  # refused INVITEs whose ACK is still expected (a browser ACKs at once)


class Refusal:
    """A request the relay answers itself: its method (upper case), who it claimed to be (None: a URI
    without a user part) and the 403 to send."""

    __slots__ = ("claimed", "method", "response")

    def __init__(self, method: bytes, claimed: str | None, response: bytes) -> None:
        self.method = method
        self.claimed = claimed
        self.response = response


class IdentityPolicy:
    __slots__ = ("_refused_invites", "username")

    def __init__(self, username: str) -> None:
        self.username = username
        # (Call-ID, To tag) of INVITEs answered 403 here; made on the first one.
        self._refused_invites: collections.deque[tuple[str, str]] | None = None

    def check(self, method: bytes, message: bytes) -> Refusal | None:
        """None when the request may pass, a `Refusal` when the relay must answer it, or `DROP` for the ACK
        of a 403 the relay made. `method` is the start line's token as sent (the PBX reads any letter case).

        A request without exactly one From and one To, or with one the parser cannot read, raises
        `SipParseError`.
        """
        froms, tos = sip.identity_headers(message)
        if len(froms) != 1 or len(tos) != 1:
            raise sip.SipParseError("a request needs exactly one From and one To")
        method = method.upper()
        if method != b"REGISTER" and sip.has_tag(tos[0]):  # inside a dialog
            if method == b"ACK" and self._refused_invites is not None and self._acks_a_refusal(message):
                return DROP
            return None
        username = self.username
        from_user = sip.header_user(froms[0])
        if from_user == username:
            if method != b"REGISTER":
                return None
            to_user = sip.header_user(tos[0])
            if to_user == username:
                return None
            return self._refuse(method, to_user, message)
        return self._refuse(method, from_user, message)

    def _refuse(self, method: bytes, claimed: str | None, message: bytes) -> Refusal:
        request = sip.parse(message)
        tag = secrets.token_hex(8)
        response = sip.forbidden_response(request, to_tag=tag).encode()
        if method == b"INVITE":
            if self._refused_invites is None:
                self._refused_invites = collections.deque(maxlen=REMEMBERED_REFUSALS)
            self._refused_invites.append((request.get("call-id") or "", tag))
        return Refusal(method, claimed, response)

    def _acks_a_refusal(self, message: bytes) -> bool:
        assert self._refused_invites is not None
        ack = sip.parse(message)
        to = ack.get("to") or ""
        key = (ack.get("call-id") or "", to[to.rfind(">") + 1:])
        for call_id, tag in self._refused_invites:
            if call_id == key[0] and f"tag={tag}" in key[1].replace(" ", "").lower():
                self._refused_invites.remove((call_id, tag))
                return True
        return False


DROP = Refusal(b"ACK", None, b"")
"""The verdict for the ACK of a 403 the relay made: neither forwarded nor answered."""
