"""Fixtures shared by the whole suite: the real local stack and settings built for tests.

Tests that need a real component are marked `stack` (`pytest -m stack` runs only those,
`pytest -m "not stack"` only the fast pure ones). The stack is started once per run by `make test`;
the `stack_env` fixture makes sure it is up when pytest is run on its own too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

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

    return devstack_main.up()


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
