import os

import pytest
from hypothesis import given, settings, strategies as st

from service.sip_proxy import handshake, wsframe
from service.sip_proxy.wsframe import FrameError, FrameReader


def test_encode_and_read_back_masked_and_unmasked():
    for size in (0, 5, 125, 126, 65535, 65536):
        payload = os.urandom(size)
        for mask in (True, False):
            frame = wsframe.encode(wsframe.Opcode.TEXT, payload, mask=mask)
            (first, body, key, raw), = FrameReader(masked=mask, max_size=1 << 20).feed(frame)
            assert first == 0x81 and raw == frame
            assert wsframe.unmask(body, key) == payload
            assert (key is not None) == mask


def test_frames_split_anywhere_and_joined_are_read_alike():
    frames = [wsframe.encode(wsframe.Opcode.TEXT, f"message {i}".encode() * i, mask=True) for i in range(1, 6)]
    stream = b"".join(frames)
    for cut in range(1, len(stream)):
        reader = FrameReader(masked=True, max_size=1024)
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [raw for *_, raw in got] == frames


def test_the_pure_python_unmask_matches():
    payload, key = os.urandom(1001), os.urandom(4)
    n = len(payload)
    stream = (key * ((n >> 2) + 1))[:n]
    expected = bytes(a ^ b for a, b in zip(payload, stream, strict=False))
    assert wsframe.unmask(payload, key) == expected


@pytest.mark.parametrize("frame,code", [
    (bytes([0x81, 0x05]) + b"hello", 1002),  # a browser's frame must be masked
    (bytes([0xC1, 0x80]) + b"\0\0\0\0", 1002),  # RSV1: compression was never negotiated
    (bytes([0x83, 0x80]) + b"\0\0\0\0", 1002),  # unknown opcode
    (bytes([0x09, 0x80]) + b"\0\0\0\0", 1002),  # a fragmented ping
    (bytes([0x81, 0xFF]) + (70000).to_bytes(8, "big"), 1009),  # over the limit: refused from the header alone
])
def test_framing_errors(frame, code):
    with pytest.raises(FrameError) as info:
        FrameReader(masked=True, max_size=65536).feed(frame)
    assert info.value.code == code


def test_close_payloads():
    assert wsframe.parse_close(wsframe.close_payload(4001, b"session expired")) == 4001
    assert wsframe.parse_close(b"") == 1005


@settings(max_examples=300)
@given(st.binary(max_size=300), st.booleans())
def test_fuzz_the_reader_raises_only_frame_errors(data, masked):
    reader = FrameReader(masked=masked, max_size=128)
    try:
        reader.feed(data)
        reader.feed(data)
    except FrameError:
        pass


def test_client_handshake_request_and_response():
    key = handshake.new_key()
    request = handshake.request_bytes("ws://127.0.0.1:8088/ws?x=1", key, forwarded_for="10.0.0.7").decode()
    assert request.startswith("GET /ws?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n")
    assert f"Sec-WebSocket-Key: {key}" in request and "X-Forwarded-For: 10.0.0.7" in request
    assert request.endswith("\r\n\r\n")
    good = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
            f"Sec-WebSocket-Accept: {handshake.accept_for(key)}\r\nSec-WebSocket-Protocol: sip").encode()
    handshake.check_response(good, key)
    # RFC 6455's own example of the accept value.
    assert handshake.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    for bad in (good.replace(b"101", b"400"), good.replace(b"Protocol: sip", b"Protocol: msrp"),
                good.replace(handshake.accept_for(key).encode(), b"wrong"), good + b"\r\nSec-WebSocket-Extensions: x"):
        with pytest.raises(handshake.HandshakeError):
            handshake.check_response(bad, key)
