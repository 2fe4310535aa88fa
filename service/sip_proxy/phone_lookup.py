"""The database side of `SIP_UPSTREAM=vicidial`: reads `phones` and `servers` (phone_routes.py decides)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiomysql

from .. import db
from .phone_routes import (
    PHONE_SQL,
    SERVER_SQL,
    URLS_IN_USE_SQL,
    Outcome,
    RouteCache,
    decide_phone,
    decide_server,
    lookup_failed,
)

log = logging.getLogger("service.sip_proxy")

LOOKUP_TIMEOUT = 3.0


class PhoneRouter:
    def __init__(self, pool: Callable[[], aiomysql.Pool], cache: RouteCache | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pool = pool
        self.cache = cache or RouteCache()
        self._clock = clock

    async def route(self, extension: str) -> Outcome:
        cached = self.cache.get(extension, self._clock())
        if cached is not None:
            return cached
        try:
            outcome = await self._look_up(extension)
        except Exception as exc:  # noqa: BLE001 - the database is down or refuses us: the session is refused
            log.warning("ViciDial phone look-up for %r failed: %s: %s", extension, type(exc).__name__, exc)
            outcome = lookup_failed(exc)
        self.cache.put(extension, outcome, self._clock())
        return outcome

    async def _look_up(self, extension: str) -> Outcome:
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(PHONE_SQL, (extension, extension))
            phone = decide_phone(extension, [row[0] for row in await cur.fetchall()])
            if not isinstance(phone, str):
                return phone
            await cur.execute(SERVER_SQL, (phone,))
            return decide_server(phone, [row[0] for row in await cur.fetchall()])

    async def urls_in_use(self) -> list[str]:
        """Every web_socket_url an active phone is routed to (raises when the database cannot be read)."""
        async with asyncio.timeout(LOOKUP_TIMEOUT), db.connection(self._pool()) as conn, conn.cursor() as cur:
            await cur.execute(URLS_IN_USE_SQL)
            return [row[0].strip() for row in await cur.fetchall()]
