"""Bulk runs: every selected lead moved, batch by batch, through the same core as the API.

Each batch is one `archiver.move_leads` call (insert, update, safe delete, retries), so a run stopped at any
instant (Ctrl-C, a crash, `kill -9`) has half-moved nothing: a lead is in vicidial_list, in the archive, or
in both with an equal copy. Running the same command again continues: the selection finds what is left, a
lead already copied is not copied again, and its delete happens now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO

import aiomysql

from .. import db
from . import archiver, selection as sel
from .direction import Direction
from .errors import LeadsNotFound
from .pacing import Pacer
from .progress import Progress
from .request import ArchiveRequest
from .sql import existing


@dataclasses.dataclass(slots=True)
class Summary:
    direction: Direction
    selected: int = 0  # leads the selection held when the run started
    moved: int = 0  # leads deleted from the source: now only in the destination
    left: list[int] = dataclasses.field(default_factory=list)  # changed meanwhile: kept where they were
    already_there: int = 0  # ids of a file already back in vicidial_list (a rerun, or never archived)
    not_found: list[int] = dataclasses.field(default_factory=list)  # ids of a file in neither table
    batches: int = 0
    largest_batch: int = 0
    slowest_batch: float = 0.0  # the longest one batch held the tables
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def handled(self) -> int:
        """Leads dealt with so far, whatever became of them (the progress bar's count)."""
        return self.moved + len(self.left) + len(self.not_found)

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.left or self.not_found else 0

    def line(self) -> str:
        d = self.direction
        rate = self.moved / self.seconds if self.seconds > 0 else 0.0
        text = (f"{d.name}: {'interrupted, ' if self.interrupted else ''}{self.moved:,} of {self.selected:,} leads"
                f" moved from {d.source} to {d.destination} in {self.seconds:.1f} s ({rate:,.0f}/s),"
                f" {self.batches} batches of up to {self.largest_batch} leads,"
                f" holding the tables {self.slowest_batch * 1000:.0f} ms at most")
        if self.already_there:
            text += f"; {self.already_there:,} already in {d.destination}"
        if self.left:
            text += (f"; {len(self.left):,} left in {d.source} because their copy in {d.destination} differs"
                     f" (changed meanwhile; run again to take them), e.g. lead_id {self.left[0]}")
        if self.not_found:
            text += f"; {len(self.not_found):,} in neither table, e.g. lead_id {self.not_found[0]}"
        if self.interrupted:
            text += "; nothing is half-moved: run the same command again to continue"
        return text


async def count(pool: aiomysql.Pool, direction: Direction, selection: sel.Selection) -> int:
    """How many leads the run would move: the dry run's answer, and the progress bar's total."""
    if selection.lead_ids is not None:
        return len(selection.lead_ids)
    statement, args = sel.count_sql(direction.source, selection)
    async with db.connection(pool) as conn, conn.cursor() as cur:
        await cur.execute(statement, args)
        (total,) = await cur.fetchone()
    return int(total)


async def run(
    pool: aiomysql.Pool, direction: Direction, selection: sel.Selection, pacer: Pacer, out: TextIO, *,
    tty: bool, clock: Callable[[], float] = time.monotonic,
) -> Summary:
    """Move the selection's leads; on cancellation (Ctrl-C) stop after the statement in flight and say so."""
    summary = Summary(direction)
    started = clock()
    progress: Progress | None = None
    try:
        summary.selected = await count(pool, direction, selection)
        progress = Progress(out, summary.selected, tty)
        async for ids, selecting in _batches(pool, direction, selection, pacer, summary):
            moved, left, held = await _move(pool, direction, ids)
            took = selecting + held  # how long this batch's statements held the tables
            pacer.record(len(ids), took)
            summary.batches += 1
            summary.largest_batch = max(summary.largest_batch, len(ids))
            summary.slowest_batch = max(summary.slowest_batch, took)
            summary.moved += moved
            summary.left += left
            progress.show(summary.handled, clock() - started)
    except asyncio.CancelledError:
        summary.interrupted = True
    finally:
        summary.seconds = clock() - started
        if progress is not None:
            progress.finish(summary.handled, summary.seconds)
    if selection.lead_ids is not None and not summary.interrupted:
        await _classify_absent(pool, summary)
    return summary


async def _batches(pool: aiomysql.Pool, direction: Direction, selection: sel.Selection, pacer: Pacer,
                   summary: Summary) -> AsyncIterator[tuple[list[int], float]]:
    """Each batch's ids, and the time the statement that chose them took."""
    if selection.lead_ids is not None:
        ids, start = list(selection.lead_ids), 0
        while start < len(ids):
            chunk = ids[start:start + pacer.size]
            start += len(chunk)
            started = time.perf_counter()
            present = await _present(pool, direction.source, chunk)
            selecting = time.perf_counter() - started
            summary.not_found += [i for i in chunk if i not in present]  # sorted out at the end
            if present:
                yield sorted(present), selecting
        return
    after = -1
    while True:
        statement, args = sel.batch_sql(direction.source, selection, after, pacer.size)
        async with db.connection(pool) as conn, conn.cursor() as cur:
            started = time.perf_counter()
            await cur.execute(statement, args)
            ids = [row[0] for row in await cur.fetchall()]
            selecting = time.perf_counter() - started
        if not ids:
            return
        after = ids[-1]
        yield ids, selecting


async def _move(pool: aiomysql.Pool, direction: Direction, ids: list[int]) -> tuple[int, list[int], float]:
    """One batch through the core: how many moved, which stayed because they differ, how long it held the tables."""
    while ids:
        try:
            result = await archiver.move_leads(pool, ArchiveRequest(True, True, True, tuple(ids)), direction)
        except LeadsNotFound as exc:
            # Gone since they were selected (another run, the API): the rest of the batch still moves.
            gone = set(exc.lead_ids)
            ids = [i for i in ids if i not in gone]
            continue
        return result.delete_count, list(result.not_deleted_lead_ids), result.held_seconds
    return 0, [], 0.0


async def _present(pool: aiomysql.Pool, table: str, ids: list[int]) -> set[int]:
    async with db.connection(pool) as conn, conn.cursor() as cur:
        await cur.execute(existing(table).sql(ids))
        return {row[0] for row in await cur.fetchall()}


async def _classify_absent(pool: aiomysql.Pool, summary: Summary) -> None:
    """Ids of the file not in the source: already in the destination (a rerun), or in neither table."""
    absent = summary.not_found
    if not absent:
        return
    there: set[int] = set()
    for start in range(0, len(absent), 1000):
        there |= await _present(pool, summary.direction.destination, absent[start:start + 1000])
    summary.already_there = len(there)
    summary.not_found = [i for i in absent if i not in there]

