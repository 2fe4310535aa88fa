"""The database side of ViciDial launches: runs the statements of `checks.py` (which decides) on the pool.

Every method raises when the database cannot be read; the routes answer that as 503 `vicidial_lookup_failed`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import aiomysql

from .. import db
from ..sip_proxy.phone_routes import SERVER_SQL
from . import checks
from .launch import Launch, Options

LOOKUP_TIMEOUT = 3.0


class ViciDialDb:
    def __init__(self, pool: Callable[[], aiomysql.Pool], stale_seconds: int) -> None:
        self._pool = pool
        self.stale_seconds = stale_seconds

    async def check(self, launch: Launch, options: Options,
                    raw_query: str) -> tuple[checks.Phone, checks.Agent] | checks.Refusal:
        """The database's checks, in their order: the phone, the live agent, the stored webphone URL."""
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(checks.PHONE_SQL, (launch.phone_login,))
            phone = checks.decide_phone(launch, await cur.fetchall())
            if isinstance(phone, checks.Refusal):
                return phone
            await cur.execute(checks.LIVE_AGENT_SQL, (self.stale_seconds, checks.agent_extension(phone)))
            agent = checks.decide_agent(phone, options, await cur.fetchall())
            if isinstance(agent, checks.Refusal):
                return agent
            await cur.execute(checks.SESSION_DATA_SQL, (agent.user,))
            stale = checks.decide_session_data(phone, raw_query, await cur.fetchall())
            return stale or (phone, agent)

    async def secret(self, extension: str, server_ip: str) -> str | None:
        """The phone's `conf_secret` now, or None when the phone is gone or inactive."""
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(checks.SECRET_SQL, (extension, server_ip))
            return checks.decide_secret(extension, server_ip, await cur.fetchall())

    async def live_agent(self, live_agent_id: int) -> tuple[str, str, str, bool] | None:
        """(user, extension, server_ip, fresh) of a live-agent row, or None when it is gone."""
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(checks.LIVE_AGENT_BY_ID_SQL, (self.stale_seconds, live_agent_id))
            row = await cur.fetchone()
        return None if row is None else (row[0], row[1], row[2] or "", bool(row[3]))

    async def server_urls(self, server_ip: str) -> list[str | None]:
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(SERVER_SQL, (server_ip,))
            return [row[0] for row in await cur.fetchall()]

    async def fresh_rows(self, live_agent_ids: Sequence[int]) -> list[tuple[int, int | None]]:
        """(live_agent_id, fresh) of the rows that still exist among `live_agent_ids`: one statement."""
        if not live_agent_ids:
            return []
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(checks.live_agents_sql(len(live_agent_ids)), (self.stale_seconds, *live_agent_ids))
            return [(int(row[0]), row[1]) for row in await cur.fetchall()]
