"""The relay's counters: plain dict increments on the hot path (metrics.py turns them into Prometheus metrics
on scrape). Pure: the relay core counts here without importing any library."""

from __future__ import annotations

import logging

from ..ratelog import RateLimitedLog
from .sip import KNOWN_METHODS

log = logging.getLogger("service.sip_proxy")


FROM_BROWSER = "browser"
FROM_UPSTREAM = "upstream"
# The reasons of sip_relay_upstream_failures: the PBX refused the connection or did not answer in time
# (`unreachable`), took it and hung up without an HTTP answer (`full`: Asterisk's sessionlimit), answered the
# upgrade with something else than a `sip` WebSocket (`refused`), or stopped answering pings (`not_responding`).
UPSTREAM_FAILURES = ("unreachable", "full", "refused", "not_responding")


class RelayStats:
    """Counts by (direction, method), (direction, status code), refusal reason and close code.

    A prometheus_client Counter child costs a lock and a label lookup per increment; a dict bump is a
    fraction of that, and the relay touches these for every SIP message.
    """

    __slots__ = ("_refusal_log", "closes", "refusals", "requests", "responses", "sessions_total", "turn_issued",
                 "upstream_failures")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, bytes], int] = {}
        self.responses: dict[tuple[str, bytes], int] = {}
        self.refusals: dict[str, int] = {}
        self.closes: dict[int, int] = {}
        # Why a PBX leg could not be opened or was lost: UPSTREAM_FAILURES (README: close codes).
        self.upstream_failures: dict[str, int] = {}
        self.sessions_total = 0
        self.turn_issued = 0
        # A client can cause refusals as fast as it can send: each is counted, a few per reason are logged.
        self._refusal_log = RateLimitedLog(log, burst=5, window=10.0)

    def request(self, direction: str, method: bytes) -> None:
        key = (direction, method if method in KNOWN_METHODS else b"other")
        self.requests[key] = self.requests.get(key, 0) + 1

    def response(self, direction: str, code: bytes) -> None:
        key = (direction, code if code.isdigit() else b"other")
        self.responses[key] = self.responses.get(key, 0) + 1

    def refusal(self, reason: str) -> None:
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def refused(self, reason: str, level: int, message: str, *args: object) -> None:
        """Count a refusal and log it, at most a few lines per reason every 10 s (README: Logs)."""
        self.refusal(reason)
        self._refusal_log.log(level, reason, message, *args)

    def upstream_failure(self, reason: str) -> None:
        self.upstream_failures[reason] = self.upstream_failures.get(reason, 0) + 1

    def close(self, code: int) -> None:
        self.closes[code] = self.closes.get(code, 0) + 1
