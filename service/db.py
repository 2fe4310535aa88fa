"""The ViciDial database pool (aiomysql), owned by the app through `cleanup_ctx`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomysql
from aiohttp import web

from .aiomysql_internals import wake_pool_waiters
from .appkeys import DB_POOL, READINESS_CHECKS, SETTINGS
from .config import DatabaseConfig

# ViciDial writes zero dates ('0000-00-00') and relies on a non-strict sql_mode; every session of ours
# uses one so such rows are read and copied whatever the server's default is.
# NO_AUTO_VALUE_ON_ZERO: a lead whose lead_id is 0, dearchived into vicidial_list, keeps 0 instead of being given
# a new AUTO_INCREMENT id (which would leave it in both tables under two ids).
SESSION_SQL_MODE = "NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"


async def create_pool(db: DatabaseConfig, *, minsize: int = 1, maxsize: int = 10) -> aiomysql.Pool:
    return await aiomysql.create_pool(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        db=db.database,
        unix_socket=db.unix_socket,
        minsize=minsize,
        maxsize=maxsize,
        charset="utf8mb4",
        autocommit=True,
        pool_recycle=3600,
        # A row lock held by the dialer fails our statement within 5 s (then the archive retries it), instead of
        # the server's 50 s default during which our own locks would stall the dialer in turn.
        init_command=(f"SET SESSION sql_mode='{SESSION_SQL_MODE}', SESSION time_zone='+00:00',"
                      " SESSION innodb_lock_wait_timeout=5"),
    )


async def db_context(app: web.Application) -> AsyncIterator[None]:
    """Open the pool at start-up (lazily: the service starts even if the database is still down)."""
    settings = app[SETTINGS]
    pool = await create_pool(settings.database, minsize=0)
    app[DB_POOL] = pool
    app[READINESS_CHECKS]["database"] = _database_ready
    try:
        yield
    finally:
        pool.close()
        await pool.wait_closed()


async def _database_ready(app: web.Application) -> str | None:
    try:
        async with asyncio.timeout(2):
            async with app[DB_POOL].acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said in words
        return f"database unreachable: {type(exc).__name__}: {exc}"
    return None


@contextlib.asynccontextmanager
async def connection(pool: aiomysql.Pool) -> AsyncIterator[aiomysql.Connection]:
    """A pooled connection that never goes back to the pool mid-transaction or mid-query.

    If the body fails or is cancelled, the connection is closed rather than reused: closing is
    synchronous (nothing to await, so cancellation cannot interrupt it) and the server rolls back
    whatever transaction the connection had open. On success an open transaction is also refused
    by `Pool.release`, which closes such connections.
    """
    conn = await pool.acquire()
    try:
        yield conn
    except BaseException:
        conn.close()
        raise
    finally:
        pool.release(conn)
        if conn.closed:
            # aiomysql wakes the tasks waiting for a connection only when one goes back open: without this,
            # a full pool whose connections all fail leaves its waiters asleep until some other release.
            wake_pool_waiters(pool)
