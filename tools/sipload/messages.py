"""SIP requests as a browser's sip.js writes them over WebSocket (Via `SIP/2.0/WS <host>.invalid`). Pure text."""

from __future__ import annotations


def register(*, username: str, host: str, branch: str, call_id: str, from_tag: str, cseq: int = 1,
             domain: str = "omnisense.local", contact: str | None = None, expires: int = 600,
             authorization: str | None = None) -> str:
    """A REGISTER of `sip:username@domain` from a client at `host` (the made-up name in its Via and Contact)."""
    aor = f"sip:{username}@{domain}"
    lines = [
        f"REGISTER sip:{domain} SIP/2.0",
        f"Via: SIP/2.0/WS {host};branch={branch}",
        "Max-Forwards: 70",
        f"From: <{aor}>;tag={from_tag}",
        f"To: <{aor}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: {contact or f'<sip:{username}@{host};transport=ws>'};expires={expires}",
        f"Expires: {expires}",
        "Allow: INVITE,ACK,CANCEL,BYE,OPTIONS",
        "Supported: path,outbound",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])
