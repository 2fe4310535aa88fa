"""The relay core without sockets: bytes in from either leg, frames and actions out."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from service.sip_proxy import sip, wsframe
from service.sip_proxy.relay.core import MAX_FRAME, Action, RelayCore
from service.sip_proxy.relay.dialogs import AgentDialogs
from service.sip_proxy.session import Session
from service.sip_proxy.stats import RelayStats
from service.sip_proxy.wsframe import CloseCode, FrameReader, Opcode

USER = "1001"


def register(user: str = USER, to_user: str | None = None, method: str = "REGISTER") -> bytes:
    to_user = to_user or user
    return (f"{method} sip:omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS core.invalid;branch=z9hG4bKcore\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{user}@omnisense.local>;tag=c\r\nTo: <sip:{to_user}@omnisense.local>\r\n"
            f"Call-ID: core-1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


OK = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/WS core.invalid;branch=z9hG4bKcore\r\nCall-ID: core-1\r\nCSeq: 1 REGISTER\r\n\r\n"


def client(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A frame as a browser sends it (masked)."""
    return wsframe.encode(opcode, payload, mask=True, fin=fin)


def server(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A frame as the PBX sends it (unmasked)."""
    return wsframe.encode(opcode, payload, mask=False, fin=fin)


class Pipe:
    """A started core and what it wrote to each side, read back as frames."""

    def __init__(self, username: str = USER, start: bool = True, dialogs: AgentDialogs | None = None) -> None:
        now = datetime.now(UTC)
        self.session = Session(1, 1, username, (now + timedelta(hours=1)).isoformat(), now + timedelta(hours=1))
        self.stats = RelayStats()
        self.core = RelayCore(self.session, self.stats, dialogs)
        self._to_browser = FrameReader(masked=False, max_size=1 << 20)
        self._to_upstream = FrameReader(masked=True, max_size=1 << 20)
        if start:
            self.core.start()

    def to_browser(self) -> list[tuple[int, bytes]]:
        """(first byte, payload) of each frame written to the browser since the last call."""
        return self._take(self.core.browser.out, self._to_browser)

    def to_upstream(self) -> list[tuple[int, bytes]]:
        return self._take(self.core.upstream.out, self._to_upstream)

    def raw_to_upstream(self) -> list[bytes]:
        out = list(self.core.upstream.out)
        self.core.upstream.out.clear()
        return out

    def actions(self) -> list[tuple[Action, str | None]]:
        out = [(action, leg.name if leg is not None else None) for action, leg in self.core.actions]
        self.core.actions.clear()
        return out

    @staticmethod
    def _take(out: list[bytes], reader: FrameReader) -> list[tuple[int, bytes]]:
        frames = reader.feed(b"".join(out))
        out.clear()
        return [(first, wsframe.unmask(payload, key)) for first, payload, key, _ in frames]


def close_of(frame: tuple[int, bytes]) -> tuple[int, bytes]:
    first, payload = frame
    assert first == 0x80 | Opcode.CLOSE
    return wsframe.parse_close(payload), payload[2:]


def test_the_core_imports_no_io_library():
    """Importing the core (and all it imports) must bring in none of asyncio, socket, ssl or aiohttp."""
    code = ("import sys, service.sip_proxy.relay.core, service.sip_proxy.relay.identity; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'asyncio', 'socket', 'ssl', 'aiohttp'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- framing ----------------------------------------------------------------------------------------------

def test_a_browser_frame_goes_upstream_byte_for_byte_and_a_pbx_frame_to_the_browser():
    pipe = Pipe()
    frame = client(Opcode.TEXT, register())
    pipe.core.receive_browser(frame)
    assert pipe.raw_to_upstream() == [frame]  # still masked with the browser's key
    answer = server(Opcode.TEXT, OK)
    pipe.core.receive_upstream(answer)
    assert pipe.core.browser.out == [answer]
    assert pipe.stats.requests == {("browser", b"REGISTER"): 1}
    assert pipe.stats.responses == {("upstream", b"200"): 1}
    assert pipe.actions() == []


def test_a_frame_split_anywhere_is_relayed_once_whole():
    frame = client(Opcode.TEXT, register())
    for cut in (1, 2, 5, 7, len(frame) - 1):
        pipe = Pipe()
        pipe.core.receive_browser(frame[:cut])
        assert pipe.core.upstream.out == []
        pipe.core.receive_browser(frame[cut:])
        assert pipe.to_upstream() == [(0x81, register())]


def test_two_frames_in_one_read_are_both_relayed():
    pipe = Pipe()
    pipe.core.receive_upstream(server(Opcode.TEXT, OK) + server(Opcode.TEXT, b"\r\n"))
    assert pipe.to_browser() == [(0x81, OK), (0x81, b"\r\n")]


@pytest.mark.parametrize("frame,code,reason", [
    (wsframe.encode(Opcode.TEXT, b"OPTIONS sip:x SIP/2.0\r\n\r\n", mask=False), 1002, "bad_frame"),  # unmasked
    (bytes([0xC1, 0x80]) + b"\0\0\0\0", 1002, "bad_frame"),  # a reserved bit
    (bytes([0x83, 0x80]) + b"\0\0\0\0", 1002, "bad_frame"),  # opcode 3
    (bytes([0x09, 0x80]) + b"\0\0\0\0", 1002, "bad_frame"),  # a fragmented ping
    (bytes([0x89, 0xFE, 0x00, 0x7E]) + b"\0" * 4 + b"x" * 126, 1002, "bad_frame"),  # a 126-byte ping
    (bytes([0x81, 0xFF]) + (1 << 63).to_bytes(8, "big"), 1009, "too_big"),  # a 2^63 length
    (client(Opcode.TEXT, b"x" * (MAX_FRAME + 1)), 1009, "too_big"),
])
def test_a_framing_error_closes_the_browser_with_its_code_and_drops_the_socket_after_the_close(frame, code, reason):
    pipe = Pipe()
    pipe.core.receive_browser(frame)
    (close,) = pipe.to_browser()
    assert close_of(close)[0] == code
    assert close_of(pipe.to_upstream()[0])[0] == 1000
    assert pipe.stats.refusals == {reason: 1}
    assert (Action.CLOSE, "browser") in pipe.actions()
    pipe.core.receive_browser(client(Opcode.TEXT, register()))  # after the error nothing more is relayed
    assert pipe.core.upstream.out == [] and pipe.core.browser.out == []


def test_non_sip_text_closes_with_1008_and_is_not_forwarded():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, b"hello, is this the PBX?"))
    assert close_of(pipe.to_browser()[0]) == (1008, b"not a SIP message")
    assert close_of(pipe.to_upstream()[0])[0] == 1000
    assert pipe.stats.refusals == {"not_sip": 1} and pipe.stats.closes == {1008: 1}


def test_pings_are_answered_on_each_hop():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.PING, b"b?"))
    assert pipe.to_browser() == [(0x80 | Opcode.PONG, b"b?")]
    pipe.core.receive_upstream(server(Opcode.PING, b"u?"))
    (pong,) = pipe.raw_to_upstream()
    assert pong[1] & 0x80  # the relay is the PBX's client: its pong is masked
    assert Pipe._take([pong], FrameReader(masked=True, max_size=200)) == [(0x80 | Opcode.PONG, b"u?")]


PING = (0x80 | Opcode.PING, b"")
CRLF = client(Opcode.TEXT, b"\r\n\r\n")


def test_a_keepalive_is_answered_by_the_relay_and_never_reaches_the_pbx():
    """Asterisk answers no CRLF keep-alive over WebSocket: the relay does, while the PBX is known alive."""
    pipe = Pipe()
    pipe.core.receive_browser(CRLF)  # just started: the PBX's 101 proves it alive
    assert pipe.to_browser() == [(0x81, b"\r\n")]
    assert pipe.to_upstream() == []
    pipe.core.receive_upstream(server(Opcode.TEXT, OK))
    pipe.to_browser()
    pipe.core.receive_browser(client(Opcode.TEXT, b"\r\n\r\n\r\n\r\n"))  # any run of CRLFs is a keep-alive
    assert pipe.to_browser() == [(0x81, b"\r\n")]
    assert pipe.to_upstream() == []
    assert pipe.stats.requests == {}


def test_a_keepalive_after_a_silent_interval_waits_for_the_pbxs_pong():
    pipe = Pipe()
    pipe.core.check_upstream()  # the first interval heard the 101: nothing to do
    assert pipe.to_upstream() == []
    pipe.core.receive_browser(CRLF)
    assert pipe.to_browser() == []  # nothing heard from the PBX in this interval: ask it first
    assert pipe.to_upstream() == [PING]
    pipe.core.receive_browser(CRLF)  # one ping at a time
    assert pipe.to_upstream() == []
    pipe.core.receive_upstream(server(Opcode.PONG, b""))
    assert pipe.to_browser() == [(0x81, b"\r\n")]  # one answer for the keep-alives that waited
    pipe.core.check_upstream()  # the pong counts as heard
    assert pipe.to_upstream() == [] and not pipe.core.closing


def test_a_pbx_that_stops_answering_pings_is_closed_with_1013_after_two_silent_checks():
    pipe = Pipe()
    pipe.core.check_upstream()
    pipe.core.check_upstream()  # a first silent interval: ping
    assert pipe.to_upstream() == [PING]
    assert not pipe.core.closing
    pipe.core.receive_browser(CRLF)  # the page's keep-alive is not answered while the PBX owes its pong
    assert pipe.to_browser() == []
    pipe.core.check_upstream()  # a second one, the pong never came: the PBX is gone
    assert close_of(pipe.to_browser()[0]) == (1013, b"upstream not responding")
    assert (Action.ABORT, "upstream") in pipe.actions()
    assert pipe.stats.upstream_failures == {"not_responding": 1}
    assert pipe.stats.closes == {1013: 1}


def test_a_pbx_that_talks_needs_no_ping_and_a_pong_resets_the_count():
    pipe = Pipe()
    for _ in range(5):
        pipe.core.receive_upstream(server(Opcode.TEXT, OK))
        pipe.core.check_upstream()
    assert pipe.to_upstream() == []
    for _ in range(5):  # idle: a ping every other interval, each answered
        pipe.core.check_upstream()
        assert pipe.to_upstream() == [PING]
        pipe.core.receive_upstream(server(Opcode.PONG, b""))
        pipe.core.check_upstream()
        assert pipe.to_upstream() == []
    assert not pipe.core.closing


def test_liveness_checks_do_nothing_before_start_or_once_closing():
    pipe = Pipe(start=False)
    for _ in range(3):
        pipe.core.check_upstream()
    assert pipe.core.upstream.out == [] and not pipe.core.closing
    pipe = Pipe()
    pipe.core.expire()
    pipe.to_upstream()
    for _ in range(3):
        pipe.core.check_upstream()
    assert pipe.to_upstream() == [] and pipe.core.close_code == 4001


def test_a_pong_does_not_hide_a_request_the_pbx_dropped():
    """Only a message from the PBX answers the browser's request; a pong to the relay's ping does not."""
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, message(b"x" * 20000)))
    pipe.core.receive_upstream(server(Opcode.PONG, b""))
    pipe.core.lost(pipe.core.upstream)
    assert close_of(pipe.to_browser()[0]) == (1011, b"the PBX dropped a message")


def test_a_binary_message_from_the_pbx_reaches_the_browser_as_text():
    pipe = Pipe()
    pipe.core.receive_upstream(server(Opcode.BINARY, OK))
    assert pipe.to_browser() == [(0x81, OK)]
    pipe.core.receive_upstream(server(Opcode.BINARY, b"\xff\xfe"))  # not UTF-8: stays binary
    assert pipe.to_browser() == [(0x82, b"\xff\xfe")]


def test_an_upstream_framing_error_closes_the_browser_with_1013_and_drops_the_pbx():
    pipe = Pipe()
    pipe.core.receive_upstream(client(Opcode.TEXT, OK))  # a masked frame from a server
    assert close_of(pipe.to_browser()[0]) == (1013, b"upstream protocol error")
    assert (Action.ABORT, "upstream") in pipe.actions()


def test_what_arrives_before_start_is_relayed_at_start():
    pipe = Pipe(start=False)
    pipe.core.receive_browser(client(Opcode.TEXT, register()))
    pipe.core.receive_upstream(server(Opcode.TEXT, OK))
    assert pipe.core.browser.out == [] and pipe.core.upstream.out == []
    pipe.core.start()
    assert pipe.to_browser() == [(0x81, OK)]
    assert pipe.to_upstream() == [(0x81, register())]


# -- fragments --------------------------------------------------------------------------------------------

def test_a_fragmented_message_is_reassembled_with_a_ping_between_fragments():
    pipe = Pipe()
    message = register()
    pipe.core.receive_browser(client(Opcode.TEXT, message[:40], fin=False))
    pipe.core.receive_browser(client(Opcode.PING, b"are you there"))
    assert pipe.core.upstream.out == []
    pipe.core.receive_browser(client(Opcode.CONTINUATION, message[40:70], fin=False)
                              + client(Opcode.CONTINUATION, message[70:]))
    assert pipe.to_browser() == [(0x80 | Opcode.PONG, b"are you there")]
    assert pipe.to_upstream() == [(0x81, message)]  # one frame, re-masked


def test_a_new_message_inside_a_fragmented_one_closes_with_1002():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, register()[:40], fin=False) + client(Opcode.TEXT, register()))
    assert close_of(pipe.to_browser()[0]) == (1002, b"new message inside a fragmented one")
    assert pipe.to_upstream() == [(0x88, (1000).to_bytes(2, "big"))]


def test_a_continuation_without_a_first_frame_closes_with_1002():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.CONTINUATION, b"x"))
    assert close_of(pipe.to_browser()[0])[0] == 1002


def test_fragments_over_64_kib_in_all_close_with_1009():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, b"x" * 40000, fin=False))
    pipe.core.receive_browser(client(Opcode.CONTINUATION, b"x" * 40000))
    assert close_of(pipe.to_browser()[0])[0] == 1009
    assert pipe.stats.refusals == {"too_big": 1}


def test_fragments_from_the_pbx_reach_the_browser_as_one_frame():
    pipe = Pipe()
    pipe.core.receive_upstream(server(Opcode.TEXT, OK[:10], fin=False) + server(Opcode.CONTINUATION, OK[10:]))
    assert pipe.to_browser() == [(0x81, OK)]


# -- closing ----------------------------------------------------------------------------------------------

def test_the_browsers_close_is_echoed_and_the_pbx_gets_1000():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.CLOSE, wsframe.close_payload(4321, b"bye")))
    assert close_of(pipe.to_browser()[0]) == (4321, b"")  # the code is echoed, not the reason
    assert close_of(pipe.to_upstream()[0]) == (1000, b"")
    assert pipe.actions() == [(Action.CLOSE, "browser"), (Action.CLOSING, None)]
    pipe.core.receive_upstream(server(Opcode.TEXT, OK))  # closing: only Close frames count now
    assert pipe.core.browser.out == []
    pipe.core.receive_upstream(server(Opcode.CLOSE, wsframe.close_payload(1000)))
    assert pipe.actions() == [(Action.CLOSE, "upstream")]
    pipe.core.lost(pipe.core.browser)
    assert pipe.actions() == []
    pipe.core.lost(pipe.core.upstream)
    assert pipe.actions() == [(Action.DONE, None)]
    assert pipe.core.close_code == 4321 and pipe.stats.closes == {4321: 1}


def test_a_close_without_a_code_is_answered_1000():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.CLOSE, b""))
    assert close_of(pipe.to_browser()[0])[0] == 1000


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1012, 1014, 3000, 4000, 4999])
def test_a_valid_close_code_is_echoed(code):
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.CLOSE, wsframe.close_payload(code, "adiós".encode())))
    assert close_of(pipe.to_browser()[0])[0] == code


@pytest.mark.parametrize("payload", [wsframe.close_payload(code) for code in
                                     (1004, 1005, 1006, 1015, 1016, 2999, 0, 999, 5000, 65535)] + [b"\x03"])
def test_a_reserved_or_invalid_close_code_or_a_one_byte_close_is_answered_1002(payload):
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.CLOSE, payload))
    assert close_of(pipe.to_browser()[0]) == (1002, b"invalid close code")
    assert close_of(pipe.to_upstream()[0])[0] == 1000
    assert pipe.stats.refusals == {"bad_frame": 1}


def test_a_close_reason_that_is_not_utf8_is_answered_1007():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.CLOSE, wsframe.close_payload(1000, b"bad \xff\xfe")))
    assert close_of(pipe.to_browser()[0]) == (1007, b"close reason is not UTF-8")
    assert pipe.stats.refusals == {"not_utf8": 1}


# -- UTF-8 ------------------------------------------------------------------------------------------------

def message(body: bytes) -> bytes:
    head = register(method="MESSAGE").replace(b"Content-Length: 0", b"Content-Length: %d" % len(body))
    return head + body


def test_a_text_message_that_is_not_utf8_closes_with_1007_and_is_not_forwarded():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, message(b"caf\xe9")))  # Latin-1, not UTF-8
    assert close_of(pipe.to_browser()[0]) == (1007, b"text message is not UTF-8")
    assert close_of(pipe.to_upstream()[0])[0] == 1000  # the Close, and nothing of the message
    assert pipe.stats.refusals == {"not_utf8": 1}


def test_utf8_is_checked_on_the_whole_message_across_fragments():
    text = message("café ☎".encode())
    cut = text.index("☎".encode()) + 1  # inside the 3-byte character
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, text[:cut], fin=False) + client(Opcode.CONTINUATION, text[cut:]))
    assert pipe.to_upstream() == [(0x81, text)]
    bad = message(b"caf\xc3")  # a character cut short at the end
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, bad[:40], fin=False) + client(Opcode.CONTINUATION, bad[40:]))
    assert close_of(pipe.to_browser()[0])[0] == 1007


def test_a_binary_message_need_not_be_utf8():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.BINARY, message(b"caf\xe9")))
    assert pipe.to_upstream() == [(0x82, message(b"caf\xe9"))]


def test_the_pbx_closing_closes_the_browser_with_1013():
    pipe = Pipe()
    pipe.core.receive_upstream(server(Opcode.CLOSE, wsframe.close_payload(1000)))
    assert close_of(pipe.to_browser()[0]) == (1013, b"upstream unavailable")
    assert close_of(pipe.to_upstream()[0]) == (1000, b"")
    assert pipe.actions() == [(Action.CLOSE, "upstream"), (Action.CLOSING, None)]


def test_the_pbx_socket_lost_closes_the_browser_with_1013():
    pipe = Pipe()
    pipe.core.lost(pipe.core.upstream)
    assert close_of(pipe.to_browser()[0]) == (1013, b"upstream unavailable")
    assert pipe.core.upstream.out == []  # nothing is written to a socket that is gone


def test_the_pbx_hanging_up_on_a_request_it_never_answered_is_not_reported_as_unavailable():
    """Kamailio drops a message over its tcp_rd_buf_size and closes the connection without a word."""
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, message(b"x" * 20000)))
    pipe.to_upstream()
    pipe.core.lost(pipe.core.upstream)
    assert close_of(pipe.to_browser()[0]) == (1011, b"the PBX dropped a message")
    assert pipe.stats.refusals == {"upstream_dropped_message": 1}


@pytest.mark.parametrize("between", [
    server(Opcode.TEXT, OK),  # the PBX answered: a later loss is the PBX going away
    None,  # nothing was sent at all
])
def test_the_pbx_going_away_after_answering_is_1013(between):
    pipe = Pipe()
    if between is not None:
        pipe.core.receive_browser(client(Opcode.TEXT, register()))
        pipe.core.receive_upstream(between)
        assert pipe.to_browser() == [(0x81, OK)]
    pipe.core.lost(pipe.core.upstream)
    assert close_of(pipe.to_browser()[0]) == (1013, b"upstream unavailable")


def test_an_ack_or_a_response_expects_no_answer_so_a_later_loss_is_1013():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, register(method="ACK").replace(
        b"To: <sip:1001@omnisense.local>", b"To: <sip:1001@omnisense.local>;tag=d")))
    pipe.core.receive_browser(client(Opcode.TEXT, OK))
    assert len(pipe.to_upstream()) == 2
    pipe.core.lost(pipe.core.upstream)
    assert close_of(pipe.to_browser()[0])[0] == 1013


def test_the_pbx_closing_with_1009_is_passed_on_as_1009():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, message(b"x" * 20000)))
    pipe.core.receive_upstream(server(Opcode.CLOSE, wsframe.close_payload(1009)))
    assert close_of(pipe.to_browser()[0]) == (1009, b"message too big for the PBX")


def test_the_browser_leaving_closes_the_pbx_leg_politely():
    pipe = Pipe()
    pipe.core.lost(pipe.core.browser)
    assert close_of(pipe.to_upstream()[0]) == (1000, b"")
    assert pipe.stats.closes == {}  # nobody to tell


def test_expiry_closes_both_legs_with_4001():
    pipe = Pipe()
    pipe.core.expire()
    assert close_of(pipe.to_browser()[0]) == (4001, b"session expired")
    assert close_of(pipe.to_upstream()[0]) == (4001, b"session expired")
    pipe.core.finish(CloseCode.GOING_AWAY)  # the first reason stands
    assert pipe.core.browser.out == [] and pipe.core.close_code == 4001


def test_the_close_timeout_drops_both_sockets():
    pipe = Pipe()
    pipe.core.finish(CloseCode.GOING_AWAY, b"server shutting down")
    assert close_of(pipe.to_browser()[0]) == (1001, b"server shutting down")
    pipe.actions()
    pipe.core.close_timeout()
    assert pipe.actions() == [(Action.ABORT, "browser"), (Action.ABORT, "upstream")]


def test_an_upstream_lost_before_start_is_reported_at_start():
    pipe = Pipe(start=False)
    pipe.core.lost(pipe.core.upstream)
    assert not pipe.core.closing
    pipe.core.start()
    assert close_of(pipe.to_browser()[0])[0] == 1013


# -- backpressure -----------------------------------------------------------------------------------------

def test_a_full_socket_stops_reading_both_legs_until_it_drains():
    pipe = Pipe()
    pipe.core.pause_writing(pipe.core.browser)
    assert pipe.actions() == [(Action.PAUSE_READING, "browser"), (Action.PAUSE_READING, "upstream")]
    pipe.core.pause_writing(pipe.core.upstream)  # both full: each leg waits for two
    assert pipe.actions() == []
    pipe.core.resume_writing(pipe.core.browser)
    assert pipe.actions() == []
    pipe.core.resume_writing(pipe.core.upstream)
    assert pipe.actions() == [(Action.RESUME_READING, "browser"), (Action.RESUME_READING, "upstream")]
    pipe.core.resume_writing(pipe.core.upstream)  # a resume without its pause changes nothing
    assert pipe.actions() == []


def test_closing_reads_again_and_holds_no_more():
    pipe = Pipe()
    pipe.core.pause_writing(pipe.core.browser)
    pipe.actions()
    pipe.core.finish(CloseCode.GOING_AWAY)
    assert pipe.actions()[:2] == [(Action.RESUME_READING, "browser"), (Action.RESUME_READING, "upstream")]
    pipe.core.pause_writing(pipe.core.browser)
    pipe.core.resume_writing(pipe.core.browser)
    assert pipe.actions() == []


# -- the identity policy ----------------------------------------------------------------------------------

def test_a_request_for_another_user_is_answered_403_and_never_forwarded():
    pipe = Pipe()
    spoof = register("1002")
    pipe.core.receive_browser(client(Opcode.TEXT, spoof))
    (answer,) = pipe.to_browser()
    assert answer[0] == 0x81
    response = sip.parse(answer[1])
    assert (response.status, response.get("call-id"), response.get("cseq")) == (403, "core-1", "1 REGISTER")
    assert response.get("via") == "SIP/2.0/WS core.invalid;branch=z9hG4bKcore"
    assert pipe.core.upstream.out == [] and not pipe.core.closing
    assert pipe.stats.refusals == {"identity_mismatch": 1}


@pytest.mark.parametrize("message", [
    register(to_user="1002"),  # REGISTER binds the To user: it must be the session's too
    register("1002", method="INVITE"),
    register("1002", method="register"),  # the PBX reads methods in any case
    register("1002").replace(b"From: <sip:1002@", b"f: <sip:1002@"),  # compact form
    register("1002").replace(b"From: <sip:1002@", b'From: "1001" <sip:1002@'),  # a display name that lies
    register().replace(b"From: <sip:1001@", b"From: <sip:%31%30%30%32@"),  # percent-encoded 1002
    register().replace(b"<sip:1001@omnisense.local>;tag=c", b"<sip:1001@omnisense.local>;tag=c").replace(
        b"From:", b"FROM:").replace(b"<sip:1001@omnisense.local>;tag", b"<sip:1002@omnisense.local>;tag"),
])
def test_spoofs_in_every_spelling_are_refused(message):
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, message))
    assert sip.parse(pipe.to_browser()[0][1]).status == 403
    assert pipe.core.upstream.out == []


def test_a_second_from_closes_with_1008():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, register().replace(
        b"Call-ID:", b"From: <sip:1002@omnisense.local>;tag=b\r\nCall-ID:")))
    assert close_of(pipe.to_browser()[0])[0] == 1008
    assert close_of(pipe.to_upstream()[0])[0] == 1000  # the Close, and nothing of the request


def test_the_sessions_own_requests_and_responses_pass():
    pipe = Pipe()
    for text in (register(), register(method="INVITE"), register(method="MESSAGE"), OK):
        pipe.core.receive_browser(client(Opcode.TEXT, text))
        assert pipe.to_upstream() == [(0x81, text)]
    assert pipe.stats.responses == {("browser", b"200"): 1}


@pytest.mark.parametrize("method", ["MESSAGE", "OPTIONS", "SUBSCRIBE", "PUBLISH", "REFER", "NOTIFY", "INFO",
                                    "BYE", "CANCEL", "UPDATE", "PRACK", "FOO", "message"])
def test_an_out_of_dialog_request_of_any_method_for_another_user_is_refused(method):
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, register("1002", method=method)))
    assert sip.parse(pipe.to_browser()[0][1]).status == 403
    assert pipe.core.upstream.out == []


def in_dialog(method: str, from_user: str) -> bytes:
    return register(from_user, to_user=USER, method=method).replace(
        b"To: <sip:1001@omnisense.local>", b"To: <sip:1001@omnisense.local>;tag=pbx")


CONTACT = "sip:634v2ne2@r8s7q6.invalid;transport=ws"


def pbx_invite(to: str = CONTACT, call_id: str = "pbx-1", method: str = "INVITE") -> bytes:
    """As Asterisk calls a registered phone: To is the Contact the phone registered."""
    return (f"{method} {to} SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1:8088;branch=z9hG4bKpbx\r\n"
            f"From: <sip:5551234@omnisense.local>;tag=pbx\r\nTo: <{to}>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 10 {method}\r\nContact: <sip:5551234@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n").encode()


def browser_answer(status: str = "200 OK", to: str = CONTACT, call_id: str = "pbx-1", method: str = "INVITE",
                   tag: str | None = "agt") -> bytes:
    to_value = f"<{to}>" + (f";tag={tag}" if tag else "")
    return (f"SIP/2.0 {status}\r\nVia: SIP/2.0/WS 127.0.0.1:8088;branch=z9hG4bKpbx\r\n"
            f"From: <sip:5551234@omnisense.local>;tag=pbx\r\nTo: {to_value}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 10 {method}\r\nContent-Length: 0\r\n\r\n").encode()


def agent_request(method: str, from_uri: str = CONTACT, call_id: str = "pbx-1", from_tag: str = "agt",
                  to_tag: str = "pbx") -> bytes:
    """The agent's own request inside the PBX's dialog: From is the side the PBX addressed, with its tag."""
    return (f"{method} sip:5551234@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/WS r8s7q6.invalid;branch=z9hG4bKa\r\n"
            f"Max-Forwards: 70\r\nFrom: <{from_uri}>;tag={from_tag}\r\n"
            f"To: <sip:5551234@omnisense.local>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: 2 {method}\r\n"
            "Route: <sip:127.0.0.1:8088;transport=ws;lr>\r\nContent-Length: 0\r\n\r\n").encode()


def pbx_call(pipe: Pipe, to: str = CONTACT, call_id: str = "pbx-1", status: str = "200 OK") -> None:
    pipe.core.receive_upstream(server(Opcode.TEXT, pbx_invite(to, call_id)))
    pipe.core.receive_browser(client(Opcode.TEXT, browser_answer(status, to, call_id)))
    assert pipe.to_browser() and pipe.to_upstream()  # both relayed


def passes(pipe: Pipe, text: bytes) -> bool:
    frame = client(Opcode.TEXT, text)
    pipe.core.receive_browser(frame)
    if pipe.raw_to_upstream() == [frame] and pipe.core.browser.out == []:
        return True
    (answer,) = pipe.to_browser()
    assert sip.parse(answer[1]).status == 403 and pipe.core.upstream.out == []
    return False


@pytest.mark.parametrize("method", ["INVITE", "BYE", "INFO", "ACK", "NOTIFY", "REFER", "UPDATE", "MESSAGE"])
def test_requests_inside_a_dialog_the_pbx_set_up_pass_with_the_contact_as_from(method):
    """A PBX calling an agent puts the agent's Contact in To, so the agent's re-INVITE has it as From."""
    pipe = Pipe()
    pbx_call(pipe)
    assert passes(pipe, agent_request(method))


@pytest.mark.parametrize("status", ["180 Ringing", "183 Session Progress"])
def test_an_early_dialog_counts_once_the_browser_answered_with_a_tag(status):
    pipe = Pipe()
    pipe.core.receive_upstream(server(Opcode.TEXT, pbx_invite()))
    pipe.core.receive_browser(client(Opcode.TEXT, browser_answer(status)))
    pipe.to_browser(), pipe.to_upstream()
    assert passes(pipe, agent_request("PRACK"))


@pytest.mark.parametrize("method", ["MESSAGE", "INVITE", "INFO", "NOTIFY", "BYE", "REFER"])
def test_a_forged_to_tag_does_not_make_a_dialog(method):
    """Agent 1001 speaking as 1002 with a made-up To tag and a Route to the PBX: a 403, nothing relayed."""
    pipe = Pipe()
    assert not passes(pipe, agent_request(method, from_uri="sip:1002@omnisense.local", call_id="forged",
                                          from_tag="f", to_tag="x"))
    assert pipe.stats.refusals == {"identity_mismatch": 1}


def test_the_ack_for_the_403_of_a_forged_in_dialog_invite_is_not_forwarded():
    pipe = Pipe()
    spoof = agent_request("INVITE", from_uri="sip:1002@omnisense.local", call_id="forged", to_tag="x")
    assert not passes(pipe, spoof)
    # The 403 keeps the To tag the browser sent; its ACK carries it too.
    ack = agent_request("ACK", from_uri="sip:1002@omnisense.local", call_id="forged", to_tag="x")
    pipe.core.receive_browser(client(Opcode.TEXT, ack))
    assert pipe.core.upstream.out == [] and pipe.core.browser.out == []


@pytest.mark.parametrize("change", [
    {"from_uri": "sip:1002@omnisense.local"},  # the dialog's ids, another From
    {"from_uri": "sip:634v2ne2@r8s7q6.invalid"},  # not exactly the URI the PBX addressed
    {"call_id": "pbx-2"},
    {"from_tag": "other"},
    {"to_tag": "other"},
])
def test_a_request_that_differs_from_the_dialog_is_checked_as_outside_it(change):
    pipe = Pipe()
    pbx_call(pipe)
    assert not passes(pipe, agent_request("MESSAGE", **change))


def test_the_dialog_holds_for_a_later_session_of_the_same_agent():
    dialogs = AgentDialogs()
    first = Pipe(dialogs=dialogs)
    pbx_call(first)
    first.core.lost(first.core.browser)
    assert passes(Pipe(dialogs=dialogs), agent_request("INVITE"))  # the re-INVITE after a reconnect
    assert not passes(Pipe(dialogs=AgentDialogs()), agent_request("INVITE"))  # another agent's table


@pytest.mark.parametrize("ending", ["pbx BYE", "agent BYE", "pbx CANCEL", "486 Busy Here", "487 Request Terminated"])
def test_a_dialog_ends_with_its_bye_cancel_or_a_failure(ending):
    pipe = Pipe()
    if ending.startswith("4"):
        pipe.core.receive_upstream(server(Opcode.TEXT, pbx_invite()))
        pipe.core.receive_browser(client(Opcode.TEXT, browser_answer("180 Ringing")))
        pipe.core.receive_browser(client(Opcode.TEXT, browser_answer(ending)))
        pipe.to_browser(), pipe.to_upstream()
    else:
        pbx_call(pipe)
        if ending == "agent BYE":
            assert passes(pipe, agent_request("BYE"))
        else:
            method = ending.split()[1]
            pipe.core.receive_upstream(server(Opcode.TEXT, pbx_invite(method=method).replace(
                b"<" + CONTACT.encode() + b">\r\n", b"<" + CONTACT.encode() + b">;tag=agt\r\n")))
            pipe.to_browser()
    assert not passes(pipe, agent_request("INFO"))


def test_a_rejected_reinvite_leaves_the_dialog():
    pipe = Pipe()
    pbx_call(pipe)
    reinvite = pbx_invite().replace(b"<" + CONTACT.encode() + b">\r\n", b"<" + CONTACT.encode() + b">;tag=agt\r\n")
    pipe.core.receive_upstream(server(Opcode.TEXT, reinvite))
    pipe.core.receive_browser(client(Opcode.TEXT, browser_answer("491 Request Pending")))
    pipe.to_browser(), pipe.to_upstream()
    assert passes(pipe, agent_request("BYE"))


def register_contact(pipe: Pipe, contact: str, answer: bytes = OK, expires: str = "600") -> None:
    text = register().replace(b"Content-Length", f"Contact: <{contact}>;expires={expires}\r\nContent-Length".encode())
    pipe.core.receive_browser(client(Opcode.TEXT, text))
    pipe.core.receive_upstream(server(Opcode.TEXT, answer))
    pipe.to_browser(), pipe.to_upstream()


def test_after_a_restart_the_registered_invalid_contact_counts_as_the_agent():
    """A process that never saw the PBX's call: the agent's re-INVITE from its own `.invalid` Contact goes on."""
    pipe = Pipe()
    assert not passes(pipe, agent_request("INVITE"))  # not registered yet
    register_contact(pipe, CONTACT)
    assert passes(pipe, agent_request("INVITE"))
    assert passes(pipe, agent_request("BYE", call_id="any", from_tag="t", to_tag="u"))
    assert not passes(pipe, register(method="MESSAGE").replace(b"<sip:1001@omnisense.local>;tag=c",
                                                                f"<{CONTACT}>".encode()))  # no To tag


def test_a_contact_counts_only_once_the_pbx_accepted_it_and_until_it_is_removed():
    pipe = Pipe()
    register_contact(pipe, CONTACT, answer=OK.replace(b"200 OK", b"401 Unauthorized"))
    assert not passes(pipe, agent_request("INVITE"))
    register_contact(pipe, CONTACT, answer=OK.replace(b"Call-ID: core-1", b"Call-ID: other"))
    assert not passes(pipe, agent_request("INVITE"))  # a 200 for another REGISTER
    register_contact(pipe, CONTACT)
    assert passes(pipe, agent_request("INVITE"))
    register_contact(pipe, CONTACT, expires="0")
    assert not passes(pipe, agent_request("INVITE"))


def test_each_register_s_contact_and_expires_count_though_a_session_reads_a_repeated_one_once():
    """The session keeps its last REGISTER's reading of Contact and Expires: a refresh reuses it, and a REGISTER
    that changes either (here only the Expires header) is read afresh."""
    pipe = Pipe()

    def register_with(headers: bytes) -> None:
        text = register().replace(b"Content-Length", headers + b"Content-Length")
        pipe.core.receive_browser(client(Opcode.TEXT, text))
        pipe.core.receive_upstream(server(Opcode.TEXT, OK))
        pipe.to_browser(), pipe.to_upstream()

    bind = f"Contact: <{CONTACT}>\r\n".encode()
    for _ in range(2):  # the first binds; the refresh repeats it
        register_with(bind)
        assert passes(pipe, agent_request("INVITE"))
    register_with(bind + b"Expires: 0\r\n")  # the same Contact value, removed by the Expires header
    assert not passes(pipe, agent_request("INVITE"))
    register_with(bind)
    assert passes(pipe, agent_request("INVITE"))


@pytest.mark.parametrize("contact", ["sip:1002@omnisense.local", "sip:1002@127.0.0.1:5060;transport=ws",
                                     "sip:1002@host.invalid.example.com"])
def test_a_contact_that_borrows_another_address_never_counts(contact):
    pipe = Pipe()
    register_contact(pipe, contact)
    assert not passes(pipe, agent_request("MESSAGE", from_uri=contact, call_id="forged", to_tag="x"))


def test_a_register_is_checked_even_with_a_to_tag():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, in_dialog("REGISTER", "1002")))
    assert sip.parse(pipe.to_browser()[0][1]).status == 403
    assert pipe.core.upstream.out == []


def test_a_tag_inside_the_to_uri_is_not_a_dialog():
    pipe = Pipe()
    spoof = register("1002", method="MESSAGE").replace(b"To: <sip:1001@omnisense.local>",
                                                       b"To: <sip:1001@omnisense.local;tag=x>")
    pipe.core.receive_browser(client(Opcode.TEXT, spoof))
    assert sip.parse(pipe.to_browser()[0][1]).status == 403


def test_the_ack_for_a_403_the_relay_made_is_not_forwarded():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, register("1002", to_user=USER, method="INVITE")))
    answer = sip.parse(pipe.to_browser()[0][1])
    assert answer.status == 403
    to = answer.get("to")
    assert to is not None
    ack = register("1002", to_user=USER, method="ACK").replace(b"To: <sip:1001@omnisense.local>", b"To: " + to.encode())
    pipe.core.receive_browser(client(Opcode.TEXT, ack))
    assert pipe.core.upstream.out == [] and pipe.core.browser.out == [] and not pipe.core.closing
    # Any other ACK still goes through, and the same one again would too (only one ACK per 403 is expected).
    other = in_dialog("ACK", "1001")
    pipe.core.receive_browser(client(Opcode.TEXT, other))
    assert pipe.to_upstream() == [(0x81, other)]


@pytest.mark.parametrize("bad", [
    register().replace(b"Max-Forwards: 70\r\n", b"X-A: 1\rFrom: <sip:1002@omnisense.local>\r\n"),  # bare CR
    register().replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n"),  # bare LF
    register().replace(b"\r\n", b"\n"),  # LF line ends throughout
    register().replace(b"Max-Forwards: 70", b"Max-Forwards: 7\x000"),  # NUL
    register().replace(b"Max-Forwards: 70\r\n", b"Max-Forwards:\r\n 70\r\n"),  # obsolete folding
    register().replace(b"From: <sip:1001@omnisense.local>;tag=c", b"From: <sip:1001@omnisense.local>\r\n ;tag=c"),
    register().replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\r\n"),  # CR CR LF
])
def test_a_badly_framed_request_is_answered_400_and_not_forwarded(bad):
    """The PBX's parser may split such a head into other lines (pjlib ends a line at a lone CR)."""
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, bad))
    (answer,) = pipe.to_browser()
    assert sip.parse(answer[1]).status == 400 and pipe.core.upstream.out == []
    assert pipe.stats.refusals == {"bad_framing": 1}
    pipe.core.receive_browser(client(Opcode.TEXT, register()))  # the session goes on
    assert pipe.to_upstream() == [(0x81, register())]


def test_the_bare_cr_spoof_is_refused_though_its_last_from_is_the_agents():
    spoof = register(method="MESSAGE").replace(
        b"From: <sip:1001@", b"X-A: 1\rFrom: <sip:1002@omnisense.local>\r\nFrom: <sip:1001@")
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, spoof))
    assert sip.parse(pipe.to_browser()[0][1]).status == 400 and pipe.core.upstream.out == []


def test_the_ack_for_the_400_to_a_badly_framed_invite_is_not_forwarded():
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, register(method="INVITE").replace(b"\r\nMax", b"\nMax")))
    to = sip.parse(pipe.to_browser()[0][1]).get("to")
    assert to is not None
    pipe.core.receive_browser(client(Opcode.TEXT, register(method="ACK").replace(
        b"To: <sip:1001@omnisense.local>", b"To: " + to.encode())))
    assert pipe.core.upstream.out == [] and pipe.core.browser.out == []


@pytest.mark.parametrize("bad", [
    OK.replace(b"\r\nCall-ID", b"\rCall-ID"),  # a response: nothing can answer it
    b"INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/WS h\r\nX: \x00\r\n\r\n",  # no From/To/CSeq to answer with
    b"INVITE sip:x@h SIP/2.0\nFrom: <sip:1001@h>\nTo: <sip:x@h>\n\n",  # no CRLF CRLF at all
])
def test_a_badly_framed_message_that_cannot_be_answered_closes_with_1008(bad):
    pipe = Pipe()
    pipe.core.receive_browser(client(Opcode.TEXT, bad))
    assert close_of(pipe.to_browser()[0]) == (1008, b"badly framed SIP message")
    assert close_of(pipe.to_upstream()[0])[0] == 1000  # the Close, and nothing of the message


def test_a_bare_cr_or_lf_in_the_body_is_the_bodys_business():
    pipe = Pipe()
    text = register(method="MESSAGE").replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 5\r\n\r\na\rb\nc")
    pipe.core.receive_browser(client(Opcode.TEXT, text))
    assert pipe.to_upstream() == [(0x81, text)]
