"""service.db: sessions fit ViciDial's data, and a connection closed on error still hands its place in the pool on."""

from __future__ import annotations

import asyncio

import pytest

from service import db

pytestmark = pytest.mark.stack


async def test_a_waiter_gets_a_connection_when_the_holder_fails(db_config) -> None:
    pool = await db.create_pool(db_config, minsize=0, maxsize=1)
    try:
        holding = asyncio.Event()

        async def failing_holder() -> None:
            async with db.connection(pool):
                holding.set()
                for _ in range(100_000):  # until the waiter is queued in aiomysql's acquire
                    if pool._cond._waiters:
                        break
                    await asyncio.sleep(0)
                assert pool._cond._waiters, "the waiter never queued"
                raise RuntimeError("the statement failed")

        async def waiter() -> int:
            await holding.wait()
            async with db.connection(pool) as conn, conn.cursor() as cur:
                await cur.execute("SELECT 1")
                return (await cur.fetchone())[0]

        holder_task = asyncio.create_task(failing_holder())
        # Without the wake-up the waiter would sleep until some other connection came back: here, never.
        assert await asyncio.wait_for(waiter(), 10) == 1
        with pytest.raises(RuntimeError):
            await holder_task
    finally:
        pool.close()
        await pool.wait_closed()


async def test_sessions_copy_zero_dates_and_do_not_wait_50_s_for_a_lock(db_config) -> None:
    pool = await db.create_pool(db_config, minsize=1, maxsize=1)
    try:
        async with db.connection(pool) as conn, conn.cursor() as cur:
            await cur.execute("SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.innodb_lock_wait_timeout")
            sql_mode, time_zone, lock_wait = await cur.fetchone()
    finally:
        pool.close()
        await pool.wait_closed()
    assert "NO_ZERO_DATE" not in sql_mode and "STRICT_TRANS_TABLES" not in sql_mode
    assert time_zone == "+00:00"
    assert lock_wait == 5
