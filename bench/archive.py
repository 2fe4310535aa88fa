"""Archive API throughput: 100,000 ViciDial-shaped leads in 500-lead requests through the real service
(two requests in flight), beside the same three SQL statements run bare on one connection, and pt-archiver
where it is installed; each on the same server, in the same run, in MyISAM (ViciDial's default) and InnoDB.

`python -m bench archive`, or `make bench`. Uses a throwaway database it drops at the end.

Bare SQL and the API take turns slice by slice (SLICE leads each) over the same tables, each with its own
100,000 leads, and each side's time is the sum of its slices: on a shared machine whose neighbours come and
go, both then see the same conditions, which whole runs one after the other do not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time

import aiohttp
import aiomysql

from devstack import mariadb
from service import db as service_db
from service.archive import schema, sql
from service.config import DatabaseConfig
from service.runtime import environment

LEADS = 100_000
BATCH = 500
IN_FLIGHT = 2
SLICE = 10_000
KEY = "bench-archive-key"




@dataclasses.dataclass
class Run:
    name: str
    seconds: float
    archived: int

    @property
    def rate(self) -> float:
        return self.archived / self.seconds


def _reset(db: DatabaseConfig, engine: str, count: int) -> list[int]:
    """vicidial_list with `count` fresh leads and an empty archive made the ViciDial way, in `engine`."""
    with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode='NO_ENGINE_SUBSTITUTION'")
        cur.execute("DROP TABLE IF EXISTS vicidial_list_archive")
        cur.execute("TRUNCATE vicidial_list")
        cur.execute(f"ALTER TABLE vicidial_list ENGINE={engine}")
        cur.execute(mariadb.leads_sql(count, list_id=900, source_id="bench"))
        cur.execute("CREATE TABLE vicidial_list_archive LIKE vicidial_list")
        cur.execute("ALTER TABLE vicidial_list_archive MODIFY lead_id INT(9) UNSIGNED NOT NULL")
        cur.execute("SELECT lead_id FROM vicidial_list ORDER BY lead_id")
        ids = [row[0] for row in cur.fetchall()]
        cur.execute("ANALYZE TABLE vicidial_list, vicidial_list_archive")
        cur.fetchall()
    return ids


def _check_done(db: DatabaseConfig, count: int) -> None:
    with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT COUNT(*) FROM vicidial_list), (SELECT COUNT(*) FROM vicidial_list_archive)")
        row = cur.fetchone()
    assert row is not None  # two subqueries always give one row
    live, archived = row
    if live or archived != count:
        raise RuntimeError(f"not everything was archived: {live} leads left, {archived} of {count} archived")


def _batches(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]


async def _bare_slice(cur: aiomysql.Cursor, statements: sql.Statements, ids: list[int]) -> float:
    """The same insert, update and delete statements, one batch after another on one connection."""
    started = time.perf_counter()
    for batch in _batches(ids):
        await cur.execute(statements.insert.sql(batch))
        await cur.execute(statements.update.sql(batch))
        await cur.execute(statements.delete.sql(batch))
    return time.perf_counter() - started


async def _api_slice(session: aiohttp.ClientSession, url: str, ids: list[int]) -> float:
    """POST /vicidial/leads/archive, IN_FLIGHT requests at a time."""
    queue: asyncio.Queue[list[int]] = asyncio.Queue()
    for batch in _batches(ids):
        queue.put_nowait(batch)
    headers = {"Authorization": f"Key={KEY}"}

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            body = {"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": batch}
            async with session.post(url, json=body, headers=headers) as resp:
                answer = await resp.json()
                if resp.status != 200 or answer["delete_count"] != len(batch):
                    raise RuntimeError(f"archive answered {resp.status}: {answer}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_ready(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}")
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the service did not become ready")


async def bare_and_api(db: DatabaseConfig, engine: str, env: dict[str, str]) -> tuple[Run, Run]:
    """Bare SQL and `python -m service serve` taking turns, slice by slice, LEADS leads each."""
    ids = _reset(db, engine, 2 * LEADS)
    port = _free_port()
    database_url = f"mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.database}"
    service_env = {**env, "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_URL": database_url,
                   "OFFICE_HOURS": "none", "ARCHIVE_API_KEYS": f"bench:{hashlib.sha256(KEY.encode()).hexdigest()}"}
    # Popen only starts the service, which then runs beside the loop.
    proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], env=service_env,  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pool = await service_db.create_pool(db, minsize=1, maxsize=1)
    bare_seconds = api_seconds = 0.0
    try:
        async with aiohttp.ClientSession() as session, pool.acquire() as conn, conn.cursor() as cur:
            await _wait_ready(session, f"http://127.0.0.1:{port}/readyz", proc)
            statements = sql.statements(schema.matching_columns(await schema.read_tables(conn)))
            url = f"http://127.0.0.1:{port}/vicidial/leads/archive"
            for start in range(0, 2 * LEADS, 2 * SLICE):
                bare_seconds += await _bare_slice(cur, statements, ids[start:start + SLICE])
                api_seconds += await _api_slice(session, url, ids[start + SLICE:start + 2 * SLICE])
    finally:
        proc.terminate()
        proc.wait(10)
        pool.close()
        await pool.wait_closed()
    _check_done(db, 2 * LEADS)
    return (Run("bare SQL, 3 statements, 1 connection", bare_seconds, LEADS),
            Run(f"archive API, {BATCH}-lead requests, {IN_FLIGHT} in flight", api_seconds, LEADS))


def pt_archiver(db: DatabaseConfig, engine: str) -> Run | None:
    """pt-archiver moving LEADS rows in 500-row chunks (it neither updates nor compares before deleting)."""
    tool = shutil.which("pt-archiver")
    if tool is None:
        return None
    _reset(db, engine, LEADS)
    dsn = f"h={db.host},P={db.port},u={db.user},p={db.password},D={db.database},t=vicidial_list,A=utf8"
    started = time.perf_counter()
    subprocess.run(
        [tool, "--source", dsn, "--dest", "t=vicidial_list_archive", "--where", "1=1", "--limit", str(BATCH),
         "--commit-each", "--bulk-delete", "--no-safe-auto-increment", "--no-check-charset",
         "--set-vars", "sql_mode=NO_ENGINE_SUBSTITUTION"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - started
    _check_done(db, LEADS)
    return Run(f"pt-archiver --limit {BATCH} --commit-each --bulk-delete", elapsed, LEADS)


async def main() -> None:
    env = environment()
    base = DatabaseConfig.from_url(env.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/asterisk"))
    name = f"bench_archive_{os.getpid()}"
    db = dataclasses.replace(base, database=name)
    mariadb.ensure_schema(base, database=name, demo_leads=False)
    try:
        print(f"{LEADS:,} ViciDial-shaped leads each, {BATCH} per request/chunk; bare SQL and the API take turns"
              f" every {SLICE:,} leads; throwaway database {name}", flush=True)
        print(f"{'engine':<8} {'how':<52} {'seconds':>8} {'leads/s':>9} {'of bare':>8}", flush=True)
        for engine in ("MyISAM", "InnoDB"):
            bare, api = await bare_and_api(db, engine, env)
            _print(engine, bare, bare)
            _print(engine, api, bare)
            try:
                pt = pt_archiver(db, engine)
            except subprocess.CalledProcessError as exc:
                print(f"{engine:<8} pt-archiver failed: {exc.stderr.decode(errors='replace').strip()[:200]}")
            else:
                if pt is not None:
                    _print(engine, pt, bare)
    finally:
        with mariadb.connect(base) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _print(engine: str, run: Run, bare: Run) -> None:
    print(f"{engine:<8} {run.name:<52} {run.seconds:>8.2f} {run.rate:>9,.0f} {run.rate / bare.rate:>8.2f}",
          flush=True)
