"""The one place the service reaches into aiomysql's internals, for the version it was read in.

`Pool.release` wakes the tasks waiting for a connection (through the private `Pool._wakeup`) only when the
connection goes back open; a connection closed on error must wake them too. Importing this module with
another aiomysql fails at once, saying so, rather than leaving waiters asleep after an upgrade.
"""

from __future__ import annotations

import asyncio

import aiomysql

WRITTEN_FOR = "0.3.2"

if aiomysql.__version__ != WRITTEN_FOR:  # pragma: no cover - only after an upgrade
    raise ImportError(
        f"service.aiomysql_internals was written for aiomysql {WRITTEN_FOR}, found {aiomysql.__version__}:"
        " check that Pool.release still wakes waiters through Pool._wakeup, then update WRITTEN_FOR"
    )

_wakeups: set[asyncio.Task[None]] = set()


def wake_pool_waiters(pool: aiomysql.Pool) -> None:
    """Wake one task waiting in `pool.acquire()`, as `Pool.release` itself does for an open connection."""
    task = asyncio.get_running_loop().create_task(pool._wakeup())  # noqa: SLF001 - the adapter's one job
    _wakeups.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_wakeups.discard)
