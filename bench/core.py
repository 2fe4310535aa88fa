"""The relay core's cost per message, without sockets: µs per message through `RelayCore`.

`python -m bench.core`. Feeds one core, in a loop, the frames of an agent's usual traffic: a REGISTER from the
browser (full identity check) and its 200 from the PBX, an in-dialog INFO from the browser (a dialog the core
saw set up) and its 200, and a PBX-originated re-INVITE with its 200 from the browser. Prints the median of
ROUNDS rounds, per message and per kind.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from service.sip_proxy import wsframe
from service.sip_proxy.relay.core import RelayCore
from service.sip_proxy.session import Session
from service.sip_proxy.stats import RelayStats

ROUNDS = 7
MESSAGES = 20_000
VIA = "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK1234567;rport\r\n"
FROM = "From: \"1001\" <sip:1001@omnisense.local>;tag=a73kszlfl"
TO_TAG = "To: <sip:5551234@omnisense.local>;tag=as6c0b0ab5"
CALL = "Call-ID: 3ks8d8g7h2j1lk5e9l8a\r\n"


def _register() -> bytes:
    return (f"REGISTER sip:omnisense.local SIP/2.0\r\n{VIA}Max-Forwards: 70\r\n{FROM}\r\n"
            f"To: <sip:1001@omnisense.local>\r\n{CALL}CSeq: 2 REGISTER\r\n"
            "Contact: <sip:k3j2h1g0@df7jal23ls0d.invalid;transport=ws>;expires=600\r\n"
            "Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER\r\n"
            "Supported: path, gruu, outbound\r\nUser-Agent: SIP.js/0.15.11\r\nContent-Length: 0\r\n\r\n").encode()


def _answer(method: str, cseq: int, to: str) -> bytes:
    return (f"SIP/2.0 200 OK\r\n{VIA}{FROM}\r\n{to}\r\n{CALL}CSeq: {cseq} {method}\r\n"
            "Server: kamailio\r\nContent-Length: 0\r\n\r\n").encode()


def _request(method: str, cseq: int) -> bytes:
    return (f"{method} sip:5551234@10.0.0.5:5060 SIP/2.0\r\n{VIA}Max-Forwards: 70\r\n{FROM}\r\n{TO_TAG}\r\n"
            f"{CALL}CSeq: {cseq} {method}\r\nRoute: <sip:10.0.0.1:8088;transport=ws;lr>\r\n"
            "Content-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\nSignal=1\r\n").encode()


def main() -> None:
    now = datetime.now(UTC)
    session = Session(1, 1, "1001", (now + timedelta(days=1)).isoformat(), now + timedelta(days=1))
    core = RelayCore(session, RelayStats())
    core.start()
    # The dialog: the browser's INVITE and the PBX's 200 with its tag.
    invite = _request("INVITE", 1).replace(b";tag=as6c0b0ab5", b"")
    core.receive_browser(wsframe.encode(1, invite, mask=True))
    core.receive_upstream(wsframe.encode(1, _answer("INVITE", 1, TO_TAG), mask=False))
    frames = [
        ("REGISTER (browser)", wsframe.encode(1, _register(), mask=True), True),
        ("200 REGISTER (PBX)", wsframe.encode(1, _answer("REGISTER", 2, "To: <sip:1001@omnisense.local>;tag=x"),
                                              mask=False), False),
        ("INFO in dialog (browser)", wsframe.encode(1, _request("INFO", 3), mask=True), True),
        ("200 INFO (PBX)", wsframe.encode(1, _answer("INFO", 3, TO_TAG), mask=False), False),
    ]
    rows: dict[str, list[float]] = {name: [] for name, _, _ in frames}
    for _ in range(ROUNDS):
        for name, frame, browser in frames:
            feed = core.receive_browser if browser else core.receive_upstream
            out = core.upstream.out if browser else core.browser.out
            start = time.process_time()
            for _ in range(MESSAGES):
                feed(frame)
                out.clear()
            rows[name].append((time.process_time() - start) / MESSAGES * 1e6)
    assert not core.closing, core.close_code
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, value in medians.items():
        print(f"{name:28s} {value:6.2f} µs")
    print(f"{'mean per message':28s} {statistics.mean(medians.values()):6.2f} µs")


if __name__ == "__main__":
    main()
