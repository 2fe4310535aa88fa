"""The bulk run's pure parts: choosing leads as SQL, reading a file of ids, pacing batches, the progress line."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from service.archive import progress, selection
from service.archive.pacing import FILL, Pacer


@pytest.mark.parametrize("text, expected", [("90d", dt.timedelta(days=90)), ("12w", dt.timedelta(weeks=12)),
                                            (" 36H ", dt.timedelta(hours=36)), ("0d", dt.timedelta(0))])
def test_ages(text, expected) -> None:
    assert selection.parse_age(text) == expected


@pytest.mark.parametrize("text", ["90", "d", "90 days", "-5d", "1.5d", "\u0669d", ""])
def test_bad_ages(text) -> None:
    with pytest.raises(ValueError, match="expected an age such as 90d"):
        selection.parse_age(text)


def test_lead_ids_file() -> None:
    assert selection.read_lead_ids("# exported\n7\n3, 5 5\n\n  9\t1 # the last\n") == [1, 3, 5, 7, 9]
    with pytest.raises(ValueError, match="line 2: '4x' is not a lead id"):
        selection.read_lead_ids("1\n2 4x\n")
    with pytest.raises(ValueError, match="line 1: '-3' is not a lead id"):
        selection.read_lead_ids("-3")


def test_list_selection_as_sql() -> None:
    chosen = selection.Selection(list_id=101, statuses=("NA", "B"), older_than=dt.datetime(2026, 9, 2, 8, 30))
    statement, args = selection.batch_sql("vicidial_list", chosen, after=41, size=250)
    assert statement == (
        "SELECT `lead_id` FROM `vicidial_list` FORCE INDEX (PRIMARY) WHERE `lead_id` > %s AND `list_id` = %s"
        " AND `status` IN (%s, %s) AND (`last_local_call_time` IS NULL OR `last_local_call_time` < %s)"
        " AND `modify_date` < %s ORDER BY `lead_id` LIMIT %s")
    assert args == [41, 101, "NA", "B", "2026-09-02 08:30:00", "2026-09-02 08:30:00", 250]
    statement, args = selection.count_sql("vicidial_list_archive", selection.Selection(list_id=7))
    assert (statement, args) == ("SELECT COUNT(*) FROM `vicidial_list_archive` WHERE `list_id` = %s", [7])
    assert chosen.describe() == "list 101, status NA, B, untouched since 2026-09-02 08:30 UTC"


def test_pacer_fills_the_bound_and_grows_at_most_twofold() -> None:
    pacer = Pacer(max_stall=0.05, maximum=500)
    assert pacer.size == 20
    pacer.record(20, 0.002)  # 0.1 ms a lead: 350 would fill 70 % of 50 ms, but growth is twofold at most
    assert pacer.size == 40
    for _ in range(5):
        pacer.record(pacer.size, pacer.size * 0.0001)
    assert pacer.size == round(FILL * 0.05 / 0.0001) == 350
    assert pacer.over == 0


def test_pacer_shrinks_at_once_after_a_slow_batch_and_keeps_its_bounds() -> None:
    pacer = Pacer(max_stall=0.05, maximum=500, size=400)
    pacer.record(400, 0.2)  # 0.5 ms a lead now (the machine got busy)
    assert pacer.size == 70 and pacer.over == 1
    pacer.record(70, 10.0)
    assert pacer.size == 1  # never below one lead
    fast = Pacer(max_stall=1.0, maximum=500, size=400)
    fast.record(400, 0.001)
    assert fast.size == 500  # never above ARCHIVE_MAX_LEADS
    fast.record(0, 0.0)
    assert fast.size == 500


def test_progress_line() -> None:
    assert progress.line(12345, 100000, 3.8461, bar=False) == "12,345/100,000 leads  3,210/s  ETA 0:00:27"
    assert progress.line(50, 100, 10, bar=True) == "[############............] 50/100 leads  5/s  ETA 0:00:10"
    assert progress.line(0, 10, 0, bar=False) == "0/10 leads  0/s  ETA -:--:--"
    assert progress.line(0, 0, 1, bar=True).startswith("[" + "#" * progress.BAR + "]")


def test_progress_redraws_on_a_terminal_and_writes_plain_lines_otherwise() -> None:
    tty, plain = io.StringIO(), io.StringIO()
    for out, is_tty in ((tty, True), (plain, False)):
        shown = progress.Progress(out, 100, is_tty)
        for step in range(0, 101, 10):
            shown.show(step, step * 0.02)  # eleven steps over two seconds
        shown.finish(100, 2.0)
    assert tty.getvalue().count("\r") >= 10 and tty.getvalue().endswith("ETA 0:00:00\x1b[K\n")
    # Plain lines at most every few seconds: the first, then the final one.
    assert plain.getvalue().splitlines() == ["0/100 leads  0/s  ETA -:--:--", "100/100 leads  50/s  ETA 0:00:00"]
