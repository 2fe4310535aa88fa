"""Archive and dearchive throughput, and a bulk run beside a dialer.

1. The archive API: 100,000 ViciDial-shaped leads in 500-lead requests through the real service (two requests
   in flight), beside the same three SQL statements run bare on one connection, and pt-archiver where it is
   installed; then the dearchive API bringing the same leads back, beside its two statements run bare. Each on
   the same server, in the same run, in MyISAM (ViciDial's default) and InnoDB.
2. A bulk run (`python -m service archive --list-id N`) of 100,000 MyISAM leads while a simulated dialer updates
   random leads at 200 statements/s: the run's leads/s and the dialer's statement latency (p50, p99, max),
   beside the dialer alone and beside `pt-archiver --limit 500 --commit-each` on the same data.

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
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiomysql

from devstack import mariadb
from service import db as service_db
from service.archive import schema, sql
from service.archive.direction import FROM_ARCHIVE, TO_ARCHIVE, Direction
from service.config import DatabaseConfig
from service.runtime import environment

LEADS = int(os.environ.get("BENCH_ARCHIVE_LEADS", "100000"))  # a multiple of SLICE; fewer for a quick look
BATCH = 500
IN_FLIGHT = 2
SLICE = 10_000
KEY = "bench-archive-key"
LIST_ID = 900
DIALER_RATE = 200  # statements/s
DIALER_CONNECTIONS = 8  # enough that a slow statement does not hold back the next ones
MAX_STALL_MS = 50




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


def _check_done(db: DatabaseConfig, count: int, direction: Direction = TO_ARCHIVE) -> None:
    with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT (SELECT COUNT(*) FROM {direction.source}), (SELECT COUNT(*) FROM {direction.destination})")
        row = cur.fetchone()
    assert row is not None  # two subqueries always give one row
    left, moved = row
    if left or moved != count:
        raise RuntimeError(f"not everything moved ({direction.name}): {left} leads left, {moved} of {count} moved")


def _batches(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]


async def _bare_slice(cur: aiomysql.Cursor, statements: sql.Statements, ids: list[int]) -> float:
    """The API's insert, update (archiving, when some copy existed before) and delete statements, one batch after
    another on one connection."""
    started = time.perf_counter()
    for batch in _batches(ids):
        inserted = await cur.execute(statements.insert.sql(batch))
        if statements.update is not None and inserted < len(batch):  # as the API: no copy existed, none to update
            await cur.execute(statements.update.sql(batch))
        await cur.execute(statements.delete.sql(batch))
    return time.perf_counter() - started


async def _api_slice(session: aiohttp.ClientSession, url: str, ids: list[int], direction: Direction) -> float:
    """POST /vicidial/leads/archive (or dearchive), IN_FLIGHT requests at a time."""
    queue: asyncio.Queue[list[int]] = asyncio.Queue()
    for batch in _batches(ids):
        queue.put_nowait(batch)
    headers = {"Authorization": f"Key={KEY}"}

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            body = {**dict.fromkeys(direction.flags, True), "lead_ids": batch}
            async with session.post(url, json=body, headers=headers) as resp:
                answer = await resp.json()
                if resp.status != 200 or answer["delete_count"] != len(batch):
                    raise RuntimeError(f"{direction.name} answered {resp.status}: {answer}")

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


async def bare_and_api(db: DatabaseConfig, engine: str, env: dict[str, str]) -> list[tuple[Run, Run]]:
    """Bare SQL and `python -m service serve` taking turns, slice by slice, LEADS leads each: archiving, then
    dearchiving the same leads."""
    ids = _reset(db, engine, 2 * LEADS)
    port = _free_port()
    database_url = f"mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.database}"
    service_env = {**env, "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_URL": database_url,
                   "OFFICE_HOURS": "none", "ARCHIVE_API_KEYS": f"bench:{hashlib.sha256(KEY.encode()).hexdigest()}"}
    # Popen only starts the service, which then runs beside the loop.
    proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], env=service_env,  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pool = await service_db.create_pool(db, minsize=1, maxsize=1)
    runs = []
    try:
        async with aiohttp.ClientSession() as session, pool.acquire() as conn, conn.cursor() as cur:
            await _wait_ready(session, f"http://127.0.0.1:{port}/readyz", proc)
            columns = schema.matching_columns(await schema.read_tables(conn))
            for direction in (TO_ARCHIVE, FROM_ARCHIVE):
                statements = sql.statements(columns, direction)
                url = f"http://127.0.0.1:{port}/vicidial/leads/{direction.name}"
                bare_seconds = api_seconds = 0.0
                for start in range(0, 2 * LEADS, 2 * SLICE):
                    bare_seconds += await _bare_slice(cur, statements, ids[start:start + SLICE])
                    api_seconds += await _api_slice(session, url, ids[start + SLICE:start + 2 * SLICE], direction)
                _check_done(db, 2 * LEADS, direction)
                runs.append((Run(f"{direction.name}: the same statements bare, 1 connection", bare_seconds, LEADS),
                             Run(f"{direction.name} API, {BATCH}-lead requests, {IN_FLIGHT} in flight",
                                 api_seconds, LEADS)))
    finally:
        proc.terminate()
        proc.wait(10)
        pool.close()
        await pool.wait_closed()
    return runs


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


@dataclasses.dataclass
class DialerRun:
    name: str
    seconds: float
    moved: int
    latencies: list[float]  # seconds, one per dialer statement

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def row(self) -> str:
        rate = f"{self.moved / self.seconds:>9,.0f}" if self.moved else f"{'-':>9}"
        return (f"{self.name:<58} {self.seconds:>8.1f} {rate} {self.percentile(0.5):>8.1f}"
                f" {self.percentile(0.99):>8.1f} {max(self.latencies) * 1000:>8.1f} {len(self.latencies):>8,}")


async def _dialer(db: DatabaseConfig, ids: list[int], stop: asyncio.Event) -> list[float]:
    """UPDATEs of random leads at DIALER_RATE a second, as ViciDial's dialer writes call results: each sent on
    time on one of DIALER_CONNECTIONS connections, its latency measured from sending to its answer."""
    conns = [await aiomysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, db=db.database,
                                    autocommit=True) for _ in range(DIALER_CONNECTIONS)]
    idle: asyncio.Queue[aiomysql.Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    latencies: list[float] = []
    rng = random.Random(200)
    tasks: set[asyncio.Task[None]] = set()

    async def update(lead: int) -> None:
        conn = await idle.get()
        try:
            async with conn.cursor() as cur:
                started = time.perf_counter()
                await cur.execute("UPDATE vicidial_list SET called_count = called_count + 1, status = 'NA'"
                                  " WHERE lead_id = %s", (lead,))
                latencies.append(time.perf_counter() - started)
        finally:
            idle.put_nowait(conn)

    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    try:
        while not stop.is_set():
            sent += 1
            delay = start + sent / DIALER_RATE - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(update(rng.choice(ids)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        for conn in conns:
            conn.close()
    return latencies


async def _beside_dialer(
    db: DatabaseConfig, ids: list[int], name: str, work: Callable[[], Awaitable[int]],
) -> DialerRun:
    stop = asyncio.Event()
    dialer = asyncio.create_task(_dialer(db, ids, stop))
    started = time.perf_counter()
    try:
        moved = await work()
    finally:
        seconds = time.perf_counter() - started
        stop.set()
        latencies = await dialer
    return DialerRun(name, seconds, moved, latencies)


def _archived(db: DatabaseConfig) -> int:
    with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM vicidial_list_archive")
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


async def bulk_beside_dialer(db: DatabaseConfig, env: dict[str, str]) -> list[DialerRun]:
    """The bulk CLI and pt-archiver each archiving LEADS MyISAM leads while the dialer writes; the dialer alone."""
    runs = []
    ids = _reset(db, "MyISAM", LEADS)
    runs.append(await _beside_dialer(db, ids, "dialer alone, 5 s", lambda: _idle(5.0)))
    database_url = f"mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.database}"

    async def cli() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service", "archive", "--list-id", str(LIST_ID), "--max-stall-ms",
            str(MAX_STALL_MS), env={**env, "DATABASE_URL": database_url}, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        out, _ = await proc.communicate()
        if proc.returncode not in (0, 1):  # 1: leads the dialer changed meanwhile stay, as they should
            raise RuntimeError(f"python -m service archive exited {proc.returncode}: {out.decode()}")
        print(f"         {out.decode().strip()}", flush=True)
        return await asyncio.to_thread(_archived, db)

    runs.append(await _beside_dialer(db, ids, f"python -m service archive --max-stall-ms {MAX_STALL_MS}", cli))
    tool = shutil.which("pt-archiver")
    if tool is not None:
        _reset(db, "MyISAM", LEADS)
        dsn = f"h={db.host},P={db.port},u={db.user},p={db.password},D={db.database},t=vicidial_list,A=utf8"

        async def pt() -> int:
            proc = await asyncio.create_subprocess_exec(
                tool, "--source", dsn, "--dest", "t=vicidial_list_archive", "--where", f"list_id = {LIST_ID}",
                "--limit", str(BATCH), "--commit-each", "--no-safe-auto-increment", "--no-check-charset",
                "--set-vars", "sql_mode=NO_ENGINE_SUBSTITUTION", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"pt-archiver exited {proc.returncode}: {err.decode(errors='replace')[:200]}")
            return await asyncio.to_thread(_archived, db)

        runs.append(await _beside_dialer(db, ids, f"pt-archiver --limit {BATCH} --commit-each", pt))
    return runs


async def _idle(seconds: float) -> int:
    await asyncio.sleep(seconds)
    return 0


async def main() -> dict[str, Any]:
    env = environment()
    runs_out: list[dict[str, Any]] = []
    dialer_out: list[dict[str, Any]] = []
    base = DatabaseConfig.from_url(env.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/asterisk"))
    name = f"bench_archive_{os.getpid()}"
    db = dataclasses.replace(base, database=name)
    mariadb.ensure_schema(base, database=name, demo_leads=False)
    try:
        print(f"{LEADS:,} ViciDial-shaped leads each, {BATCH} per request/chunk; bare SQL and the API take turns"
              f" every {SLICE:,} leads; throwaway database {name}", flush=True)
        print(f"{'engine':<8} {'how':<52} {'seconds':>8} {'leads/s':>9} {'of bare':>8}", flush=True)
        for engine in ("MyISAM", "InnoDB"):
            runs = await bare_and_api(db, engine, env)
            for bare, api in runs:
                _print(engine, bare, bare)
                _print(engine, api, bare)
                runs_out += [_figures(engine, bare, bare), _figures(engine, api, bare)]
            bare = runs[0][0]  # pt-archiver archives: beside the archive's bare rate
            try:
                pt = pt_archiver(db, engine)
            except subprocess.CalledProcessError as exc:
                print(f"{engine:<8} pt-archiver failed: {exc.stderr.decode(errors='replace').strip()[:200]}")
            else:
                if pt is not None:
                    _print(engine, pt, bare)
                    runs_out.append(_figures(engine, pt, bare))
        print(f"\nBulk archive of {LEADS:,} MyISAM leads while a dialer updates random leads at {DIALER_RATE}/s"
              f" (latency of the dialer's statements, ms; goal p99 <= 50 ms at >= 3,000 leads/s)", flush=True)
        print(f"{'how':<58} {'seconds':>8} {'leads/s':>9} {'p50':>8} {'p99':>8} {'max':>8} {'updates':>8}",
              flush=True)
        for dialer_run in await bulk_beside_dialer(db, env):
            print(dialer_run.row(), flush=True)
            dialer_out.append({"how": dialer_run.name, "seconds": round(dialer_run.seconds, 3),
                               "moved": dialer_run.moved, "updates": len(dialer_run.latencies),
                               "p50_ms": round(dialer_run.percentile(0.5), 2),
                               "p99_ms": round(dialer_run.percentile(0.99), 2),
                               "max_ms": round(max(dialer_run.latencies) * 1000, 2)})
    finally:
        with mariadb.connect(base) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    return {"leads": LEADS, "batch": BATCH, "runs": runs_out, "beside_dialer": dialer_out}


def _figures(engine: str, run: Run, bare: Run) -> dict[str, Any]:
    return {"engine": engine, "how": run.name, "seconds": round(run.seconds, 3), "leads_per_s": round(run.rate, 1),
            "of_bare": round(run.rate / bare.rate, 3)}


def _print(engine: str, run: Run, bare: Run) -> None:
    print(f"{engine:<8} {run.name:<52} {run.seconds:>8.2f} {run.rate:>9,.0f} {run.rate / bare.rate:>8.2f}",
          flush=True)
