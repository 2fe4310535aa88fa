"""Building the archive's SQL from a column list, and comparing the two tables' columns, pure."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.archive import sql
from service.archive.errors import SchemaMismatch
from service.archive.schema import Column, Table, differences, matching_columns

COLUMNS = (
    Column("lead_id", "int(9) unsigned", "int", False, None),
    Column("modify_date", "timestamp", "timestamp", False, None),
    Column("last_name", "varchar(30)", "varchar", True, "utf8mb3"),
    Column("called_since_last_reset", "enum('Y','N')", "enum", True, "utf8mb3"),
    Column("rank", "smallint(5)", "smallint", False, None),
    Column("odd`name", "text", "text", True, "utf8mb3"),
)


def test_identifiers_are_quoted() -> None:
    assert sql.quote("rank") == "`rank`"
    assert sql.quote("odd`name") == "`odd``name`"


def test_id_list_is_sorted_digits_only() -> None:
    assert sql.id_list([3, 1, 2]) == "1, 2, 3"
    bad_lists: list[list[Any]] = [[], [True], ["1"], [-1], [2**64], [1.0]]
    for bad in bad_lists:
        with pytest.raises(ValueError):
            sql.id_list(bad)


def test_equality_is_byte_exact_for_text_and_null_safe_for_all() -> None:
    equal = sql.columns_equal(COLUMNS)
    assert "a.`lead_id` <=> l.`lead_id`" in equal
    assert "a.`modify_date` <=> l.`modify_date`" in equal
    assert "CAST(a.`last_name` AS BINARY) <=> CAST(l.`last_name` AS BINARY)" in equal
    assert "CAST(a.`called_since_last_reset` AS BINARY) <=> CAST(l.`called_since_last_reset` AS BINARY)" in equal
    assert "a.`rank` <=> l.`rank`" in equal
    assert equal.count(" AND ") == len(COLUMNS) - 1
    assert " = " not in equal  # never a collation-following "="


def test_statements() -> None:
    built = sql.statements(COLUMNS)
    insert = built.insert.sql([2, 1])
    assert insert.startswith("INSERT INTO `vicidial_list_archive` (`lead_id`, `modify_date`, `last_name`,"
                             " `called_since_last_reset`, `rank`, `odd``name`) SELECT l.`lead_id`,")
    assert "WHERE l.`lead_id` IN (1, 2) AND NOT EXISTS (SELECT 1 FROM `vicidial_list_archive` AS x" in insert

    assert built.update is not None
    update = built.update.sql([7])
    # Every column is set explicitly, modify_date too, so the archive's ON UPDATE does not stamp "now".
    for column in COLUMNS[1:]:
        name = sql.quote(column.name)
        assert f"a.{name} = l.{name}" in update
    assert "a.`lead_id` = l.`lead_id`," not in update
    assert update.endswith(f"WHERE a.`lead_id` IN (7) AND NOT ({sql.columns_equal(COLUMNS)})")

    delete = built.delete.sql([7, 8])
    assert delete.startswith("DELETE l FROM `vicidial_list` AS l JOIN `vicidial_list_archive` AS a")
    assert delete.endswith(f"WHERE l.`lead_id` IN (7, 8) AND {sql.columns_equal(COLUMNS)}")
    assert sql.COUNT_EXISTING_FOR_UPDATE.sql([1]) == \
        "SELECT COUNT(*) FROM `vicidial_list` WHERE `lead_id` IN (1) FOR UPDATE"
    assert sql.EXISTING.sql([2, 1]) == "SELECT `lead_id` FROM `vicidial_list` WHERE `lead_id` IN (1, 2)"


def test_statements_are_cached_per_column_list() -> None:
    assert sql.statements(COLUMNS) is sql.statements(tuple(COLUMNS))


def tables(live=COLUMNS, archive=COLUMNS) -> dict[str, Table]:
    return {"vicidial_list": Table("vicidial_list", "MyISAM", tuple(live)),
            "vicidial_list_archive": Table("vicidial_list_archive", "MyISAM", tuple(archive))}


def test_matching_tables() -> None:
    assert matching_columns(tables()) == COLUMNS


@pytest.mark.parametrize("archive, problem, names", [
    (COLUMNS[:-1], "vicidial_list_archive lacks column odd`name", ["odd`name"]),
    ((*COLUMNS, Column("extra", "int(11)", "int", True, None)),
     "vicidial_list_archive has column extra that vicidial_list does not", ["extra"]),
    ((*COLUMNS[:3], dataclasses.replace(COLUMNS[3], column_type="enum('Y')"), *COLUMNS[4:]),
     "column called_since_last_reset is enum('Y','N') NULL CHARACTER SET utf8mb3 in vicidial_list but enum('Y')"
     " NULL CHARACTER SET utf8mb3 in vicidial_list_archive", ["called_since_last_reset"]),
    ((*COLUMNS[:2], dataclasses.replace(COLUMNS[2], nullable=False), *COLUMNS[3:]),
     "column last_name is varchar(30) NULL", ["last_name"]),
    ((*COLUMNS[:2], dataclasses.replace(COLUMNS[2], charset="latin1"), *COLUMNS[3:]),
     "CHARACTER SET latin1 in vicidial_list_archive", ["last_name"]),
    ((COLUMNS[1], COLUMNS[0], *COLUMNS[2:]),
     "columns are in another order (position 1 is lead_id in vicidial_list but modify_date",
     ["lead_id", "modify_date"]),
])
def test_differences_name_the_columns(archive, problem, names) -> None:
    with pytest.raises(SchemaMismatch) as caught:
        matching_columns(tables(archive=archive))
    assert problem in caught.value.message and caught.value.message.endswith("nothing was changed")
    assert caught.value.columns == names
    assert caught.value.body()["columns"] == names


def test_missing_tables() -> None:
    with pytest.raises(SchemaMismatch, match="CREATE TABLE vicidial_list_archive LIKE vicidial_list"):
        matching_columns({"vicidial_list": tables()["vicidial_list"]})
    with pytest.raises(SchemaMismatch, match="vicidial_list does not exist"):
        matching_columns({})


def test_key_column_is_required() -> None:
    problems, names = differences(Table("vicidial_list", None, COLUMNS[1:]),
                                  Table("vicidial_list_archive", None, COLUMNS[1:]))
    assert problems == ["both tables need a lead_id column"] and names == ["lead_id"]


def test_dearchive_statements_mirror_the_archives() -> None:
    from service.archive.direction import FROM_ARCHIVE

    built = sql.statements(COLUMNS, FROM_ARCHIVE)
    insert = built.insert.sql([2, 1])
    assert insert.startswith("INSERT INTO `vicidial_list` (`lead_id`, `modify_date`, `last_name`,"
                             " `called_since_last_reset`, `rank`, `odd``name`) SELECT a.`lead_id`, a.`modify_date`,")
    assert insert.endswith("FROM `vicidial_list_archive` AS a WHERE a.`lead_id` IN (1, 2) AND NOT EXISTS"
                           " (SELECT 1 FROM `vicidial_list` AS x WHERE x.`lead_id` = a.`lead_id`)")
    assert built.update is None  # a lead in vicidial_list is never overwritten
    delete = built.delete.sql([7, 8])
    assert delete == ("DELETE a FROM `vicidial_list_archive` AS a JOIN `vicidial_list` AS l"
                      " ON l.`lead_id` = a.`lead_id`"
                      f" WHERE a.`lead_id` IN (7, 8) AND {sql.columns_equal(COLUMNS)}")
    # Both directions lock vicidial_list's rows first.
    assert sql.LOCK_ORDER == ("vicidial_list", "vicidial_list_archive")
    assert sql.count_existing("vicidial_list_archive", for_update=True).sql([1]) == \
        "SELECT COUNT(*) FROM `vicidial_list_archive` WHERE `lead_id` IN (1) FOR UPDATE"
