"""service.db: a connection closed on error still hands its place in the pool to whoever waits for one."""

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
                await asyncio.sleep(0.1)  # the waiter is queued by now
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
