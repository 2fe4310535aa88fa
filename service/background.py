"""A task that runs for the application's lifetime, as an aiohttp `cleanup_ctx`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any


async def background(run: Callable[[], Coroutine[Any, Any, None]], name: str) -> AsyncIterator[None]:
    """Run `run()` as a task from start-up; cancel it (and wait for it) on cleanup."""
    task = asyncio.create_task(run(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
