"""Which leads a bulk run moves: chosen the way ViciDial's ADMIN_archive_leads.pl chooses them, as plain SQL.

Archiving picks leads of one list (`--list-id`), optionally of some statuses (`--status`), optionally only those
nothing has happened to for a while (`--older-than 90d`: last called and last modified before then; a lead
never called counts as called long ago). Dearchiving picks the archived leads of one list, or the ids a file
names. The leads are walked in lead_id order, a batch at a time, each batch starting after the last id of the
one before: a rerun simply starts again from the lowest id left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from .schema import KEY
from .sql import quote

_AGE = re.compile(r"(\d+)\s*([dhw])")
_AGE_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}


def parse_age(text: str) -> dt.timedelta:
    """`90d`, `12w` or `36h` as a timedelta; ValueError saying what is expected otherwise."""
    match = _AGE.fullmatch(text.strip().lower())
    if not match or not match[1].isascii():
        raise ValueError(f"expected an age such as 90d, 12w or 36h, got {text!r}")
    return int(match[1]) * _AGE_UNITS[match[2]]


def read_lead_ids(text: str) -> list[int]:
    """Lead ids separated by white space or commas (one a line, as an export gives them), `#` starting a
    comment; sorted, each once. ValueError naming the line of anything that is not a lead id."""
    ids: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if not token:
                continue
            if not (token.isascii() and token.isdigit()) or int(token) >= 2**64:
                raise ValueError(f"line {number}: {token[:30]!r} is not a lead id")
            ids.add(int(token))
    return sorted(ids)


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    list_id: int | None = None
    statuses: tuple[str, ...] = ()
    older_than: dt.datetime | None = None  # UTC: leads last called and last modified before this
    lead_ids: tuple[int, ...] | None = None  # instead of the list: exactly these ids

    def describe(self) -> str:
        if self.lead_ids is not None:
            return f"{len(self.lead_ids)} lead ids from the file"
        parts = [f"list {self.list_id}"]
        if self.statuses:
            parts.append(f"status {', '.join(self.statuses)}")
        if self.older_than:
            parts.append(f"untouched since {self.older_than:%Y-%m-%d %H:%M} UTC")
        return ", ".join(parts)


def conditions(selection: Selection) -> tuple[str, list[Any]]:
    """The WHERE conditions (joined by AND) of a list selection, and their parameters."""
    parts = [f"{quote('list_id')} = %s"]
    args: list[Any] = [selection.list_id]
    if selection.statuses:
        parts.append(f"{quote('status')} IN ({', '.join(['%s'] * len(selection.statuses))})")
        args += selection.statuses
    if selection.older_than is not None:
        cutoff = selection.older_than.strftime("%Y-%m-%d %H:%M:%S")
        # modify_date is a TIMESTAMP, read in the session's UTC; last_local_call_time is the server's local
        # time, hours apart at most: nothing at the scale of an age given in days.
        parts.append(f"({quote('last_local_call_time')} IS NULL OR {quote('last_local_call_time')} < %s)")
        parts.append(f"{quote('modify_date')} < %s")
        args += [cutoff, cutoff]
    return " AND ".join(parts), args


def count_sql(table: str, selection: Selection) -> tuple[str, list[Any]]:
    """How many leads of a list selection `table` holds."""
    where, args = conditions(selection)
    return f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}", args


def batch_sql(table: str, selection: Selection, after: int, size: int) -> tuple[str, list[Any]]:
    """The next `size` ids of a list selection after `after`, in key order, found by walking the primary key
    (each batch reads from where the last stopped, instead of sorting the whole list again)."""
    where, args = conditions(selection)
    key = quote(KEY)
    return (f"SELECT {key} FROM {quote(table)} FORCE INDEX (PRIMARY) WHERE {key} > %s AND {where}"
            f" ORDER BY {key} LIMIT %s", [after, *args, size])
