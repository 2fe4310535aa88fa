"""A small SIP user agent over one WebSocket: what the load tester and the tests use to act as agents.

It speaks raw RFC 3261 text the way sip.js does (Via `SIP/2.0/WS <random>.invalid`, Contact with
`transport=ws`), answers digest challenges (401/407, qop=auth), places and answers calls, and hangs up. It is
a test client, not a general SIP stack: one registration, any number of sequential or parallel calls, no
forking, no re-INVITEs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import aiohttp

from service.sip_proxy import sip

from . import messages

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class SipError(Exception):
    """A transaction ended without a 2xx: `status` is the SIP code (0 for a timeout or a lost connection)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def digest_authorization(challenge: str, *, method: str, uri: str, username: str, password: str,
                         nc: int = 1) -> str:
    """The Authorization value answering a `Digest ...` challenge (RFC 2617, MD5, qop=auth if offered)."""
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _PARAM.finditer(challenge.split(" ", 1)[1] if " " in challenge else "")}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")

    def md5(text: str) -> str:  # RFC 2617's name for it
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, count = secrets.token_hex(8), f"{nc:08x}"
        response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "algorithm=MD5", f'cnonce="{cnonce}"', f"nc={count}", "qop=auth"]
    else:
        fields += [f'response="{md5(f"{ha1}:{nonce}:{ha2}")}"', "algorithm=MD5"]
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


@dataclasses.dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: list[str]
    cseq: int
    remote_sdp: bytes = b""
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


AnswerSdp = Callable[[bytes], Awaitable[bytes]]


class Agent:
    """One agent on one WebSocket (to the relay or straight to the PBX)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, username: str, password: str,
                 domain: str = "omnisense.local", timeout: float = 10.0) -> None:
        self.ws = ws
        self.username = username
        self.password = password
        self.domain = domain
        self.timeout = timeout
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.contact = f"<sip:{secrets.token_hex(4)}@{self.host};transport=ws>"
        self.aor = f"sip:{username}@{domain}"
        self.messages_sent = 0
        self.messages_received = 0
        self._pending: dict[str, asyncio.Queue[sip.SipMessage]] = {}
        self._dialogs: dict[str, Dialog] = {}
        self._reg_call_id = secrets.token_hex(10)
        self._reg_cseq = 0
        self._reader: asyncio.Task[None] | None = None
        self.answer_sdp: AnswerSdp | None = None  # set to accept incoming calls; None answers 486
        self.ring_seconds = 0.0
        self.incoming: asyncio.Queue[Dialog] = asyncio.Queue()
        self.texts: asyncio.Queue[bytes] = asyncio.Queue()  # bodies of the MESSAGEs this agent was sent
        self.closed = asyncio.Event()

    # -- plumbing --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.ws.close()

    async def send(self, text: str) -> None:
        self.messages_sent += 1
        await self.ws.send_str(text)

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if not data.strip(b"\r\n"):
                    continue
                self.messages_received += 1
                try:
                    message = sip.parse(data)
                except sip.SipParseError:
                    continue
                if message.is_request:
                    await self._on_request(message)
                else:
                    branch = _branch(message.get("via") or "")
                    queue = self._pending.get(branch)
                    if queue is not None:
                        queue.put_nowait(message)
        finally:
            self.closed.set()
            for queue in self._pending.values():
                queue.put_nowait(None)  # type: ignore[arg-type]

    async def _transaction(self, build: Callable[[str], str]) -> tuple[sip.SipMessage, float]:
        """Send a request (built for a fresh branch); return its final response and the seconds it took."""
        branch = "z9hG4bK" + secrets.token_hex(8)
        queue: asyncio.Queue[sip.SipMessage] = asyncio.Queue()
        self._pending[branch] = queue
        started = time.perf_counter()
        try:
            await self.send(build(branch))
            deadline = started + self.timeout
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise SipError(0, "timeout")
                try:
                    response = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    raise SipError(0, "timeout") from None
                if response is None:
                    raise SipError(0, "connection closed")
                if response.status is not None and response.status >= 200:
                    return response, time.perf_counter() - started
        finally:
            del self._pending[branch]

    def _via(self, branch: str) -> str:
        return f"Via: SIP/2.0/WS {self.host};branch={branch}"

    # -- registration ----------------------------------------------------------------------------------

    async def register(self, expires: int = 600) -> float:
        """REGISTER, answering the digest challenge. Returns the seconds it took; raises SipError."""
        uri = f"sip:{self.domain}"
        authorization: str | None = None
        total = 0.0
        for _ in range(2):
            self._reg_cseq += 1
            cseq = self._reg_cseq

            def build(branch: str, cseq: int = cseq, authorization: str | None = authorization) -> str:
                return messages.register(username=self.username, domain=self.domain, host=self.host, branch=branch,
                                         call_id=self._reg_call_id, from_tag=self._reg_call_id[:8], cseq=cseq,
                                         contact=self.contact, expires=expires, authorization=authorization)

            response, took = await self._transaction(build)
            total += took
            if response.status == 401 and authorization is None:
                challenge = response.get("www-authenticate") or ""
                authorization = digest_authorization(challenge, method="REGISTER", uri=uri,
                                                     username=self.username, password=self.password)
                continue
            if response.status is not None and 200 <= response.status < 300:
                return total
            raise SipError(response.status or 0, response.reason or "")
        raise SipError(401, "Unauthorized")

    # -- calls -----------------------------------------------------------------------------------------

    async def invite(self, target_user: str, sdp: bytes) -> tuple[Dialog, float]:
        """Call `target_user`; on 200 send the ACK. Returns the dialog and the set-up time (INVITE to 200)."""
        call_id = secrets.token_hex(10)
        local_tag = secrets.token_hex(5)
        uri = f"sip:{target_user}@{self.domain}"
        cseq = 0
        authorization: str | None = None
        total = 0.0
        for _ in range(2):
            cseq += 1
            number = cseq

            def build(branch: str, number: int = number, authorization: str | None = authorization) -> str:
                lines = [
                    f"INVITE {uri} SIP/2.0", self._via(branch), "Max-Forwards: 70",
                    f"From: <{self.aor}>;tag={local_tag}", f"To: <{uri}>", f"Call-ID: {call_id}",
                    f"CSeq: {number} INVITE", f"Contact: {self.contact}", "Allow: INVITE,ACK,CANCEL,BYE,OPTIONS",
                    "Content-Type: application/sdp",
                ]
                if authorization:
                    lines.append(f"Proxy-Authorization: {authorization}")
                return "\r\n".join([*lines, f"Content-Length: {len(sdp)}", "", ""]) + sdp.decode()

            branch_holder: list[str] = []

            def build_and_remember(branch: str, branch_holder: list[str] = branch_holder,
                                   build: Callable[[str], str] = build) -> str:
                branch_holder.append(branch)
                return build(branch)

            response, took = await self._transaction(build_and_remember)
            total += took
            status = response.status or 0
            if status >= 300:
                # Non-2xx final responses are ACKed in the same transaction (RFC 3261 17.1.1.3).
                await self.send("\r\n".join([
                    f"ACK {uri} SIP/2.0", self._via(branch_holder[0]), "Max-Forwards: 70",
                    f"From: <{self.aor}>;tag={local_tag}", f"To: {response.get('to')}", f"Call-ID: {call_id}",
                    f"CSeq: {number} ACK", "Content-Length: 0", "", ""]))
                if status in (401, 407) and authorization is None:
                    header = "proxy-authenticate" if status == 407 else "www-authenticate"
                    authorization = digest_authorization(response.get(header) or "", method="INVITE", uri=uri,
                                                         username=self.username, password=self.password)
                    continue
                raise SipError(status, response.reason or "")
            to = response.get("to") or ""
            dialog = Dialog(
                call_id=call_id, local_tag=local_tag, remote_tag=_tag(to), local_uri=self.aor, remote_uri=uri,
                remote_target=sip.uri_of(response.get("contact") or f"<{uri}>"),
                route_set=list(reversed(_record_routes(response))), cseq=number, remote_sdp=response.body,
            )
            self._dialogs[call_id] = dialog
            await self.send(self._in_dialog(dialog, "ACK", number))
            return dialog, total
        raise SipError(407, "Proxy Authentication Required")

    async def bye(self, dialog: Dialog) -> None:
        dialog.cseq += 1
        number = dialog.cseq
        try:
            response, _ = await self._transaction(lambda branch: self._in_dialog(dialog, "BYE", number, branch))
        finally:
            self._dialogs.pop(dialog.call_id, None)
            dialog.ended.set()
        if not (response.status or 0) < 300:
            raise SipError(response.status or 0, response.reason or "")

    async def reinvite(self, dialog: Dialog, sdp: bytes = b"") -> sip.SipMessage:
        """A re-INVITE in `dialog` (hold, resume, a refresh); ACKs a 2xx. Returns the final response."""
        dialog.cseq += 1
        number = dialog.cseq

        def build(branch: str) -> str:
            text = self._in_dialog(dialog, "INVITE", number, branch)
            headers = text[:-4] + f"\r\nContact: {self.contact}"
            if sdp:
                headers += "\r\nContent-Type: application/sdp"
            return headers.replace("Content-Length: 0", f"Content-Length: {len(sdp)}") + "\r\n\r\n" + sdp.decode()

        response, _ = await self._transaction(build)
        if (response.status or 0) < 300:
            contact = response.get("contact")
            if contact:  # a target refresh (RFC 3261 12.2.1.2)
                dialog.remote_target = sip.uri_of(contact)
            await self.send(self._in_dialog(dialog, "ACK", number))
        return response

    # -- instant messages (RFC 3428) --------------------------------------------------------------------

    async def message(self, target_user: str, text: str) -> sip.SipMessage:
        """Send a MESSAGE with `text` to another agent; return its final response (any status)."""
        body = text.encode()
        call_id = secrets.token_hex(10)

        def build(branch: str) -> str:
            return "\r\n".join([
                f"MESSAGE sip:{target_user}@{self.domain} SIP/2.0", self._via(branch), "Max-Forwards: 70",
                f"From: <{self.aor}>;tag={secrets.token_hex(5)}", f"To: <sip:{target_user}@{self.domain}>",
                f"Call-ID: {call_id}", "CSeq: 1 MESSAGE", "Content-Type: text/plain",
                f"Content-Length: {len(body)}", "", text,
            ])

        response, _ = await self._transaction(build)
        return response

    def _in_dialog(self, dialog: Dialog, method: str, cseq: int, branch: str | None = None) -> str:
        lines = [
            f"{method} {dialog.remote_target} SIP/2.0", self._via(branch or "z9hG4bK" + secrets.token_hex(8)),
            "Max-Forwards: 70",
        ]
        lines += [f"Route: {route}" for route in dialog.route_set]
        lines += [
            f"From: <{dialog.local_uri}>;tag={dialog.local_tag}", f"To: <{dialog.remote_uri}>;tag={dialog.remote_tag}",
            f"Call-ID: {dialog.call_id}", f"CSeq: {cseq} {method}", "Content-Length: 0", "", "",
        ]
        return "\r\n".join(lines)

    # -- the called side -------------------------------------------------------------------------------

    async def _on_request(self, request: sip.SipMessage) -> None:
        method = request.method
        if method == "INVITE" and (request.get("call-id") or "") in self._dialogs:  # a re-INVITE
            contact = request.get("contact")
            if contact:  # a target refresh (RFC 3261 12.2.2)
                self._dialogs[request.get("call-id") or ""].remote_target = sip.uri_of(contact)
            answer = await self.answer_sdp(request.body) if self.answer_sdp is not None else b""
            await self.send(_response(request, 200, "OK", contact=self.contact, body=answer))
        elif method == "INVITE":
            await self._on_invite(request)
        elif method == "ACK":
            pass
        elif method == "BYE":
            dialog = self._dialogs.pop(request.get("call-id") or "", None)
            await self.send(_response(request, 200, "OK"))
            if dialog is not None:
                dialog.ended.set()
        elif method == "CANCEL":
            await self.send(_response(request, 200, "OK"))
        elif method == "MESSAGE":
            self.texts.put_nowait(request.body)
            await self.send(_response(request, 200, "OK", tag=secrets.token_hex(5)))
        else:
            await self.send(_response(request, 405, "Method Not Allowed"))

    async def _on_invite(self, request: sip.SipMessage) -> None:
        if self.answer_sdp is None:
            await self.send(_response(request, 486, "Busy Here", tag=secrets.token_hex(5)))
            return
        tag = secrets.token_hex(5)
        await self.send(_response(request, 180, "Ringing", tag=tag))
        answer = await self.answer_sdp(request.body)
        if self.ring_seconds:
            await asyncio.sleep(self.ring_seconds)
        sender = request.get("from") or ""
        dialog = Dialog(
            call_id=request.get("call-id") or "", local_tag=tag, remote_tag=_tag(sender),
            local_uri=sip.uri_of(request.get("to") or ""), remote_uri=sip.uri_of(sender),
            remote_target=sip.uri_of(request.get("contact") or sender),
            route_set=_record_routes(request), cseq=100, remote_sdp=request.body,
        )
        self._dialogs[dialog.call_id] = dialog
        await self.send(_response(request, 200, "OK", tag=tag, contact=self.contact, body=answer))
        self.incoming.put_nowait(dialog)


def _branch(via: str) -> str:
    match = re.search(r";\s*branch=([^;,\s]+)", via)
    return match.group(1) if match else ""


def _tag(value: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", value)
    return match.group(1) if match else ""


def _record_routes(message: sip.SipMessage) -> list[str]:
    routes: list[str] = []
    for value in message.get_all("record-route"):
        routes += [part.strip() for part in re.split(r",(?=\s*<)", value)]
    return routes


def _response(request: sip.SipMessage, status: int, reason: str, *, tag: str | None = None,
              contact: str | None = None, body: bytes = b"") -> str:
    to = request.get("to") or ""
    if tag and ";tag=" not in to:
        to = f"{to};tag={tag}"
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in request.get_all("via")]
    lines += [f"Record-Route: {rr}" for rr in request.get_all("record-route")]
    lines += [f"From: {request.get('from')}", f"To: {to}", f"Call-ID: {request.get('call-id')}",
              f"CSeq: {request.get('cseq')}"]
    if contact:
        lines.append(f"Contact: {contact}")
    if body:
        lines.append("Content-Type: application/sdp")
    return "\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""]) + body.decode()
