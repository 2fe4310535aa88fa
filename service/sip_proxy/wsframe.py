"""WebSocket framing (RFC 6455 section 5), sans-I/O: what the relay's pipes need and nothing more.

`FrameReader.feed` cuts a byte stream into frames without copying payloads it does not have to; `encode`
builds a frame. The relay forwards a browser's frames to the PBX as they came (a browser's frames are
masked, which is exactly what a client must send), so only inspection needs `unmask`.

`Opcode` and `CloseCode` are the one vocabulary of opcodes and close codes (the relay's own 4001 included).
Unmasking is pure Python here; `use_mask_helper` swaps in a faster in-place helper (the service installs
aiohttp's C one, see relay/aiohttp_internals.py), so this module itself imports no library.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Callable


class Opcode(enum.IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """RFC 6455 section 7.4.1 codes the relay uses, and its own (4000-4999 is for applications)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    NO_STATUS = 1005  # never sent: a Close frame without a code reads as this
    ABNORMAL = 1006  # never sent
    INVALID_DATA = 1007  # a text frame (or a close reason) that is not UTF-8
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    TLS_HANDSHAKE = 1015  # never sent
    SESSION_EXPIRED = 4001


CONTROL_OPCODES = frozenset((Opcode.CLOSE, Opcode.PING, Opcode.PONG))


def valid_close_code(code: int) -> bool:
    """May a peer send `code` in a Close frame? RFC 6455 section 7.4 and IANA's registry: 1000-1003 and
    1007-1014 are defined for the wire (1004 is reserved, 1005, 1006 and 1015 must never be sent), 1016-2999
    are unassigned, 3000-4999 are for libraries and applications; anything else is out of range."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999

MaskHelper = Callable[[bytes, bytearray], None]
"""Masks `data` in place with the 4-byte `key`: helper(key, data)."""
_mask_in_place: MaskHelper | None = None


def use_mask_helper(helper: MaskHelper | None) -> None:
    """Unmask with `helper` from now on (None: the pure-Python code below)."""
    global _mask_in_place
    _mask_in_place = helper

_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


class FrameError(Exception):
    """The peer broke the framing rules; `code` is the close code to answer with."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unmask(payload: bytes, key: bytes | None) -> bytes:
    if key is None or not payload:
        return payload
    if _mask_in_place is not None:
        data = bytearray(payload)
        _mask_in_place(key, data)
        return bytes(data)
    n = len(payload)
    stream = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode(opcode: int, payload: bytes, *, mask: bool, fin: bool = True) -> bytes:
    """One frame. Clients (mask=True) mask with a fresh random key, as RFC 6455 section 5.3 requires."""
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        header = bytes((first, bit | n))
    elif n < 65536:
        header = _LEN16.pack(first, bit | 126, n)
    else:
        header = _LEN64.pack(first, bit | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + unmask(payload, key)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason[:123]


def parse_close(payload: bytes) -> int:
    """The code of a Close frame's (unmasked) payload; 1005 (no status) when it has none."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else CloseCode.NO_STATUS


# A frame as the reader returns it: (first byte, payload as sent, masking key or None, the whole frame).
# A plain tuple: the relay makes one per SIP message and reads each field once.
Frame = tuple[int, bytes, "bytes | None", bytes]


class FrameReader:
    """Frames from a byte stream. `masked` is what the peer must do (browsers mask, servers do not)."""

    __slots__ = ("_buffer", "_mask_bit", "masked", "max_size")

    def __init__(self, *, masked: bool, max_size: int) -> None:
        self.masked = masked
        self.max_size = max_size
        self._buffer = b""
        self._mask_bit = 0x80 if masked else 0

    @property
    def pending(self) -> bool:
        """Part of a frame is waiting for the rest."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """The whole frames `data` completes (kept: the start of the next one). Raises `FrameError`.

        Called for every read of every relay leg: one pass, no copy of `data` when it holds whole frames
        only (a frame's `raw` is then `data` itself, or a slice of it).
        """
        buffer = self._buffer + data if self._buffer else data
        frames: list[Frame] = []
        pos, end = 0, len(buffer)
        mask_bit = self._mask_bit
        while end - pos >= 2:
            first = buffer[pos]
            second = buffer[pos + 1]
            if first & 0x70:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)")
            if second & 0x80 != mask_bit:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "client frames must be masked, server frames not")
            length = second & 0x7F
            if length < 126:
                header = 2
            elif length == 126:
                if end - pos < 4:
                    break
                length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                header = 4
            else:
                if end - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2:pos + 10], "big")
                header = 10
            opcode = first & 0x0F
            if opcode >= 8:
                if length > 125 or not first & 0x80 or opcode not in CONTROL_OPCODES:
                    raise FrameError(CloseCode.PROTOCOL_ERROR, "bad control frame")
            elif opcode > 2:
                raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
            elif length > self.max_size:
                raise FrameError(CloseCode.MESSAGE_TOO_BIG, "message too big")
            if mask_bit:
                key: bytes | None = buffer[pos + header:pos + header + 4]
                header += 4
            else:
                key = None
            stop = pos + header + length
            if stop > end:
                break
            frames.append((first, buffer[pos + header:stop], key, buffer[pos:stop]))
            pos = stop
        self._buffer = buffer[pos:] if pos < end else b""
        return frames
