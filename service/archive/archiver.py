"""Moving one request's leads on one connection, either way: check, insert, update, safe delete.

The `Direction` says which table the leads leave; the steps, the checks and the retries are the same.

InnoDB tables: one request is one READ COMMITTED transaction that first locks the requested rows of
vicidial_list, then of the archive (in primary-key order, whichever way the leads move), so the dialer
cannot change a lead between its copy and its delete, and two requests for the same leads, an archive and
a dearchive included, take turns. READ COMMITTED takes no gap locks, which spares concurrent requests
the insert-intention deadlocks of REPEATABLE READ. Deadlocks and lock waits roll the whole transaction
back and it is run again.

MyISAM tables: each statement commits on its own, and each is safe on its own (see `sql`): the delete
compares every column at the instant it deletes, so a lead changed in between simply stays. Running the
steps again is harmless, which is also what makes the retry safe on either engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any

import aiomysql
import pymysql

from .. import db
from . import schema, sql
from .direction import TO_ARCHIVE, Direction
from .errors import DatabaseBusy, LeadsNotFound, SchemaMismatch
from .request import ArchiveRequest

RETRYABLE = {
    1213: "deadlock",
    1205: "lock wait timeout",
    1020: "record changed since last read",  # MariaDB's innodb_snapshot_isolation
}
ATTEMPTS = 4
SUCCESS_MESSAGE = "lead_ids batch was successfully processed"


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveResult:
    select_count: int
    insert_count: int
    update_count: int
    delete_count: int
    not_deleted_lead_ids: tuple[int, ...] = ()
    attempts: int = 1
    direction: Direction = TO_ARCHIVE
    held_seconds: float = 0.0
    """Time spent in the statements that touch the two tables (what MyISAM holds its table locks for), without
    reading the columns from information_schema: what a bulk run paces itself by."""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message": SUCCESS_MESSAGE,
            "select_count": self.select_count,
            "insert_count": self.insert_count,
        }
        if self.direction.updates:
            body["update_count"] = self.update_count
        body["delete_count"] = self.delete_count
        if self.not_deleted_lead_ids:
            body["not_deleted_lead_ids"] = list(self.not_deleted_lead_ids)
        return body


@dataclasses.dataclass(slots=True)
class _Progress:
    """What the statements of a request have done so far.

    A failed InnoDB attempt is rolled back, so the next one starts from nothing. A failed MyISAM attempt
    keeps what its finished statements did (each commits on its own): the next attempt adds to it, and
    ids the earlier attempt found (and may have deleted) still count as found.
    """

    found: set[int] = dataclasses.field(default_factory=set)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    not_deleted: tuple[int, ...] = ()
    held: float = 0.0


async def move_leads(
    pool: aiomysql.Pool, request: ArchiveRequest, direction: Direction = TO_ARCHIVE, *, attempts: int = ATTEMPTS,
) -> ArchiveResult:
    """Run the request's steps `direction`'s way, retrying deadlocks and lock waits; refusals change nothing."""
    async with db.connection(pool) as conn:
        try:
            return await _with_retries(conn, request, direction, attempts)
        except (LeadsNotFound, SchemaMismatch) as exc:
            # A refusal is an answer, not a failure: its attempt rolled back and read every result, so the
            # connection is clean and goes back to the pool (an exception passing through is closed with it).
            refusal = exc
    raise refusal


async def _with_retries(
    conn: aiomysql.Connection, request: ArchiveRequest, direction: Direction, attempts: int,
) -> ArchiveResult:
    kept = _Progress()  # survives attempts only where statements commit one by one
    for attempt in range(1, attempts + 1):
        try:
            tables = await schema.read_tables(conn)
            transactional = _transactional(tables)
            progress = _Progress() if transactional else kept
            await _run_once(conn, request, direction, tables, transactional, progress)
            return ArchiveResult(len(progress.found), progress.inserted, progress.updated, progress.deleted,
                                 progress.not_deleted, attempt, direction, progress.held)
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else None
            if code not in RETRYABLE:
                raise
            # After a lock wait timeout InnoDB has rolled back only the statement: end the rest too.
            await conn.rollback()
            if attempt == attempts:
                raise DatabaseBusy(
                    f"the database stayed busy ({RETRYABLE[code]}) through {attempts} attempts; no lead was"
                    " deleted without a matching archive copy, and the request can be sent again"
                ) from exc
            await asyncio.sleep(random.uniform(0.02, 0.1) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _transactional(tables: dict[str, schema.Table]) -> bool:
    return len(tables) == 2 and all(t.transactional for t in tables.values())


async def _run_once(
    conn: aiomysql.Connection, request: ArchiveRequest, direction: Direction, tables: dict[str, schema.Table],
    transactional: bool, progress: _Progress,
) -> None:
    if direction.source not in tables:
        schema.matching_columns(tables)  # raises, naming the missing table
    # Ids outside lead_id's range are no lead, and never reach SQL.
    ids = [i for i in request.lead_ids if 0 <= i <= sql.MAX_LEAD_ID]
    started = time.perf_counter()
    async with conn.cursor() as cur:
        if transactional:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            await cur.execute("START TRANSACTION")
        try:
            if ids:
                found = 0
                # InnoDB: lock the rows in both tables, in the same order whichever way the leads move.
                for table in sql.LOCK_ORDER if transactional else (direction.source,):
                    if table in tables:
                        await cur.execute(sql.count_existing(table, for_update=transactional).sql(ids))
                        (count,) = await cur.fetchone()
                        found = count if table == direction.source else found
                # Only when some are missing is it worth sending the ids back to say which.
                existing = sql.existing(direction.source)
                progress.found |= set(ids) if found == len(ids) else await _ids(cur, existing.sql(ids))
            missing = [i for i in request.lead_ids if i not in progress.found]
            if missing:
                raise LeadsNotFound(missing)
            statements = sql.statements(schema.matching_columns(tables), direction)
            inserted = 0
            if request.insert_leads:
                inserted = await cur.execute(statements.insert.sql(ids))
                progress.inserted += inserted
            # When the insert has just copied every lead, no copy existed before it: nothing to update. (On MyISAM
            # a lead the dialer changes right after its copy then fails the delete's comparison and stays, for
            # the next request; one statement fewer holds vicidial_list.)
            if request.update_leads and statements.update is not None and inserted < len(ids):
                progress.updated += await cur.execute(statements.update.sql(ids))
            if request.delete_leads:
                progress.deleted += await cur.execute(statements.delete.sql(ids))
                if progress.deleted < len(ids):
                    remaining = await _ids(cur, sql.existing(direction.source).sql(ids))
                    progress.not_deleted = tuple(i for i in ids if i in remaining)
            if transactional:
                await cur.execute("COMMIT")
            progress.held += time.perf_counter() - started
        except (LeadsNotFound, SchemaMismatch):
            if transactional:
                await cur.execute("ROLLBACK")
            raise


async def _ids(cur: aiomysql.Cursor, statement: str) -> set[int]:
    await cur.execute(statement)
    return {row[0] for row in await cur.fetchall()}

