"""Just enough SIP (RFC 3261) for the relay: a sans-I/O message parser and a 403 builder. No I/O.

The relay passes messages through unchanged. It only needs to know what a frame is (`classify`, cheap, for
every frame) and, for REGISTER and INVITE, who it claims to be from (`parse`, `uri_user`), so it can refuse an
agent that pretends to be another with `forbidden_response`. Every parsing failure is a `SipParseError`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
from typing import Literal
from urllib.parse import unquote

SIP_VERSION = "SIP/2.0"

# RFC 3261 section 7.3.3 and the IANA registry of compact header names.
COMPACT = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact", "k": "supported",
    "l": "content-length", "m": "contact", "o": "event", "r": "refer-to", "s": "subject", "t": "to",
    "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}
METHODS = frozenset({
    "ACK", "BYE", "CANCEL", "INFO", "INVITE", "MESSAGE", "NOTIFY", "OPTIONS", "PRACK", "PUBLISH",
    "REFER", "REGISTER", "SUBSCRIBE", "UPDATE",
})
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_BTOKEN = re.compile(rb"[A-Za-z0-9.!%*_+`'~-]+")
_LINE_BREAK = re.compile(r"\r?\n")
MAX_HEADERS = 256


class SipParseError(ValueError):
    """The input is not a SIP message this parser can read."""


Kind = Literal["request", "response", "keepalive"]


KNOWN_METHODS = frozenset(m.encode() for m in METHODS)
"""METHODS as bytes, for checks on raw frames."""
_CR, _LF = 13, 10


def classify(frame: bytes) -> tuple[Kind, bytes]:
    """What a frame is, from its start line only: ("request", b"INVITE"), ("response", b"200"), or a keep-alive.

    The relay's per-frame check, on the raw bytes: no header is read, nothing is decoded or copied beyond
    the method or code. Raises `SipParseError` for anything that does not start like a SIP message.
    """
    if not frame or frame[0] == _CR or frame[0] == _LF:
        if not frame.strip(b"\r\n"):
            return "keepalive", b""
        raise SipParseError("not a SIP start line")
    if frame.startswith(b"SIP/2.0 "):
        code = frame[8:11]
        if len(code) == 3 and code.isdigit() and code[0] in b"123456" and frame[11:12] in (b" ", b"\r", b"\n", b""):
            return "response", code
        raise SipParseError("bad status line")
    space = frame.find(b" ", 0, 33)
    if space <= 0:
        raise SipParseError("not a SIP start line")
    method = frame[:space]
    eol = frame.find(b"\n", space, 8192)
    if eol < 0:
        eol = min(len(frame), 8192)
    elif frame[eol - 1] == _CR:
        eol -= 1
    uri_end = eol - 8
    if (
        uri_end > space + 1
        and frame[uri_end:eol] == b" SIP/2.0"
        and frame.find(b" ", space + 1, uri_end) < 0
        and (method in KNOWN_METHODS or _BTOKEN.fullmatch(method))
    ):
        return "request", method
    raise SipParseError("not a SIP start line")


@dataclasses.dataclass(slots=True)
class SipMessage:
    """A parsed message. Header names are lower-case full names; values keep their order and spelling."""

    method: str | None  # requests
    uri: str | None  # requests
    status: int | None  # responses
    reason: str | None  # responses
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str) -> str | None:
        """The first value of a header (full or compact name, any case), or None."""
        name = COMPACT.get(name.lower(), name.lower())
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        name = COMPACT.get(name.lower(), name.lower())
        return [value for key, value in self.headers if key == name]


def parse(data: str | bytes) -> SipMessage:
    """Parse one whole SIP message (one WebSocket frame). The body is cut by Content-Length when present."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    split = raw.find(b"\r\n\r\n")
    sep = 4
    if split < 0:
        split, sep = raw.find(b"\n\n"), 2
    if split < 0:
        raise SipParseError("no blank line after the headers (truncated?)")
    try:
        head = raw[:split].decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    rest = raw[split + sep:]
    if "\r" in head.replace("\r\n", "") or "\x00" in head:
        raise SipParseError("stray CR or NUL in the headers")
    lines = _LINE_BREAK.split(head)
    start = lines[0]
    method = uri = reason = None
    status = None
    if start.startswith("SIP/2.0 "):
        code, _, reason = start[8:].partition(" ")
        if len(code) != 3 or not code.isascii() or not code.isdigit() or code[0] not in "123456":
            raise SipParseError("bad status code")
        status = int(code)
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != SIP_VERSION or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
            raise SipParseError("bad request line")
        method, uri = parts[0], parts[1]
        if ":" not in uri:
            raise SipParseError("request URI has no scheme")

    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN.fullmatch(name):
            raise SipParseError("bad header line")
        lname = name.lower()
        headers.append((COMPACT.get(lname, lname), value.strip(" \t")))
        if len(headers) > MAX_HEADERS:
            raise SipParseError("too many headers")

    body = rest
    lengths = [value for key, value in headers if key == "content-length"]
    if lengths:
        text = lengths[0]
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise SipParseError("bad Content-Length")
        length = int(text)
        if length > len(rest):
            raise SipParseError("body shorter than Content-Length (truncated?)")
        body = rest[:length]
    return SipMessage(method, uri, status, reason, headers, body)


# Header names' first letters in lower case, compared as ints: `bytes in bytes` tries the needle as an int
# first and raises (and clears) a TypeError inside each time.
_F, _T, _E = ord("f"), ord("t"), ord("e")

# From/To headers at line starts, any case, full or compact name ("[fFtT]" first keeps the scan fast).
# The third group is set when the header is folded onto the next line (checked by a lookahead, which
# consumes nothing, so the next header's line break is still there to be matched).
_IDENTITY = re.compile(rb"\n([fFtT](?:[rR][oO][mM]|[oO])?)[ \t]*:([^\r\n]*)(?=(\r?\n[ \t])?)")


def identity_users(frame: bytes) -> tuple[list[str | None], list[str | None]]:
    """The user parts of every From and of every To header of a message, without parsing the rest."""
    froms, tos = identity_headers(frame)
    return [header_user(v) for v in froms], [header_user(v) for v in tos]


def identity_headers(frame: bytes) -> tuple[list[bytes], list[bytes]]:
    """The raw values of every From and of every To header of a message, without parsing the rest.

    The relay's check on each request. It finds the headers by name in any case and in compact form, so a
    second or oddly spelt From cannot slip past; the caller insists on exactly one of each. A folded
    (multi-line) From or To is refused: its first line alone could name another user than the whole.
    """
    froms: list[bytes] = []
    tos: list[bytes] = []
    for name, raw, folded in _IDENTITY.findall(frame, 0, _head_end(frame)):
        if folded:
            raise SipParseError("folded From or To header")
        (froms if name[0] | 0x20 == _F else tos).append(raw.strip(b" \t"))
    return froms, tos


def _head_end(frame: bytes) -> int:
    """Where the headers end (their blank line, CRLF or LF), for the scans above."""
    end = frame.find(b"\r\n\r\n")
    if end < 0:
        end = frame.find(b"\n\n")
        if end < 0:
            raise SipParseError("no blank line after the headers (truncated?)")
    return end


_TAG_PARAM = re.compile(rb";[ \t]*tag[ \t]*=", re.IGNORECASE)


def has_tag(raw: bytes) -> bool:
    """Does a raw From/To value carry a tag header parameter? After the <URI> if there is one (a ;tag inside
    the brackets is a URI parameter), else anywhere after the URI (RFC 3261 section 20.10)."""
    gt = raw.rfind(b">")
    return _TAG_PARAM.search(raw, gt + 1 if gt >= 0 else 0) is not None


_PLAIN_USER = re.compile(rb"<sips?:([A-Za-z0-9._~!$&'()*+,;=-]+)@[^<>\"]*>")


def header_user(raw: bytes) -> str | None:
    """`uri_user` of a raw From/To value. Usual-sized values are cached: an agent's REGISTER refreshes and a
    dialog's requests repeat the same From and To (long ones are not, so the cache stays small)."""
    return _cached_header_user(raw) if len(raw) <= 256 else _read_header_user(raw)



def _read_header_user(raw: bytes) -> str | None:
    """With a fast path for the usual `<sip:user@host>...` form."""
    match = _PLAIN_USER.match(raw)
    if match is not None:
        return match.group(1).decode("ascii")
    try:
        return uri_user(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SipParseError("header is not UTF-8") from None


_cached_header_user = functools.lru_cache(maxsize=4096)(_read_header_user)


def uri_of(name_addr: str) -> str:
    """The URI in a From/To/Contact value: inside <...> (skipping a quoted display name), else up to ';'."""
    value = name_addr.strip()
    i = 0
    if value.startswith('"'):
        i = 1
        while i < len(value):
            if value[i] == "\\":
                i += 2
                continue
            if value[i] == '"':
                break
            i += 1
        else:
            raise SipParseError("unterminated display name")
        i += 1
    lt = value.find("<", i)
    if lt >= 0:
        gt = value.find(">", lt)
        if gt < 0:
            raise SipParseError("unterminated <URI>")
        return value[lt + 1: gt].strip()
    if i:
        raise SipParseError("display name without <URI>")
    return value.split(";", 1)[0].strip()


def uri_user(name_addr: str) -> str | None:
    """The user part of a sip:/sips: URI in a From/To value (unescaped), or None when it has none."""
    uri = uri_of(name_addr)
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        raise SipParseError("not a sip: or sips: URI")
    userinfo, at, _host = rest.partition("@")
    if not at:
        return None
    user = userinfo.split(":", 1)[0]
    if "%" not in user:
        return user
    try:
        return unquote(user, errors="strict")
    except UnicodeDecodeError:
        raise SipParseError("user part is not UTF-8") from None


def forbidden_response(request: SipMessage, reason: str = "Forbidden", to_tag: str | None = None,
                       status: int = 403) -> str:
    """A `403` (or `status`) answering `request`, built as RFC 3261 section 8.2.6 says (Via, From, To+tag,
    Call-ID, CSeq).

    A To without a tag gets `to_tag` (a fresh random one when None)."""
    if not request.is_request:
        raise SipParseError("only requests can be answered")
    vias = request.get_all("via")
    sender, recipient, call_id, cseq = (request.get(h) for h in ("from", "to", "call-id", "cseq"))
    if not vias or sender is None or recipient is None or call_id is None or cseq is None:
        raise SipParseError("request lacks Via, From, To, Call-ID or CSeq")
    if not re.search(r";\s*tag\s*=", recipient, re.IGNORECASE):
        recipient = f"{recipient};tag={to_tag or secrets.token_hex(8)}"
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in vias]
    lines += [f"From: {sender}", f"To: {recipient}", f"Call-ID: {call_id}", f"CSeq: {cseq}", "Content-Length: 0"]
    return "\r\n".join(lines) + "\r\n\r\n"


# -- strict framing and dialog identifiers (browser messages, read the way the PBX will) ---------------------

# Anything in a start line and header block that a SIP stack may read differently from another: a CR not
# followed by LF, an LF not preceded by CR, a NUL, and a line starting with SP or HT (obsolete folding).
# Searched only to name what is wrong once _GOOD_HEAD did not match: lines of anything but CR, LF and NUL, each
# ended by CRLF and none starting with SP or HT, then the empty line (no backtracking: a line cannot hold CR).
# The classes are written as the ranges they allow, [^\r\n\x00 \t] and [^\r\n\x00]: re tests a range class
# with a bitmap, a negated one with a comparison per excluded byte, and this runs on every browser message
# (a third faster).
_GOOD_HEAD = re.compile(rb"(?:[!-\xff\x01-\x08\x0b\x0c\x0e-\x1f][\x01-\x09\x0b\x0c\x0e-\xff]*\r\n)+\r\n")
_BAD_HEAD = re.compile(rb"\r(?!\n)|(?<!\r)\n|\x00|\n[ \t]")


def framing_error(frame: bytes) -> str | None:
    """Why the start line and headers of a message are not strictly CRLF-framed, or None when they are.

    One pass of `_GOOD_HEAD` over the head: the relay forwards only what every SIP parser splits into the
    same lines (pjlib ends a line at a lone CR, Kamailio does not)."""
    if _GOOD_HEAD.match(frame) is not None:
        return None
    end = frame.find(b"\r\n\r\n")
    if end < 0:
        return "no CRLF CRLF after the headers"
    head = frame[:end + 2]
    bad = _BAD_HEAD.search(head)
    if bad is None:
        return "empty header line"
    char = bad.group()[:1]
    if char == b"\x00":
        return "NUL in the headers"
    if bad.group() in (b"\n ", b"\n\t") and head[bad.start() - 1:bad.start()] == b"\r":
        return "obsolete line folding"
    return "bare CR" if char == b"\r" else "bare LF"


def lenient_parse(frame: bytes) -> SipMessage:
    """`parse` of a message whose line ends are not strictly CRLF (each CR, LF or CRLF ends a line, NULs are
    dropped): only to answer it, never to forward it."""
    end = frame.find(b"\r\n\r\n")
    head = frame[:end] if end >= 0 else frame
    head = head.replace(b"\x00", b"").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head = re.sub(rb"\n+", b"\n", head).strip(b"\n")
    return parse(head.replace(b"\n", b"\r\n") + b"\r\n\r\n")


_CALL_ID = re.compile(rb"\n(?:[cC][aA][lL][lL]-[iI][dD]|[iI])[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?\n")
_CSEQ_METHOD = re.compile(rb"\n[cC][sS][eE][qQ][ \t]*:[ \t]*[0-9]+[ \t]+([^\r\n \t]+)")
_TAG_VALUE = re.compile(rb";[ \t]*tag[ \t]*=[ \t]*([^; \t\r\n,]+)", re.IGNORECASE)


def call_id(frame: bytes) -> bytes:
    """The Call-ID of a message (full or compact name), b"" when it has none."""
    match = _CALL_ID.search(frame)
    return match.group(1) if match is not None else b""


def cseq_method(frame: bytes) -> bytes:
    """The method of a message's CSeq, upper case, b"" when it has none."""
    match = _CSEQ_METHOD.search(frame)
    return match.group(1).upper() if match is not None else b""


def tag_of(raw: bytes) -> bytes | None:
    """The tag parameter of a raw From/To value (after the <URI> when there is one), or None."""
    gt = raw.rfind(b">")
    match = _TAG_VALUE.search(raw, gt + 1 if gt >= 0 else 0)
    return match.group(1) if match is not None else None


def header_uri(raw: bytes) -> str:
    """The URI of a raw From/To/Contact value, exactly as written (`uri_of`)."""
    try:
        return uri_of(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SipParseError("header is not UTF-8") from None


def uri_host(uri: str) -> str:
    """The host of a URI (lower case, without port or parameters): `sip:u@Host.invalid:5;x` is `host.invalid`."""
    rest = uri.partition(":")[2]
    host = rest.rpartition("@")[2]
    for stop in ";?>":
        host = host.partition(stop)[0]
    if host.startswith("["):
        return host[: host.find("]") + 1].lower()
    return host.partition(":")[0].lower()


def split_contacts(value: str) -> list[str]:
    """The contacts of one Contact header value, split at the commas outside quotes and <...>."""
    parts: list[str] = []
    depth, quoted, start, i = 0, False, 0, 0
    while i < len(value):
        char = value[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


# From, To, Contact (compact: m) and Expires headers at line starts, any case: a REGISTER's identity and what it
# binds, found in one pass over its head (the third group as in _IDENTITY).
_REGISTER_HEADERS = re.compile(
    rb"\n([fFtT](?:[rR][oO][mM]|[oO])?|[cC][oO][nN][tT][aA][cC][tT]|[mM]|[eE][xX][pP][iI][rR][eE][sS])[ \t]*:"
    rb"([^\r\n]*)(?=(\r?\n[ \t])?)")


def register_headers(frame: bytes) -> tuple[list[bytes], list[bytes], tuple[bytes, ...], bytes | None]:
    """A REGISTER's `identity_headers` (same rules), and from the same pass what `contact_changes` reads: the
    value of every Contact header (first line only) and the digits the first Expires header starts with (None
    without an Expires header)."""
    froms: list[bytes] = []
    tos: list[bytes] = []
    contacts: list[bytes] = []
    expires: bytes | None = None
    for name, raw, folded in _REGISTER_HEADERS.findall(frame, 0, _head_end(frame)):
        first = name[0] | 0x20  # lower case
        if first == _F or first == _T:  # noqa: SIM109 - no tuple built per header
            if folded:
                raise SipParseError("folded From or To header")
            (froms if first == _F else tos).append(raw.strip(b" \t"))
        elif first == _E:
            if expires is None:
                value = raw.lstrip(b" \t")
                expires = value[: len(value) - len(value.lstrip(b"0123456789"))]
        else:
            contacts.append(raw.lstrip(b" \t"))
    return froms, tos, tuple(contacts), expires


def contact_changes(values: tuple[bytes, ...], expires: bytes | None) -> tuple[frozenset[str], frozenset[str], bool]:
    """What a REGISTER does to its bindings, from its Contact values and Expires digits (`register_headers`): the
    `.invalid` Contact URIs it adds (RFC 7118's made-up hosts; the others are of no use to the relay), those it
    removes (expires=0), and whether it removes them all (`Contact: *`)."""
    adds: set[str] = set()
    removes: set[str] = set()
    everything = False
    for value in values:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise SipParseError("Contact is not UTF-8") from None
        for contact in split_contacts(text):
            if contact == "*":
                everything = True
                continue
            params = contact[contact.rfind(">") + 1:] if "<" in contact else contact.partition(";")[2]
            params = params.replace(" ", "").lower()
            removed = "expires=0" in params.split(";") or (expires == b"0" and "expires=" not in params)
            uri = uri_of(contact)
            if removed:
                removes.add(uri)
            elif uri_host(uri).endswith(".invalid"):
                adds.add(uri)
    return frozenset(adds), frozenset(removes), everything
