"""The archive's SQL, built from the column list read from information_schema, for either direction.

Three statements do the work, each safe on its own so that MyISAM's lack of transactions does not matter
(the source is the table leads leave: vicidial_list when archiving, the archive when dearchiving):

- insert: copy the requested leads the destination does not have yet;
- update (archiving only): overwrite archive rows that differ from vicidial_list, setting every column
  explicitly (also modify_date, whose ON UPDATE CURRENT_TIMESTAMP would otherwise stamp the time of
  archiving). Dearchiving never overwrites a lead in vicidial_list;
- delete: ONE statement that removes a lead from the source only if, at that instant, the destination holds
  a row equal to it in every column, byte for byte and NULL-safely. Text is compared as bytes
  (`CAST(x AS BINARY)`) because collations treat 'a', 'A' and 'a ' as equal; other types compare exactly
  with `<=>`, which also says NULL equals NULL.

In every statement vicidial_list is `l` and the archive is `a`, whichever way the leads move.

Lead ids are validated Python ints and are written into the statements as digits.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable

from .direction import TO_ARCHIVE, Direction
from .schema import ARCHIVE, KEY, LIVE, Column

# Types whose comparison follows a collation (case, accents, trailing spaces) unless made a byte comparison.
_BYTE_COMPARED = frozenset({
    "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json",
    "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
})
# lead_id is INT UNSIGNED (BIGINT at most): anything outside cannot be a lead and never reaches SQL.
MAX_LEAD_ID = 2**64 - 1


def quote(identifier: str) -> str:
    """A backtick-quoted identifier (`rank` is reserved in MySQL 8)."""
    return "`" + identifier.replace("`", "``") + "`"


def id_list(lead_ids: Iterable[int]) -> str:
    """`1, 2, 3` for an IN list, ascending so rows are touched in primary-key order."""
    ids = sorted(set(lead_ids))
    if not ids or any(type(i) is not int or not 0 <= i <= MAX_LEAD_ID for i in ids):
        raise ValueError("lead ids for SQL must be a non-empty list of ints in 0..2**64-1")
    return ", ".join(map(str, ids))


def columns_equal(columns: Iterable[Column], left: str = "a", right: str = "l") -> str:
    """A condition true only when every column of the two rows is equal, byte for byte and NULL-safely."""
    parts = []
    for column in columns:
        name = quote(column.name)
        if column.data_type in _BYTE_COMPARED:
            parts.append(f"CAST({left}.{name} AS BINARY) <=> CAST({right}.{name} AS BINARY)")
        else:
            parts.append(f"{left}.{name} <=> {right}.{name}")
    return " AND ".join(parts)


@dataclasses.dataclass(frozen=True, slots=True)
class Statement:
    """SQL with one IN list of lead ids between `head` and `tail`."""

    head: str
    tail: str = ")"

    def sql(self, lead_ids: Iterable[int]) -> str:
        return f"{self.head}{id_list(lead_ids)}{self.tail}"


def existing(table: str = LIVE) -> Statement:
    """The requested ids that are in `table`."""
    return Statement(f"SELECT {quote(KEY)} FROM {quote(table)} WHERE {quote(KEY)} IN (")


def count_existing(table: str = LIVE, *, for_update: bool = False) -> Statement:
    """How many of them are (the common case, all of them, needs no list of ids sent back); `for_update`
    also locks those rows until the transaction ends (InnoDB): no writer changes them meanwhile."""
    return Statement(f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(KEY)} IN (",
                     ") FOR UPDATE" if for_update else ")")


EXISTING = existing(LIVE)
COUNT_EXISTING = count_existing(LIVE)
COUNT_EXISTING_FOR_UPDATE = count_existing(LIVE, for_update=True)
LOCK_ORDER = (LIVE, ARCHIVE)
"""The order a transaction locks the requested rows in, whichever way it moves them, so that an archive and
a dearchive of the same leads wait for each other instead of deadlocking."""
_ALIAS = {LIVE: "l", ARCHIVE: "a"}


@dataclasses.dataclass(frozen=True, slots=True)
class Statements:
    insert: Statement
    update: Statement | None  # None: this direction never overwrites the destination
    delete: Statement


@functools.lru_cache(maxsize=16)
def statements(columns: tuple[Column, ...], direction: Direction = TO_ARCHIVE) -> Statements:
    """The statements that move leads `direction`'s way for these columns (cached: columns rarely change)."""
    source, destination, key = quote(direction.source), quote(direction.destination), quote(KEY)
    s, d = _ALIAS[direction.source], _ALIAS[direction.destination]
    names = ", ".join(quote(c.name) for c in columns)
    selected = ", ".join(f"{s}.{quote(c.name)}" for c in columns)
    assignments = ", ".join(f"{d}.{quote(c.name)} = {s}.{quote(c.name)}" for c in columns if c.name != KEY)
    equal = columns_equal(columns)
    update = None
    if direction.updates:
        update = Statement(
            f"UPDATE {destination} AS {d} JOIN {source} AS {s} ON {s}.{key} = {d}.{key} SET {assignments}"
            f" WHERE {d}.{key} IN (",
            f") AND NOT ({equal})",
        )
    return Statements(
        insert=Statement(
            f"INSERT INTO {destination} ({names}) SELECT {selected} FROM {source} AS {s}"
            f" WHERE {s}.{key} IN (",
            f") AND NOT EXISTS (SELECT 1 FROM {destination} AS x WHERE x.{key} = {s}.{key})",
        ),
        update=update,
        delete=Statement(
            f"DELETE {s} FROM {source} AS {s} JOIN {destination} AS {d} ON {d}.{key} = {s}.{key}"
            f" WHERE {s}.{key} IN (",
            f") AND {equal}",
        ),
    )
