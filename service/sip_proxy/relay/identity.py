"""The relay's SIP identity policy: which browser requests claim another user than their session's.

Pure: bytes in, a verdict out. Every request outside a dialog, whatever the method, must have the session's
username as its From user, and a REGISTER (which never belongs to a dialog, so it is checked whatever its To
says) must also have it as its To user, the address of record being bound. A request with a To tag counts as
inside a dialog, and passes whatever its From, only when
- its Call-ID, tags and From URI are those of a dialog the PBX set up towards this agent and the browser
  answered, on this session or an earlier one of the same agent in this process (dialogs.py), or
- its From URI is exactly a Contact URI the agent registered over this session (answered 200 by the PBX)
  whose host is under `.invalid`, the address a WebSocket client makes up for itself (RFC 7118): after a
  reconnect to a process that never saw the dialog, the PBX's call to that Contact goes on. A Contact that
  borrows another user's address never counts.
Any other To tag proves nothing: the request is checked as outside a dialog. A PBX that calls an agent may put
the agent's Contact in To, so the agent's re-INVITE then carries that Contact as From, which is what the
dialog rules let through. Every request needs exactly one From and one To (`sip.identity_headers` finds them
in any spelling). A refused request is answered with a SIP 403 by the relay; when it was an INVITE, the ACK
the browser sends for that 403 is not forwarded either.

The core shows the policy the PBX's side as well: `pbx_request` for the dialog-creating requests, BYEs and
CANCELs the PBX sends, `browser_response` for the browser's answers while a dialog is offered, and
`pbx_response` for the PBX's 200 to a REGISTER while one is pending.
"""

from __future__ import annotations

import collections
import secrets

from .. import sip
from .dialogs import AgentDialogs

REMEMBERED_REFUSALS = 16  # refused INVITEs whose ACK is still expected (a browser ACKs at once)


class Refusal:
    """A request the relay answers itself: its method (upper case), who it claimed to be (None: a URI
    without a user part) and the 403 to send."""

    __slots__ = ("claimed", "method", "response")

    def __init__(self, method: bytes, claimed: str | None, response: bytes) -> None:
        self.method = method
        self.claimed = claimed
        self.response = response


DIALOG_METHODS = frozenset((b"INVITE", b"SUBSCRIBE", b"REFER"))
PBX_METHODS = frozenset((b"INVITE", b"SUBSCRIBE", b"REFER", b"BYE", b"CANCEL"))
"""The PBX's requests `IdentityPolicy.pbx_request` needs to see (start-line tokens as Kamailio sends them)."""


class IdentityPolicy:
    __slots__ = ("_contacts_read", "_pending_register", "_refused_invites", "contacts", "dialogs", "username")

    def __init__(self, username: str, dialogs: AgentDialogs | None = None) -> None:
        self.username = username
        self.dialogs = dialogs if dialogs is not None else AgentDialogs()
        # The `.invalid` Contact URIs the PBX accepted from a REGISTER of this session.
        self.contacts: frozenset[str] = frozenset()
        # A REGISTER relayed and not answered yet: its Call-ID, the Contacts it adds and those it removes.
        self._pending_register: tuple[bytes, frozenset[str], frozenset[str]] | None = None
        # The last REGISTER's Contact values and Expires digits, with what they do (sip.contact_changes): an
        # agent's refreshes repeat them, so each is read once per session.
        self._contacts_read: tuple[tuple[bytes, ...], bytes | None, tuple[frozenset[str], frozenset[str], bool]] \
            | None = None
        # (Call-ID, To tag) of INVITEs answered 403 here; made on the first one.
        self._refused_invites: collections.deque[tuple[str, str]] | None = None

    @property
    def register_pending(self) -> bool:
        return self._pending_register is not None

    def check(self, method: bytes, message: bytes) -> Refusal | None:
        """None when the request may pass, a `Refusal` when the relay must answer it, or `DROP` for the ACK
        of a 403 the relay made. `method` is the start line's token as sent (the PBX reads any letter case).

        A request without exactly one From and one To, or with one the parser cannot read, raises
        `SipParseError`.
        """
        method = method.upper()
        if method == b"REGISTER":
            froms, tos, contact_values, expires = sip.register_headers(message)
        else:
            froms, tos = sip.identity_headers(message)
            contact_values, expires = (), None
        if len(froms) != 1 or len(tos) != 1:
            raise sip.SipParseError("a request needs exactly one From and one To")
        username = self.username
        if method == b"REGISTER":
            from_user = sip.header_user(froms[0])
            if from_user != username:
                return self._refuse(method, from_user, message)
            to_user = sip.header_user(tos[0])
            if to_user != username:
                return self._refuse(method, to_user, message)
            self._registering(message, contact_values, expires)
            return None
        to_tag = sip.tag_of(tos[0])
        if to_tag is not None and method == b"ACK" and self._refused_invites is not None \
                and self._acks_a_refusal(message):
            return DROP
        try:
            from_user = sip.header_user(froms[0])
        except sip.SipParseError:
            if to_tag is None:
                raise
            from_user = None  # a tel: From, say: only a dialog can vouch for it
        if from_user != username and (to_tag is None or not self._inside_a_dialog(message, froms[0], to_tag)):
            return self._refuse(method, from_user, message)
        if method == b"BYE" or method == b"CANCEL":
            self.dialogs.end(sip.call_id(message))
        return None

    def refuse(self, method: bytes, message: bytes, status: int, reason: str) -> bytes | None:
        """The answer to a request the relay will not forward for another reason than its identity (`status`,
        `reason`), read leniently; None when none can be built. An INVITE's ACK for it is dropped too."""
        try:
            return self._refuse(method.upper(), None, sip.lenient_parse(message), status, reason).response
        except sip.SipParseError:
            return None

    def _inside_a_dialog(self, message: bytes, from_value: bytes, to_tag: bytes) -> bool:
        from_uri = sip.header_uri(from_value)
        if from_uri in self.contacts:
            return True
        return self.dialogs.holds(sip.call_id(message), sip.tag_of(from_value), to_tag, from_uri)

    def _registering(self, message: bytes, values: tuple[bytes, ...], expires: bytes | None) -> None:
        """A REGISTER about to be relayed (its Contact values and Expires digits): which `.invalid` Contacts it
        binds or removes, kept until the PBX's 200."""
        read = self._contacts_read
        if read is not None and read[0] == values and read[1] == expires:
            adds, removes, everything = read[2]
        else:
            changes = sip.contact_changes(values, expires)
            self._contacts_read = (values, expires, changes)
            adds, removes, everything = changes
        if everything:
            removes = removes | self.contacts
        elif not removes and adds <= self.contacts:
            return  # a refresh: nothing the PBX's answer could change
        self._pending_register = (sip.call_id(message), adds, removes)

    def pbx_response(self, status: bytes, message: bytes) -> None:
        """A response from the PBX while a REGISTER is pending: its 200 makes the Contacts count."""
        pending = self._pending_register
        if pending is None or status[:1] == b"1" or sip.cseq_method(message) != b"REGISTER" \
                or sip.call_id(message) != pending[0]:
            return
        self._pending_register = None
        if status == b"200":
            self.contacts = (self.contacts - pending[2]) | pending[1]

    def pbx_request(self, method: bytes, message: bytes) -> None:
        """A request from the PBX whose method is in PBX_METHODS: a new dialog offered, or one ended."""
        if method == b"BYE" or method == b"CANCEL":
            self.dialogs.end(sip.call_id(message))
            return
        froms, tos = sip.identity_headers(message)
        if len(froms) != 1 or len(tos) != 1 or sip.has_tag(tos[0]):
            return
        pbx_tag = sip.tag_of(froms[0])
        if pbx_tag is not None:
            self.dialogs.offer(sip.call_id(message), method, pbx_tag, sip.header_uri(tos[0]))

    def browser_response(self, status: bytes, message: bytes) -> None:
        """A response from the browser while a dialog is offered: it may confirm or end it."""
        method = sip.cseq_method(message)
        if method not in DIALOG_METHODS:
            return
        _froms, tos = sip.identity_headers(message)
        if len(tos) == 1:
            self.dialogs.answered(sip.call_id(message), method, int(status), sip.tag_of(tos[0]))

    def _refuse(self, method: bytes, claimed: str | None, message: bytes | sip.SipMessage, status: int = 403,
                reason: str = "Forbidden") -> Refusal:
        request = sip.parse(message) if isinstance(message, bytes) else message
        tag = secrets.token_hex(8)
        response = sip.forbidden_response(request, reason, to_tag=tag, status=status).encode()
        if method == b"INVITE":
            if self._refused_invites is None:
                self._refused_invites = collections.deque(maxlen=REMEMBERED_REFUSALS)
            to_tag = sip.tag_of((request.get("to") or "").encode())  # an answer keeps a tag the To had
            self._refused_invites.append((request.get("call-id") or "", to_tag.decode() if to_tag else tag))
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
