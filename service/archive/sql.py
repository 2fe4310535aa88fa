"""The archive's SQL, built from the column list read from information_schema.

Three statements do the work, each safe on its own so that MyISAM's lack of transactions does not matter:

- insert: copy the requested leads the archive does not have yet;
- update: overwrite archive rows that differ from vicidial_list, setting every column explicitly (also
  modify_date, whose ON UPDATE CURRENT_TIMESTAMP would otherwise stamp the time of archiving);
- delete: ONE statement that removes a lead from vicidial_list only if, at that instant, the archive holds
  a row equal to it in every column, byte for byte and NULL-safely. Text is compared as bytes
  (`CAST(x AS BINARY)`) because collations treat 'a', 'A' and 'a ' as equal; other types compare exactly
  with `<=>`, which also says NULL equals NULL.

Lead ids are validated Python ints and are written into the statements as digits.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable

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


_EXISTING = f"SELECT {quote(KEY)} FROM {quote(LIVE)} WHERE {quote(KEY)} IN ("
EXISTING = Statement(_EXISTING)
"""The requested ids that are in vicidial_list."""
_COUNT = f"SELECT COUNT(*) FROM {quote(LIVE)} WHERE {quote(KEY)} IN ("
COUNT_EXISTING = Statement(_COUNT)
"""How many of them are (the common case, all of them, needs no list of ids sent back)."""
COUNT_EXISTING_FOR_UPDATE = Statement(_COUNT, ") FOR UPDATE")
"""The same, locking those rows until the transaction ends (InnoDB): no writer changes them meanwhile."""


@dataclasses.dataclass(frozen=True, slots=True)
class Statements:
    insert: Statement
    update: Statement
    delete: Statement


@functools.lru_cache(maxsize=16)
def statements(columns: tuple[Column, ...]) -> Statements:
    """The archive's statements for these columns (cached: the columns rarely change)."""
    live, archive, key = quote(LIVE), quote(ARCHIVE), quote(KEY)
    names = ", ".join(quote(c.name) for c in columns)
    selected = ", ".join(f"l.{quote(c.name)}" for c in columns)
    assignments = ", ".join(f"a.{quote(c.name)} = l.{quote(c.name)}" for c in columns if c.name != KEY)
    equal = columns_equal(columns)
    return Statements(
        insert=Statement(
            f"INSERT INTO {archive} ({names}) SELECT {selected} FROM {live} AS l"
            f" WHERE l.{key} IN (",
            f") AND NOT EXISTS (SELECT 1 FROM {archive} AS x WHERE x.{key} = l.{key})",
        ),
        update=Statement(
            f"UPDATE {archive} AS a JOIN {live} AS l ON l.{key} = a.{key} SET {assignments}"
            f" WHERE a.{key} IN (",
            f") AND NOT ({equal})",
        ),
        delete=Statement(
            f"DELETE l FROM {live} AS l JOIN {archive} AS a ON a.{key} = l.{key}"
            f" WHERE l.{key} IN (",
            f") AND {equal}",
        ),
    )
