"""Ends coturn allocations whose webphone session is over (README: TURN credentials).

coturn checks a TURN REST username's time only when it first authenticates a client, so an allocation made
before the session's end keeps relaying, and is refreshed, for as long as the client likes. This task asks
coturn's CLI (coturn_cli.py) for its sessions and cancels those whose username (made by turn.py) carries a
session end that has passed:

- every `INTERVAL` seconds, for every session coturn has (credentials issued by any process of the service);
- and one second after the end of each session this process issued credentials for (`watch`).

So an allocation stops relaying at most about `INTERVAL` seconds after its session's end, and about a second
after it when this process issued the credentials. Nothing here blocks a request: `watch` only notes a time.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from . import turn
from .coturn_cli import CoturnCli, CoturnCliError

log = logging.getLogger("service.sip_proxy.turn")

INTERVAL = 20.0  # seconds between sweeps of every coturn session
GRACE = 1.0  # after a watched session's end, before its sweep
MIN_GAP = 2.0  # sweeps triggered by watched ends are at least this far apart
FIRST = 5.0  # the first sweep of every session, after start-up (a short-lived app never dials the CLI)


class TurnReaper:
    def __init__(self, host: str, port: int, password: str) -> None:
        self._host, self._port, self._password = host, port, password
        self._due: list[tuple[int, str]] = []  # (session end, username) of credentials this process issued
        self._ended: set[tuple[str, str]] = set()  # (customer_id, user_id) of sessions ended before their end
        self._wake = asyncio.Event()
        self.cancelled = 0  # coturn sessions cancelled, for /metrics
        self.failures = 0  # sweeps that could not talk to coturn
        self._failing = False

    def watch(self, username: str) -> None:
        """Sweep soon after the session end `username` carries (a username from `turn.credentials`)."""
        end = turn.session_end_of(username)
        if end is None:
            return
        if not self._due or end < self._due[0][0]:
            self._wake.set()
        heapq.heappush(self._due, (end, username))

    def end(self, customer_id: int, user_id: int) -> None:
        """A session ended early (its agent logged out): cancel its allocations at the next sweep, soon."""
        self._ended.add((str(customer_id), str(user_id)))
        self._wake.set()

    def _ended_early(self, username: str) -> bool:
        parts = username.split(":")
        return len(parts) == 4 and (parts[1], parts[2]) in self._ended

    async def sweep(self, now: float) -> int:
        """Cancel every coturn session of a username whose session end is at or before `now`; the count."""
        due = [username for end, username in self._due if end <= now]
        ended = set(self._ended)
        cli = await CoturnCli.open(self._host, self._port, self._password)
        try:
            sessions, truncated = await cli.sessions()
            if truncated:  # coturn lists at most cli-max-output-sessions: ask for the users known to be due
                for username in due:
                    sessions += (await cli.sessions(username))[0]
            cancelled = set()
            for session in sessions:
                end = turn.session_end_of(session.user)
                early = end is not None and self._ended_early(session.user)
                if end is not None and (end <= now or early) and session.id not in cancelled:
                    await cli.cancel(session.id)
                    cancelled.add(session.id)
        finally:
            cli.close()
        while self._due and self._due[0][0] <= now:  # swept: forget them only now, so a failed sweep retries
            heapq.heappop(self._due)
        self._ended -= ended
        if cancelled:
            log.info("cancelled %d TURN allocation(s) whose session had ended", len(cancelled))
        self.cancelled += len(cancelled)
        return len(cancelled)

    async def run(self) -> None:
        last = 0.0
        next_full = time.monotonic() + FIRST
        while True:
            now_mono = time.monotonic()
            wait = next_full - now_mono
            if self._due:
                wait = min(wait, max(self._due[0][0] + GRACE - time.time(), last + MIN_GAP - now_mono))
            if self._ended:
                wait = min(wait, last + MIN_GAP - now_mono)
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                    continue  # an earlier end to watch: work the wait out again
                except TimeoutError:
                    pass
            last = time.monotonic()
            next_full = last + INTERVAL
            try:
                await self.sweep(time.time())
            except Exception as exc:
                self.failures += 1
                if not isinstance(exc, (CoturnCliError, OSError)):
                    log.exception("TURN reaper sweep failed")
                if not self._failing:  # once per outage, not once per sweep
                    log.warning("TURN allocations of ended sessions cannot be cancelled: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("coturn CLI reachable again: cancelling TURN allocations of ended sessions")
                self._failing = False


class ReaperCollector:
    """/metrics: what the reaper cancelled, and the sweeps that could not reach coturn."""

    def __init__(self, reaper: TurnReaper) -> None:
        self.reaper = reaper

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("turn_allocations_cancelled", "coturn sessions cancelled because their webphone "
                                  "session had ended", value=self.reaper.cancelled)
        yield CounterMetricFamily("turn_reaper_failures", "sweeps that could not talk to coturn's CLI",
                                  value=self.reaper.failures)
