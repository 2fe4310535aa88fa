"""devstack.mariadb: the project's own server, left before its users were made, is finished on the next start."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from devstack import mariadb
from service.config import DatabaseConfig

pytestmark = pytest.mark.stack


def test_our_own_server_is_made_to_accept_a_user_it_does_not_know_yet(db_config: DatabaseConfig) -> None:
    # As after a first `make test` interrupted between starting mariadbd and making DATABASE_URL's user.
    tag = secrets.token_hex(4)
    db = dataclasses.replace(db_config, user=f"rv_{tag}", password=secrets.token_urlsafe(12), database=f"rv_{tag}")
    try:
        assert mariadb.start(db) is False  # already running: nothing started
        with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM vicidial_list")
            assert cur.fetchone() == (500,)
    finally:
        with mariadb.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db.database}`")
            for host in ("127.0.0.1", "localhost", "::1"):
                cur.execute("DROP USER IF EXISTS %s@%s", (db.user, host))
