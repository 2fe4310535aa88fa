"""Bulk runs from the command line (`python -m service archive|dearchive`) on a few thousand leads: killed in the
middle and run again, Ctrl-C, a file of ids, the selection by status and age, a dry run."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service.archive import archiver, bulk, pacing
from service.archive.direction import TO_ARCHIVE
from service.archive.selection import Selection

from .conftest import ArchiveDb

pytestmark = pytest.mark.stack

LIST = 998  # the list conftest's add_leads puts leads in


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "service", *args]


def environment(db: ArchiveDb) -> dict[str, str]:
    c = db.config
    return {**os.environ, "DATABASE_URL": f"mysql://{c.user}:{c.password}@{c.host}:{c.port}/{c.database}",
            "AUTH_KEY_SECRET": "bulk-test-secret-0123456789", "OFFICE_HOURS": "none"}


def run(db: ArchiveDb, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # From an empty directory: no .env but the environment given here.
    return subprocess.run(command(*args), cwd=tmp_path, env=environment(db), capture_output=True,
                          text=True, timeout=300)


def count(db: ArchiveDb, table: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table}")[0][0]


def assert_nothing_half_moved(db: ArchiveDb, original: dict[int, tuple]) -> None:
    """Every lead is somewhere, unchanged; one in both tables has an equal copy (its delete is still to come)."""
    live, archive = db.snapshot()
    assert set(live) | set(archive) == set(original)
    for lead, row in original.items():
        assert live.get(lead, row) == row and archive.get(lead, row) == row, lead


async def start(db: ArchiveDb, tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*command(*args), cwd=tmp_path, env=environment(db),
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def wait_for_rows(db: ArchiveDb, table: str, at_least: int, process: asyncio.subprocess.Process) -> None:
    """Until `table` holds `at_least` rows (or the run has ended)."""
    for _ in range(3000):
        if await asyncio.to_thread(count, db, table) >= at_least or process.returncode is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{table} never held {at_least} rows")


async def test_killed_in_the_middle_then_run_again(fresh_db, tmp_path) -> None:
    ids = fresh_db.add_leads(4000)
    original = fresh_db.live(ids)
    process = await start(fresh_db, tmp_path, "archive", "--list-id", str(LIST), "--max-stall-ms", "5")
    try:
        await wait_for_rows(fresh_db, "vicidial_list_archive", 1000, process)
        process.send_signal(signal.SIGSTOP)  # frozen where it is, mid-batch maybe, then killed there
        assert process.returncode is None, "the run finished before it could be interrupted"
    finally:
        process.kill()
        await process.communicate()
    assert count(fresh_db, "vicidial_list") > 0  # it was stopped in the middle
    assert_nothing_half_moved(fresh_db, original)

    rerun = run(fresh_db, tmp_path, "archive", "--list-id", str(LIST))
    assert rerun.returncode == 0, rerun.stderr
    summary = rerun.stdout.strip()
    assert summary.startswith("archive: ") and "leads moved from vicidial_list to vicidial_list_archive" in summary
    assert fresh_db.live() == {} and fresh_db.archive() == original  # byte for byte
    # Progress went to stderr as plain lines (no terminal here), the last one saying everything is done.
    done, total = rerun.stderr.strip().splitlines()[-1].split()[0].split("/")
    assert done == total and int(total.replace(",", "")) > 0


async def test_ctrl_c_stops_cleanly_and_the_same_command_continues(fresh_db, tmp_path) -> None:
    ids = fresh_db.add_leads(3000)
    fresh_db.execute("INSERT INTO vicidial_list_archive SELECT * FROM vicidial_list")
    fresh_db.execute("DELETE FROM vicidial_list")
    original = fresh_db.archive(ids)
    process = await start(fresh_db, tmp_path, "dearchive", "--list-id", str(LIST), "--max-stall-ms", "5")
    await wait_for_rows(fresh_db, "vicidial_list", 500, process)
    process.send_signal(signal.SIGINT)
    out, err = (part.decode() for part in await asyncio.wait_for(process.communicate(), 60))
    assert process.returncode == 130, err
    assert out.startswith("dearchive: interrupted, ") and "run the same command again to continue" in out
    assert "Traceback" not in err
    assert_nothing_half_moved(fresh_db, original)
    assert count(fresh_db, "vicidial_list_archive") > 0

    rerun = run(fresh_db, tmp_path, "dearchive", "--list-id", str(LIST))
    assert rerun.returncode == 0, rerun.stderr
    assert fresh_db.archive() == {} and fresh_db.live() == original


async def test_dearchive_a_file_of_ids(fresh_db, tmp_path) -> None:
    ids = fresh_db.add_leads(1200)
    stays = fresh_db.add_leads(5)
    fresh_db.execute("INSERT INTO vicidial_list_archive SELECT * FROM vicidial_list")
    fresh_db.execute(f"DELETE FROM vicidial_list WHERE lead_id <= {ids[-1]}")
    original = fresh_db.archive(ids)
    chosen = ids[::2]
    (tmp_path / "ids.txt").write_text("# leads to bring back\n" + "\n".join(map(str, [*chosen, 999999])) + "\n")
    result = run(fresh_db, tmp_path, "dearchive", "--lead-ids", "ids.txt")
    assert result.returncode == 1, result.stderr  # one id is in neither table
    assert f"{len(chosen):,} of {len(chosen) + 1:,} leads moved from vicidial_list_archive to vicidial_list" \
        in result.stdout
    assert "1 in neither table, e.g. lead_id 999999" in result.stdout
    assert set(fresh_db.live()) == set(chosen) | set(stays)
    assert fresh_db.live(chosen) == {i: original[i] for i in chosen}
    # Run again: everything is back already, nothing moves.
    again = run(fresh_db, tmp_path, "dearchive", "--lead-ids", "ids.txt")
    assert f"0 of {len(chosen) + 1:,} leads moved" in again.stdout
    assert f"{len(chosen):,} already in vicidial_list" in again.stdout
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2 x3\n")
    refused = run(fresh_db, tmp_path, "dearchive", "--lead-ids", str(bad))
    assert (refused.returncode, refused.stderr.strip()) == (2, "dearchive: --lead-ids: line 2: 'x3' is not a lead id")


async def test_status_age_and_dry_run(fresh_db, tmp_path) -> None:
    old_sale = fresh_db.add_lead(status="SALE", modify_date="2020-01-01 00:00:00",
                                 last_local_call_time="2020-01-01 00:00:00")
    old_na = fresh_db.add_lead(status="NA", modify_date="2020-01-01 00:00:00", last_local_call_time=None)
    recent_na = fresh_db.add_lead(status="NA", last_local_call_time="2020-01-01 00:00:00")  # modified just now
    called_na = fresh_db.add_lead(status="NA", modify_date="2020-01-01 00:00:00",
                                  last_local_call_time="2099-01-01 00:00:00")
    other_list = fresh_db.add_lead(status="NA", modify_date="2020-01-01 00:00:00", list_id=5)
    before = fresh_db.snapshot()
    dry = run(fresh_db, tmp_path, "archive", "--list-id", str(LIST), "--status", "NA,B", "--older-than", "90d",
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("archive: dry run: 1 leads (list 998, status NA, B, untouched since ")
    assert fresh_db.snapshot() == before
    result = run(fresh_db, tmp_path, "archive", "--list-id", str(LIST), "--status", "NA", "--status", "B",
                 "--older-than", "90d")
    assert result.returncode == 0, result.stderr
    assert set(fresh_db.archive()) == {old_na}
    assert set(fresh_db.live()) == {old_sale, recent_na, called_na, other_list}
    bad = run(fresh_db, tmp_path, "archive", "--list-id", str(LIST), "--older-than", "ninety days")
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "archive: --older-than: expected an age such as 90d, 12w or 36h, got 'ninety days'")


async def test_a_lead_changed_during_the_run_stays_and_is_reported(fresh_db, monkeypatch) -> None:
    """The run's own core call, with the dialer changing a lead between copy and delete (MyISAM), or waiting
    for the batch's transaction (InnoDB)."""
    from service import db as service_db

    ids = fresh_db.add_leads(300)
    changed = ids[150]
    pool = await service_db.create_pool(fresh_db.config, minsize=0, maxsize=2)
    original_move = archiver.move_leads
    done: list[int] = []

    async def move_then_change(pool_, request, direction):
        if changed in request.lead_ids and not done:
            # Copy first, then the dialer changes the lead, then the delete: the copy no longer matches.
            await original_move(pool_, type(request)(True, True, False, request.lead_ids), direction)
            fresh_db.execute("UPDATE vicidial_list SET comments = 'changed by the dialer' WHERE lead_id = %s",
                             (changed,))
            done.append(changed)
            return await original_move(pool_, type(request)(False, False, True, request.lead_ids), direction)
        return await original_move(pool_, request, direction)

    monkeypatch.setattr(archiver, "move_leads", move_then_change)
    try:
        summary = await bulk.run(pool, TO_ARCHIVE, Selection(list_id=LIST), pacing.Pacer(0.05, 500),
                                 io.StringIO(), tty=False)
    finally:
        pool.close()
        await pool.wait_closed()
    assert (summary.moved, summary.left, summary.exit_status) == (299, [changed], 1)
    assert "1 left in vicidial_list because their copy in vicidial_list_archive differs" in summary.line()
    assert set(fresh_db.live()) == {changed}
    assert fresh_db.live()[changed] != fresh_db.archive()[changed]  # the latest data stays live
