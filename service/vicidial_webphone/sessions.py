"""The ViciDial-launched sessions of this process: admitted at `/ws`, tied to their agent's login, closed when
the login ends (one batched query every `POLL_SECONDS`), when VICIDIAL_SESSION_MAX is reached (the session's
`expire_date`, as for any session) or when a newer launch of the same agent replaces them.

A ViciDial session is an ordinary signed session (`auth_key`) whose `customer_id` is `VICIDIAL_CUSTOMER_ID`,
whose `user_id` is the agent's `vicidial_live_agents.live_agent_id` and whose `username` is the phone's extension.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..background import background
from ..sip_proxy.phone_routes import Refusal as RouteRefusal, decide_server
from ..sip_proxy.relay.protocols import Relay
from ..sip_proxy.session import Session
from ..sip_proxy.turn_reaper import TurnReaper
from ..sip_proxy.wsframe import CloseCode
from .logins import Login, Logins
from .lookup import ViciDialDb
from .tokens import ReplayCache

log = logging.getLogger("service.vicidial_webphone")

VICIDIAL_CUSTOMER_ID = 0
POLL_SECONDS = 15.0
LOGGED_OUT = b"logged out"
REPLACED = b"replaced by a newer launch"


class ViciDialSessions:
    def __init__(self, database: ViciDialDb, reaper: TurnReaper | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.db = database
        self.reaper = reaper
        self.poll_seconds = poll_seconds
        self.logins: Logins[Relay] = Logins()
        self.replays = ReplayCache()
        self.launches: dict[str, int] = {}  # by outcome (`ok` or the refusal's reason), for /metrics
        self.closed: dict[str, int] = {}  # sessions closed, by why
        self.polls = 0
        self.poll_failures = 0
        self._polling_failed = False

    @staticmethod
    def owns(session: Session) -> bool:
        return session.customer_id == VICIDIAL_CUSTOMER_ID

    def count(self, outcome: str) -> None:
        self.launches[outcome] = self.launches.get(outcome, 0) + 1

    async def admit(self, session: Session) -> tuple[str, Login[None]] | RouteRefusal:
        """At `/ws`: the agent's login must still be live; the leg goes to its server's web_socket_url."""
        try:
            row = await self.db.live_agent(session.user_id)
            if row is None or not row[3] or not row[1].endswith(f"/{session.username}"):
                return RouteRefusal(403, "logged_out", "the agent has logged out of ViciDial")
            user, _extension, server_ip, _fresh = row
            route = decide_server(server_ip, await self.db.server_urls(server_ip))
        except Exception as exc:  # noqa: BLE001 - the database is down: the session is refused, in words
            log.warning("ViciDial look-up for %s failed: %s: %s", session.username, type(exc).__name__, exc)
            return RouteRefusal(503, "vicidial_lookup_failed", "ViciDial's database could not be read")
        if isinstance(route, RouteRefusal):
            return route
        login = Login(session.user_id, user, session.username, session.expires_at, None)
        if self.logins.newer_open(login):
            return RouteRefusal(409, "replaced", "a newer launch of this agent's phone is open")
        return route.url, login

    def attach(self, login: Login[None], relay: Relay) -> Login[Relay] | None:
        """Register an open session; close the older ones of the same agent. None (and `relay` closed): a newer
        launch of the agent is open."""
        mine = Login(login.live_agent_id, login.user, login.extension, login.launched, relay)
        replaced = self.logins.attach(mine)
        if replaced is None:
            self.closed["replaced"] = self.closed.get("replaced", 0) + 1
            relay.finish(CloseCode.SESSION_EXPIRED, REPLACED)
            return None
        for old in replaced:
            log.info("ViciDial user %s, extension %s: a newer launch replaces the open session", old.user,
                     old.extension)
            self._close(old, REPLACED, "replaced")
        log.info("ViciDial user %s, extension %s: session open", mine.user, mine.extension)
        return mine

    def detach(self, login: Login[Relay]) -> None:
        self.logins.detach(login)

    def _close(self, login: Login[Relay], reason: bytes, why: str) -> None:
        self.logins.detach(login)
        self.closed[why] = self.closed.get(why, 0) + 1
        login.handle.finish(CloseCode.SESSION_EXPIRED, reason)
        if self.reaper is not None:
            self.reaper.end(VICIDIAL_CUSTOMER_ID, login.live_agent_id)

    async def poll(self) -> int:
        """Read every open session's live-agent row (one statement); close those logged out. The count closed."""
        ids = self.logins.live_agent_ids()
        if not ids:
            return 0
        rows = await self.db.fresh_rows(ids)
        self.polls += 1
        ended = self.logins.ended(rows)
        for login in ended:
            log.info("ViciDial user %s, extension %s: logged out of ViciDial, session closed", login.user,
                     login.extension)
            self._close(login, LOGGED_OUT, "logged_out")
        return len(ended)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            started = time.monotonic()
            try:
                await self.poll()
            except Exception as exc:  # noqa: BLE001 - sessions stay open while the database cannot be read
                self.poll_failures += 1
                if not self._polling_failed:
                    log.warning("ViciDial logins cannot be checked (sessions stay open): %s: %s",
                                type(exc).__name__, exc)
                self._polling_failed = True
            else:
                if self._polling_failed:
                    log.info("ViciDial logins are checked again")
                self._polling_failed = False
            if time.monotonic() - started > self.poll_seconds:
                log.warning("the ViciDial login poll took longer than its interval")


VICIDIAL = web.AppKey("vicidial_webphone_sessions", ViciDialSessions)


class ViciDialCollector:
    """/metrics: launches by outcome, sessions closed by why, and the open sessions by ViciDial user and phone."""

    def __init__(self, sessions: ViciDialSessions) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        s = self.sessions
        launches = CounterMetricFamily("vicidial_webphone_launches", "ViciDial webphone launches, by outcome",
                                       labels=["outcome"])
        for outcome, n in sorted(s.launches.items()):
            launches.add_metric([outcome], n)
        yield launches
        closed = CounterMetricFamily("vicidial_webphone_sessions_closed", "ViciDial sessions closed, by why",
                                     labels=["why"])
        for why, n in sorted(s.closed.items()):
            closed.add_metric([why], n)
        yield closed
        open_now = GaugeMetricFamily("vicidial_webphone_sessions_open", "ViciDial sessions open now",
                                     labels=["user", "extension"])
        counts: dict[tuple[str, str], int] = {}
        for login in s.logins:
            counts[(login.user, login.extension)] = counts.get((login.user, login.extension), 0) + 1
        for (user, extension), n in sorted(counts.items()):
            open_now.add_metric([user, extension], n)
        yield open_now
        yield CounterMetricFamily("vicidial_webphone_login_polls", "Batched reads of the live-agent rows",
                                  value=s.polls)
        yield CounterMetricFamily("vicidial_webphone_login_poll_failures", "Login polls that failed",
                                  value=s.poll_failures)


def setup(app: web.Application, sessions: ViciDialSessions) -> None:
    app.cleanup_ctx.append(lambda _app: background(sessions.run, "vicidial-logins"))
