"""The relay's counters: plain dict increments on the hot path, turned into Prometheus metrics on scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..ratelog import RateLimitedLog
from .sip import KNOWN_METHODS

log = logging.getLogger("service.sip_proxy")


FROM_BROWSER = "browser"
FROM_UPSTREAM = "upstream"


class RelayStats:
    """Counts by (direction, method), (direction, status code), refusal reason and close code.

    A prometheus_client Counter child costs a lock and a label lookup per increment; a dict bump is a
    fraction of that, and the relay touches these for every SIP message.
    """

    __slots__ = ("requests", "responses", "refusals", "closes", "sessions_total", "turn_issued", "_refusal_log")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, bytes], int] = {}
        self.responses: dict[tuple[str, bytes], int] = {}
        self.refusals: dict[str, int] = {}
        self.closes: dict[int, int] = {}
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

    def close(self, code: int) -> None:
        self.closes[code] = self.closes.get(code, 0) + 1


class RelayCollector:
    """A custom collector over `RelayStats` and the live session count."""

    def __init__(self, stats: RelayStats, active: Callable[[], int]) -> None:
        self.stats = stats
        self.active = active

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        requests = CounterMetricFamily(
            "sip_relay_requests", "SIP requests relayed, by direction (sender) and method", labels=["direction", "method"])
        for (direction, method), n in sorted(s.requests.items()):
            requests.add_metric([direction, method.decode()], n)
        yield requests
        responses = CounterMetricFamily(
            "sip_relay_responses", "SIP responses relayed, by direction (sender) and status code",
            labels=["direction", "code"])
        for (direction, code), n in sorted(s.responses.items()):
            responses.add_metric([direction, code.decode()], n)
        yield responses
        refusals = CounterMetricFamily(
            "sip_relay_refusals", "Connections or messages refused, by reason", labels=["reason"])
        for reason, n in sorted(s.refusals.items()):
            refusals.add_metric([reason], n)
        yield refusals
        closes = CounterMetricFamily(
            "sip_relay_closes", "Browser legs closed by the relay, by WebSocket close code", labels=["code"])
        for code, n in sorted(s.closes.items()):
            closes.add_metric([str(code)], n)
        yield closes
        yield CounterMetricFamily("sip_relay_sessions", "Relay sessions opened", value=s.sessions_total)
        yield GaugeMetricFamily("sip_relay_sessions_active", "Relay sessions open now", value=self.active())
        yield CounterMetricFamily("turn_credentials_issued", "TURN credentials issued", value=s.turn_issued)
