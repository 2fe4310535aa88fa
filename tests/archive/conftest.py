"""Fixtures for the archive API: a throwaway ViciDial database per module and engine, clients, keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest

from devstack import mariadb
from service.app import create_app
from service.config import DatabaseConfig

API_KEY = "test-archive-key-0123456789"
KEY_ENTRY = f"tester:{hashlib.sha256(API_KEY.encode()).hexdigest()}"
AUTH = {"Authorization": f"Key={API_KEY}", "Content-Type": "application/json"}
PATH = "/vicidial/leads/archive"
DEARCHIVE_PATH = "/vicidial/leads/dearchive"


def body(lead_ids: Any, insert: bool = True, update: bool = True, delete: bool = True) -> str:
    """An archive request body, all three steps on unless said."""
    return json.dumps({"insert_leads": insert, "update_leads": update, "delete_leads": delete, "lead_ids": lead_ids})


def dearchive_body(lead_ids: Any, insert: bool = True, delete: bool = True) -> str:
    """A dearchive request body, both steps on unless said."""
    return json.dumps({"insert_leads": insert, "delete_leads": delete, "lead_ids": lead_ids})


async def post(client: Any, data: Any, headers: dict[str, str] = AUTH, path: str = PATH) -> tuple[int, Any]:
    """POST to the archive API (or another path): the HTTP status and the JSON answer."""
    resp = await client.post(path, data=data, headers=headers)
    return resp.status, await resp.json()


async def dearchive(client: Any, data: Any, headers: dict[str, str] = AUTH) -> tuple[int, Any]:
    """POST to the dearchive API: the HTTP status and the JSON answer."""
    return await post(client, data, headers, DEARCHIVE_PATH)


@dataclasses.dataclass
class ArchiveDb:
    """A throwaway ViciDial database with vicidial_list and vicidial_list_archive in one engine."""

    config: DatabaseConfig
    engine: str

    def connect(self) -> pymysql.Connection:
        conn = mariadb.connect(self.config, self.config.database)
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode='NO_ENGINE_SUBSTITUTION', SESSION time_zone='+00:00'")
        return conn

    def execute(self, statement: str, args: Any = None) -> list[tuple]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def reset(self) -> None:
        """Empty tables, the archive made anew the ViciDial way (a test may have altered it)."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS vicidial_list_archive")
            cur.execute("TRUNCATE vicidial_list")
            cur.execute("CREATE TABLE vicidial_list_archive LIKE vicidial_list")
            cur.execute("ALTER TABLE vicidial_list_archive MODIFY lead_id INT(9) UNSIGNED NOT NULL")
            cur.execute("DELETE FROM vicidial_call_time_holidays")

    def add_leads(self, count: int) -> list[int]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT COALESCE(MAX(lead_id), 0) FROM vicidial_list")
            row = cur.fetchone()
            assert row is not None  # an aggregate always gives one row
            (before,) = row
            cur.execute(mariadb.leads_sql(count, list_id=998, source_id="test"))
            cur.execute("SELECT lead_id FROM vicidial_list WHERE lead_id > %s ORDER BY lead_id", (before,))
            return [row[0] for row in cur.fetchall()]

    def add_lead(self, **values: Any) -> int:
        values = {"phone_number": "0821234567", "list_id": 998, **values}
        names = ", ".join(f"`{name}`" for name in values)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO vicidial_list ({names}) VALUES ({', '.join(['%s'] * len(values))})",
                        list(values.values()))
            return cur.lastrowid

    def rows(self, table: str, lead_ids: list[int] | None = None) -> dict[int, tuple]:
        """Rows by lead_id, every column as its exact bytes (HEX), so 'a' and 'a ' differ."""
        columns = [r[0] for r in self.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
            " AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (table,))]
        hexed = ", ".join(f"HEX(CAST(`{c}` AS BINARY))" for c in columns)
        where = f" WHERE lead_id IN ({', '.join(map(str, lead_ids))})" if lead_ids else ""
        return {int(bytes.fromhex(r[0]).decode()): r for r in self.execute(f"SELECT {hexed} FROM {table}{where}")}

    def live(self, lead_ids: list[int] | None = None) -> dict[int, tuple]:
        return self.rows("vicidial_list", lead_ids)

    def archive(self, lead_ids: list[int] | None = None) -> dict[int, tuple]:
        return self.rows("vicidial_list_archive", lead_ids)

    def snapshot(self) -> tuple[dict[int, tuple], dict[int, tuple]]:
        return self.live(), self.archive()


def _module_db_name(request: pytest.FixtureRequest, engine: str) -> str:
    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    return f"test_{module}_{engine.lower()}_{os.getpid()}"[:64]


@pytest.fixture(scope="module", params=["MyISAM", "InnoDB"])
def archive_db(request: pytest.FixtureRequest, db_config: DatabaseConfig) -> Iterator[ArchiveDb]:
    """A ViciDial database for this test module, in each engine in turn."""
    engine = request.param
    name = _module_db_name(request, engine)
    with mariadb.connect(db_config) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    mariadb.ensure_schema(db_config, database=name, demo_leads=False)
    db = ArchiveDb(dataclasses.replace(db_config, database=name), engine)
    if engine != "MyISAM":
        db.execute(f"ALTER TABLE vicidial_list ENGINE={engine}")
    db.reset()  # the archive is made LIKE vicidial_list, so in the same engine
    yield db
    with mariadb.connect(db_config) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def fresh_db(archive_db: ArchiveDb) -> ArchiveDb:
    """The module's database, emptied for this test."""
    archive_db.reset()
    return archive_db


@pytest.fixture
def archive_app(make_settings: Callable, fresh_db: ArchiveDb) -> Callable:
    """The real app on the test database; OFFICE_HOURS none and the test key unless given."""

    def make(**env: str) -> Any:
        settings = make_settings({"ARCHIVE_API_KEYS": KEY_ENTRY, "OFFICE_HOURS": "none",
                                  "OFFICE_HOURS_TZ": "UTC", **env}, database=fresh_db.config)
        return create_app(settings)

    return make


@pytest.fixture
async def client(aiohttp_client: Callable, archive_app: Callable) -> Any:
    return await aiohttp_client(archive_app())
