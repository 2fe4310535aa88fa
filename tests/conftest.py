"""Fixtures shared by the whole suite: the real local stack and settings built for tests.

Tests that need a real component are marked `stack` (`pytest -m stack` runs only those,
`pytest -m "not stack"` only the fast pure ones). The stack is started once per run by `make test`;
the `stack_env` fixture makes sure it is up when pytest is run on its own too.

`make test` runs the suite on several pytest-xdist workers, then the tests marked `alone` one at a time. A thing
the stack has one of and that takes one user at a time (the plain phone, baresip) is taken by a test through
`one_at_a_time`: a test of another worker that wants it waits until it is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from devstack.paths import STATE
from service.config import DatabaseConfig, Settings, load_settings

from .vicidial_rows import ViciDialRows

TEST_AUTH_KEY_SECRET = "test-auth-key-secret-0123456789"

# No per-example deadline: one example slowed by a loaded machine is not a failure (speed belongs in bench/).
hypothesis_settings.register_profile("no-deadline", deadline=None)
hypothesis_settings.load_profile("no-deadline")


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The project's environment (.env under os.environ) with MariaDB, Kamailio and coturn running."""
    import devstack.__main__ as devstack_main

    # Workers of one run check (and maybe start) the stack one after the other, never two at once.
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "pytest-up.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return devstack_main.up()


@contextlib.asynccontextmanager
async def one_at_a_time(name: str, timeout: float = 300) -> AsyncIterator[None]:
    """Holds the stack's lock NAME (a file lock under .stack/, so across workers and runs) until the block ends."""
    STATE.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with (STATE / f"{name}.lock").open("w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert loop.time() < deadline, f"{name} still in use by another test after {timeout:.0f} s"
                await asyncio.sleep(0.05)  # the holder's test ends in seconds; its lock goes with its file
        yield


@pytest.fixture
async def plain_phone_turn() -> AsyncIterator[None]:
    """The stack's one plain phone (baresip) for this test alone: a test that rings it on another worker waits."""
    async with one_at_a_time("plain-phone"):
        yield


@pytest.fixture(scope="session")
def db_config(stack_env: dict[str, str]) -> DatabaseConfig:
    return DatabaseConfig.from_url(stack_env["DATABASE_URL"])


@pytest.fixture
def make_settings() -> Iterator[Callable[..., Settings]]:
    """Settings from a plain dict, with a test AUTH_KEY_SECRET unless one is given."""

    def make(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        settings = load_settings({"AUTH_KEY_SECRET": TEST_AUTH_KEY_SECRET, **(env or {})})
        return dataclasses.replace(settings, **overrides)

    yield make


@pytest.fixture
def vici_rows(db_config: DatabaseConfig, stack_env: dict[str, str]) -> Iterator[ViciDialRows]:
    """ViciDial servers, phones and logins of the test's own (tests/vicidial_rows.py), removed after it."""
    rows = ViciDialRows(db_config, stack_env["AUTH_KEY_SECRET"])
    try:
        yield rows
    finally:
        rows.close()
