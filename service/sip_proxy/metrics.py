"""The relay's counters (`RelayStats`) and live session count as Prometheus metrics, built on each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .stats import UPSTREAM_FAILURES, RelayStats


class RelayCollector:
    """A custom collector over `RelayStats` and the live session count."""

    def __init__(self, stats: RelayStats, active: Callable[[], int]) -> None:
        self.stats = stats
        self.active = active

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        requests = CounterMetricFamily(
            "sip_relay_requests", "SIP requests relayed, by direction (sender) and method",
            labels=["direction", "method"])
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
        for close_code, n in sorted(s.closes.items()):
            closes.add_metric([str(close_code)], n)
        yield closes
        failures = CounterMetricFamily(
            "sip_relay_upstream_failures", "PBX legs that could not be opened or were lost, by reason",
            labels=["reason"])
        for reason in UPSTREAM_FAILURES:
            failures.add_metric([reason], s.upstream_failures.get(reason, 0))
        yield failures
        yield CounterMetricFamily("sip_relay_sessions", "Relay sessions opened", value=s.sessions_total)
        yield GaugeMetricFamily("sip_relay_sessions_active", "Relay sessions open now", value=self.active())
        yield CounterMetricFamily("turn_credentials_issued", "TURN credentials issued", value=s.turn_issued)
