"""Races: the dialer writing leads while they are archived, concurrent requests, retries, cancellation."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import aiomysql
import pymysql
import pytest

from service import db as service_db
from service.archive import archiver
from service.archive.request import ArchiveRequest

from .conftest import body, dearchive, dearchive_body, post

pytestmark = pytest.mark.stack


@pytest.fixture
def before_statement(monkeypatch):
    """Run a hook just before the archive sends a statement that starts with a given prefix."""

    def install(prefix: str, hook) -> None:
        original = aiomysql.Cursor.execute

        async def execute(self, query, args=None):
            if query.startswith(prefix):
                await hook()
            return await original(self, query, args)

        monkeypatch.setattr(aiomysql.Cursor, "execute", execute)

    return install


async def test_lead_changed_between_update_and_delete_is_not_deleted(client, fresh_db, before_statement) -> None:
    ids = fresh_db.add_leads(5)
    changed = ids[2]
    dialer_rows: list[int] = []

    def dialer() -> None:
        with fresh_db.connect() as conn, conn.cursor() as cur:
            dialer_rows.append(cur.execute(
                "UPDATE vicidial_list SET status = 'SALE', comments = 'changed by the dialer' WHERE lead_id = %s",
                (changed,)))

    thread = threading.Thread(target=dialer)

    async def change_the_lead() -> None:
        thread.start()
        # MyISAM: the dialer's update runs now, between our update and delete. InnoDB: our transaction holds the
        # lead's row lock, so the dialer waits until we commit.
        await asyncio.to_thread(thread.join, 0.5)

    before_statement("DELETE l FROM", change_the_lead)
    status, answer = await post(client, body(ids))
    await asyncio.to_thread(thread.join)
    assert status == 200
    live, archive = fresh_db.live(), fresh_db.archive()
    if fresh_db.engine == "MyISAM":
        assert (answer["delete_count"], answer["not_deleted_lead_ids"]) == (4, [changed])
        assert set(live) == {changed} and dialer_rows == [1]
        assert live[changed] != archive[changed]  # the archive has the old data; the latest stays live
    else:
        assert answer["delete_count"] == 5 and "not_deleted_lead_ids" not in answer
        assert live == {} and dialer_rows == [0]  # the dialer found the lead already archived
    assert set(archive) == set(ids)


async def test_two_concurrent_requests_for_the_same_leads(client, fresh_db) -> None:
    ids = fresh_db.add_leads(300)
    original = fresh_db.live(ids)
    results = await asyncio.gather(post(client, body(ids)), post(client, body(ids)), post(client, body(ids[100:200])))
    for status, answer in results:
        assert status == 200 or (status == 400 and answer["message"] == "lead_ids does not exist"), answer
    done = [answer for status, answer in results if status == 200]
    assert sum(a["insert_count"] for a in done) == 300
    assert sum(a["delete_count"] for a in done) == 300
    assert fresh_db.live(ids) == {}
    assert fresh_db.archive(ids) == original


class Dialer:
    """Writes to leads the way ViciDial's dialer does, until `stop` is set, and remembers what it last wrote to
    each lead its write found.

    Each `run` task must own its leads: with two writers on one lead, the order their replies reach this event
    loop need not be the order the server committed them, and `latest` could not say which came last."""

    def __init__(self, db: Any, seed: int) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.stop = asyncio.Event()
        self.latest: dict[int, str] = {}
        self.writes = 0

    async def run(self, leads: list[int]) -> None:
        config = self.db.config
        conn = await aiomysql.connect(host=config.host, port=config.port, user=config.user,
                                      password=config.password, db=config.database, autocommit=True,
                                      charset="utf8mb4")
        try:
            async with conn.cursor() as cur:
                while not self.stop.is_set():
                    lead = self.rng.choice(leads)
                    value = f"dialer write {self.writes}"
                    self.writes += 1
                    if await cur.execute("UPDATE vicidial_list SET comments = %s, called_count = called_count + 1"
                                         " WHERE lead_id = %s", (value, lead)):
                        self.latest[lead] = value
                    await asyncio.sleep(0)
        finally:
            conn.close()


async def test_dialer_updating_leads_while_archiving_loses_nothing(client, fresh_db) -> None:
    ids = fresh_db.add_leads(1000)
    original = {row[0]: row[1] for row in fresh_db.execute("SELECT lead_id, comments FROM vicidial_list")}
    dialer = Dialer(fresh_db, seed=7)

    async def archive_all() -> None:
        batches = [ids[i:i + 100] for i in range(0, len(ids), 100)]
        for pair in range(0, len(batches), 2):  # two requests in flight
            results = await asyncio.gather(*(post(client, body(b)) for b in batches[pair:pair + 2]))
            assert all(status == 200 for status, _ in results), results

    dialers = [asyncio.create_task(dialer.run(ids[k::2])) for k in range(2)]
    try:
        await archive_all()
    finally:
        dialer.stop.set()
        await asyncio.gather(*dialers)
    assert dialer.writes > 0
    live = {row[0]: row[1] for row in fresh_db.execute("SELECT lead_id, comments FROM vicidial_list")}
    archived = {row[0]: row[1] for row in fresh_db.execute("SELECT lead_id, comments FROM vicidial_list_archive")}
    for lead in ids:
        if lead in live:
            assert live[lead] == dialer.latest.get(lead, original[lead])
        else:
            assert archived[lead] == dialer.latest.get(lead, original[lead]), lead
    # Leads left behind were changed under the archive; a second pass takes them.
    left = sorted(live)
    if left:
        status, answer = await post(client, body(left))
        assert (status, answer["delete_count"]) == (200, len(left))


async def test_archive_dearchive_and_dialer_on_the_same_leads_lose_nothing(client, fresh_db) -> None:
    """Leads go back and forth between the tables, in overlapping requests both ways, while dialers write to
    them: at the end every lead is somewhere, and where vicidial_list has it, it has the dialer's last write."""
    ids = fresh_db.add_leads(400)
    original = {row[0]: row[1] for row in fresh_db.execute("SELECT lead_id, comments FROM vicidial_list")}
    dialer = Dialer(fresh_db, seed=11)

    answers: list[tuple[str, int, dict]] = []

    async def mover(direction: str, rounds: int) -> None:
        table = "vicidial_list" if direction == "archive" else "vicidial_list_archive"
        for _ in range(rounds):
            # Leads the table has now (they may have moved by the time the request runs: then it is a 400).
            rows = await asyncio.to_thread(fresh_db.execute, f"SELECT lead_id FROM {table} ORDER BY RAND() LIMIT 30")
            batch = [row[0] for row in rows] or ids[:1]
            if direction == "archive":
                status, answer = await post(client, body(batch))
            else:
                status, answer = await dearchive(client, dearchive_body(batch))
            answers.append((direction, status, answer))

    dialers = [asyncio.create_task(dialer.run(ids[k::2])) for k in range(2)]
    try:
        await asyncio.gather(mover("archive", 25), mover("archive", 25), mover("dearchive", 25),
                             mover("dearchive", 25))
    finally:
        dialer.stop.set()
        await asyncio.gather(*dialers)
    assert dialer.writes > 0
    for direction, status, answer in answers:
        assert status == 200 or (status, answer["message"]) == (400, "lead_ids does not exist"), (direction, answer)
    moved = {d: sum(a.get("delete_count", 0) for d2, s, a in answers if d2 == d and s == 200)
             for d in ("archive", "dearchive")}
    assert moved["archive"] > 0 and moved["dearchive"] > 0  # leads did go both ways
    live = {row[0]: row[1] for row in fresh_db.execute("SELECT lead_id, comments FROM vicidial_list")}
    archived = {row[0]: row[1] for row in fresh_db.execute("SELECT lead_id, comments FROM vicidial_list_archive")}
    for lead in ids:
        expected = dialer.latest.get(lead, original[lead])
        assert lead in live or lead in archived, f"lead {lead} was lost"
        # vicidial_list is only ever written by the dialer, or given a lead it lacks: it never goes back in time.
        assert (live[lead] if lead in live else archived[lead]) == expected, lead


def _deadlock_once():
    raised: list[int] = []

    async def hook() -> None:
        if not raised:
            raised.append(1)
            raise pymysql.err.OperationalError(
                1213, "Deadlock found when trying to get lock; try restarting transaction")

    return hook, raised


async def test_deadlock_is_retried(client, fresh_db, before_statement) -> None:
    ids = fresh_db.add_leads(10)
    original = fresh_db.live(ids)
    hook, raised = _deadlock_once()
    before_statement("DELETE l FROM", hook)
    status, answer = await post(client, body(ids))
    assert raised and status == 200
    # InnoDB rolled the first attempt back and did it all again; MyISAM kept the first attempt's insert.
    assert (answer["select_count"], answer["insert_count"], answer["update_count"], answer["delete_count"]) == \
        (10, 10, 0, 10)
    assert fresh_db.live(ids) == {} and fresh_db.archive(ids) == original
    text = await (await client.get("/metrics")).text()
    assert 'archive_retries_total{direction="archive"} 1.0' in text


async def test_lasting_lock_waits_are_reported_not_raw(client, fresh_db, before_statement) -> None:
    ids = fresh_db.add_leads(3)

    async def always() -> None:
        raise pymysql.err.OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction")

    before_statement("DELETE l FROM", always)
    status, answer = await post(client, body(ids))
    assert status == 500
    assert answer["message"].startswith("the database stayed busy (lock wait timeout) through 4 attempts")
    assert (answer["lead_errors"], answer["lead_ids"]) == (0, [])
    assert set(fresh_db.live()) == set(ids)  # no delete ran
    if fresh_db.engine == "InnoDB":
        assert fresh_db.archive() == {}  # and the inserts were rolled back


async def _wait_until_blocked(fresh_db, statement_prefix: str) -> None:
    for _ in range(200):
        rows = fresh_db.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s AND INFO LIKE %s",
            (fresh_db.config.database, statement_prefix + "%"))
        if rows[0][0]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the archive never reached {statement_prefix!r}")


async def test_cancelled_request_leaves_no_connection_mid_transaction(fresh_db) -> None:
    ids = fresh_db.add_leads(20)
    original = fresh_db.live(ids)
    pool = await service_db.create_pool(fresh_db.config, minsize=0, maxsize=2)
    blocker = fresh_db.connect()
    try:
        with blocker.cursor() as cur:
            if fresh_db.engine == "InnoDB":
                cur.execute("START TRANSACTION")
                cur.execute(f"SELECT * FROM vicidial_list WHERE lead_id = {ids[5]} FOR UPDATE")
                prefix = "SELECT COUNT(*) FROM `vicidial_list`"
            else:
                cur.execute("LOCK TABLES vicidial_list_archive WRITE")
                prefix = "INSERT INTO `vicidial_list_archive`"
        task = asyncio.create_task(archiver.move_leads(pool, ArchiveRequest(True, True, True, tuple(ids))))
        await _wait_until_blocked(fresh_db, prefix)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.freesize == pool.size  # the cancelled connection was closed, not pooled mid-transaction
        with blocker.cursor() as cur:
            cur.execute("ROLLBACK" if fresh_db.engine == "InnoDB" else "UNLOCK TABLES")
        if fresh_db.engine == "InnoDB":
            # The server rolls back what the closed connection had open: no transaction of ours is left.
            for _ in range(100):
                if not fresh_db.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX")[0][0]:
                    break
                await asyncio.sleep(0.05)
            assert fresh_db.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX")[0][0] == 0
            assert fresh_db.archive() == {}
        assert fresh_db.live(ids) == original  # nothing was deleted
        # The pool still works and the leads can be archived.
        result = await archiver.move_leads(pool, ArchiveRequest(True, True, True, tuple(ids)))
        assert result.delete_count == 20 and fresh_db.archive(ids) == original
    finally:
        blocker.close()
        pool.close()
        await pool.wait_closed()
