"""The two tables' columns, read from information_schema, and the column-for-column comparison.

Columns are never hard-coded: ViciDial upgrades add columns to vicidial_list but never touch the archive,
which admins made by hand (`CREATE TABLE vicidial_list_archive LIKE vicidial_list`). Before any row moves,
the archive must match vicidial_list in every column's name, position, type (with enum values, length and
sign), nullability and character set; otherwise the request changes nothing and the answer names the
columns. (Defaults and AUTO_INCREMENT may differ: the archive's lead_id has none, by design.)
"""

from __future__ import annotations

import dataclasses

import aiomysql

from .errors import SchemaMismatch

LIVE = "vicidial_list"
ARCHIVE = "vicidial_list_archive"
KEY = "lead_id"
HOW_TO_CREATE = (
    f"CREATE TABLE {ARCHIVE} LIKE {LIVE}; ALTER TABLE {ARCHIVE} MODIFY {KEY} INT(9) UNSIGNED NOT NULL;"
)
# Engines whose tables take part in transactions (MyISAM and Aria statements commit one by one).
TRANSACTIONAL_ENGINES = frozenset({"innodb", "xtradb"})

# Two small queries: joining information_schema.TABLES to COLUMNS is some 30 times slower than both.
_COLUMNS_SQL = (
    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME"
    " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (%s, %s)"
    " ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
_ENGINES_SQL = (
    "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (%s, %s)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    name: str
    column_type: str  # e.g. "int(9) unsigned", "enum('Y','N')"
    data_type: str  # e.g. "int", "varchar", "enum"
    nullable: bool
    charset: str | None

    def describe(self) -> str:
        text = f"{self.column_type} {'NULL' if self.nullable else 'NOT NULL'}"
        return f"{text} CHARACTER SET {self.charset}" if self.charset else text


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    name: str
    engine: str | None
    columns: tuple[Column, ...]

    @property
    def transactional(self) -> bool:
        return (self.engine or "").lower() in TRANSACTIONAL_ENGINES


async def read_tables(conn: aiomysql.Connection) -> dict[str, Table]:
    """vicidial_list and vicidial_list_archive as they are now, by name (absent tables are left out)."""
    async with conn.cursor() as cur:
        await cur.execute(_COLUMNS_SQL, (LIVE, ARCHIVE))
        column_rows = await cur.fetchall()
        await cur.execute(_ENGINES_SQL, (LIVE, ARCHIVE))
        engines: dict[str, str | None] = dict(await cur.fetchall())
    columns: dict[str, list[Column]] = {}
    for table, name, column_type, data_type, nullable, charset in column_rows:
        # column_type keeps its case: enum('Y') and enum('y') hold different values. (Both tables' types
        # come from the same server, written the same way.)
        columns.setdefault(table, []).append(
            Column(name, column_type, data_type.lower(), nullable == "YES", charset)
        )
    return {name: Table(name, engines.get(name), tuple(cols)) for name, cols in columns.items()}


def matching_columns(tables: dict[str, Table]) -> tuple[Column, ...]:
    """The columns both tables share, in order; `SchemaMismatch` naming the columns if they differ."""
    live, archive = tables.get(LIVE), tables.get(ARCHIVE)
    if live is None:
        raise SchemaMismatch(f"{LIVE} does not exist in this database; nothing was changed")
    if archive is None:
        raise SchemaMismatch(f"{ARCHIVE} does not exist; create it the ViciDial way: {HOW_TO_CREATE}"
                             " Nothing was changed")
    problems, names = differences(live, archive)
    if problems:
        raise SchemaMismatch(f"{ARCHIVE} does not match {LIVE}: {'; '.join(problems)}; nothing was changed", names)
    return live.columns


def differences(live: Table, archive: Table) -> tuple[list[str], list[str]]:
    """Readable differences between the tables' columns, and the names of the columns involved."""
    problems: list[str] = []
    names: list[str] = []
    live_by_name = {c.name: c for c in live.columns}
    archive_by_name = {c.name: c for c in archive.columns}
    if KEY not in live_by_name or KEY not in archive_by_name:
        problems.append(f"both tables need a {KEY} column")
        names.append(KEY)
    missing = [name for name in live_by_name if name not in archive_by_name]
    extra = [name for name in archive_by_name if name not in live_by_name]
    if missing:
        problems.append(f"{ARCHIVE} lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if extra:
        problems.append(f"{ARCHIVE} has column{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
                        f" that {LIVE} does not")
    names += missing + extra
    for name, column in live_by_name.items():
        other = archive_by_name.get(name)
        if other is not None and other.describe() != column.describe():
            problems.append(f"column {name} is {column.describe()} in {LIVE} but {other.describe()} in {ARCHIVE}")
            names.append(name)
    if not missing and not extra:
        for position, (a, b) in enumerate(zip(live.columns, archive.columns, strict=False), start=1):
            if a.name != b.name:
                problems.append(f"columns are in another order (position {position} is {a.name} in {LIVE}"
                                f" but {b.name} in {ARCHIVE})")
                names += [a.name, b.name]
                break
    return problems, list(dict.fromkeys(names))
