"""POST /vicidial/leads/dearchive through the real app and MariaDB, in MyISAM and in InnoDB."""

from __future__ import annotations

import json

import pytest

from .conftest import API_KEY, DEARCHIVE_PATH, PATH, body, dearchive, dearchive_body, post

pytestmark = pytest.mark.stack

DONE = "lead_ids batch was successfully processed"


async def archived(client, fresh_db, count: int) -> list[int]:
    """`count` new leads, archived and gone from vicidial_list."""
    ids = fresh_db.add_leads(count)
    status, answer = await post(client, body(ids))
    assert (status, answer["delete_count"]) == (200, count)
    return ids


async def test_dearchive_brings_leads_back(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 2)
    before = fresh_db.archive(ids)
    status, answer = await dearchive(client, dearchive_body(ids))
    assert (status, answer) == (200, {"message": DONE, "select_count": 2, "insert_count": 2, "delete_count": 2,
                                      "status": 200})
    assert fresh_db.archive(ids) == {}
    assert fresh_db.live(ids) == before  # every column, byte for byte, modify_date included


@pytest.mark.parametrize("awkward", [
    {"first_name": "Søren", "last_name": "Kierkegaard  "},  # non-ASCII, trailing spaces
    {"first_name": "sMITH", "last_name": "smith", "email": "A@B.example"},  # case
    {"entry_date": "0000-00-00 00:00:00", "modify_date": "0000-00-00 00:00:00", "date_of_birth": "0000-00-00",
     "last_local_call_time": "2008-01-01 00:00:00"},  # zero dates, the loaders' "never called"
    {"status": None, "user": None, "title": None, "owner": None, "email": None, "comments": None,
     "date_of_birth": None, "entry_date": None},  # NULLs
    {"first_name": "", "comments": "tabs\tand\nnewlines", "gender": "F", "called_since_last_reset": "D",
     "gmt_offset_now": "-3.50", "rank": -5},
])
async def test_round_trip_archive_then_dearchive_is_byte_identical(client, fresh_db, awkward) -> None:
    lead = fresh_db.add_lead(**awkward)
    other = fresh_db.add_lead(first_name="SØREN", last_name="Kierkegaard")  # equal under the collation only
    original = fresh_db.live([lead, other])
    assert (await post(client, body([lead, other])))[0] == 200
    assert fresh_db.live([lead, other]) == {}
    status, answer = await dearchive(client, dearchive_body([lead, other]))
    assert (status, answer["insert_count"], answer["delete_count"]) == (200, 2, 2)
    assert fresh_db.live([lead, other]) == original
    assert fresh_db.archive() == {}


async def test_lead_in_both_tables_that_differs_is_never_overwritten(client, fresh_db) -> None:
    ids = fresh_db.add_leads(3)
    await post(client, body(ids, delete=False))  # archived copies, leads still live
    changed = ids[1]
    fresh_db.execute("UPDATE vicidial_list SET status = 'SALE', last_name = 'changed' WHERE lead_id = %s", (changed,))
    live, archive = fresh_db.live(ids), fresh_db.archive(ids)
    status, answer = await dearchive(client, dearchive_body(ids))
    assert status == 200
    # Nothing inserted (all are live already); the two identical copies leave the archive, the stale one stays.
    assert (answer["select_count"], answer["insert_count"], answer["delete_count"]) == (3, 0, 2)
    assert answer["not_deleted_lead_ids"] == [changed]
    assert fresh_db.live(ids) == live  # never overwritten
    assert fresh_db.archive(ids) == {changed: archive[changed]}


@pytest.mark.parametrize("column, live_value", [
    ("last_name", "smith"),  # case only
    ("last_name", "Smith"),  # trailing space only (the archive has 'Smith ')
    ("first_name", "Soren"),  # accent only
    ("date_of_birth", None),  # NULL against a value
])
async def test_near_equal_live_copy_keeps_the_archived_lead(client, fresh_db, column, live_value) -> None:
    lead = fresh_db.add_lead(first_name="Søren", last_name="Smith ", date_of_birth="1980-01-01")
    await post(client, body([lead], delete=False))
    fresh_db.execute(f"UPDATE vicidial_list SET `{column}` = %s WHERE lead_id = %s", (live_value, lead))
    live, archive = fresh_db.snapshot()
    status, answer = await dearchive(client, dearchive_body([lead]))
    assert (status, answer["delete_count"], answer["not_deleted_lead_ids"]) == (200, 0, [lead])
    assert fresh_db.snapshot() == (live, archive)


async def test_insert_only_and_delete_only(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 3)
    status, answer = await dearchive(client, dearchive_body(ids, delete=False))
    assert (status, answer["insert_count"], answer["delete_count"]) == (200, 3, 0)
    assert fresh_db.live(ids) == fresh_db.archive(ids)
    status, answer = await dearchive(client, dearchive_body(ids, delete=False))
    assert answer["insert_count"] == 0  # already in vicidial_list: not inserted again
    status, answer = await dearchive(client, dearchive_body(ids, insert=False))
    assert (answer["insert_count"], answer["delete_count"]) == (0, 3) and "not_deleted_lead_ids" not in answer
    assert fresh_db.archive() == {} and set(fresh_db.live()) == set(ids)


async def test_delete_only_needs_a_matching_live_copy(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 2)
    before = fresh_db.snapshot()
    status, answer = await dearchive(client, dearchive_body(ids, insert=False))
    assert (status, answer["delete_count"], answer["not_deleted_lead_ids"]) == (200, 0, ids)
    assert fresh_db.snapshot() == before


async def test_lead_id_zero_comes_back_as_zero(client, fresh_db) -> None:
    """vicidial_list's lead_id is AUTO_INCREMENT: an inserted 0 must not become a new id."""
    lead = fresh_db.add_lead(first_name="zero")
    fresh_db.execute("UPDATE vicidial_list SET lead_id = 0 WHERE lead_id = %s", (lead,))
    original = fresh_db.live([0])
    assert (await post(client, body([0])))[0] == 200
    status, answer = await dearchive(client, dearchive_body([0]))
    assert (status, answer["insert_count"], answer["delete_count"]) == (200, 1, 1)
    assert fresh_db.live() == original


async def test_ids_not_in_the_archive_do_not_exist(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 2)
    live_only = fresh_db.add_leads(1)
    before = fresh_db.snapshot()
    status, answer = await dearchive(client, dearchive_body([ids[0], *live_only, 999999, -1, ids[1], 2**70]))
    assert (status, answer) == (400, {"message": "lead_ids does not exist", "lead_errors": 4,
                                      "lead_ids": [*live_only, 999999, -1, 2**70], "status": 400})
    assert fresh_db.snapshot() == before


DEARCHIVE_400S = [
    ({"delete_leads": True, "lead_ids": [1]}, "insert_leads must be a boolean value", []),
    ({"insert_leads": "true", "delete_leads": True, "lead_ids": [1]}, "insert_leads must be a boolean value", []),
    # update_leads is no field of the dearchive: not checked, and ignored if sent.
    ({"insert_leads": True, "update_leads": 1, "delete_leads": None, "lead_ids": [1]},
     "delete_leads must be a boolean value", []),
    ({"insert_leads": True, "delete_leads": True, "lead_ids": [1, "7", 7.0, True, None, [], {}]},
     "lead_ids must only contain integer values", ["7", 7.0, True, None, [], {}]),
    ({"insert_leads": True, "delete_leads": True, "lead_ids": []}, "lead_ids must contain atleast 1 value", []),
    ({"insert_leads": True, "delete_leads": True}, "lead_ids must contain atleast 1 value", []),
    ({"insert_leads": True, "delete_leads": True, "lead_ids": list(range(501))}, "lead_ids cannot exceed 500 values",
     []),
    ({"insert_leads": True, "delete_leads": True, "lead_ids": [0, 1, 0]}, "lead_ids cannot contain duplicate values",
     [0]),
    ({"insert_leads": 0, "lead_ids": ["x", 1, 1]}, "insert_leads must be a boolean value", []),
]


@pytest.mark.parametrize("request_body, message, lead_ids", DEARCHIVE_400S)
async def test_the_archives_400s_in_the_same_order(client, fresh_db, request_body, message, lead_ids) -> None:
    await archived(client, fresh_db, 2)
    before = fresh_db.snapshot()
    status, answer = await dearchive(client, json.dumps(request_body))
    assert (status, answer) == (400, {"message": message, "lead_errors": len(lead_ids), "lead_ids": lead_ids,
                                      "status": 400})
    assert fresh_db.snapshot() == before


async def test_update_leads_sent_is_ignored(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 1)
    status, answer = await dearchive(client, json.dumps({"insert_leads": True, "update_leads": "whatever",
                                                         "delete_leads": True, "lead_ids": ids}))
    assert (status, answer["delete_count"]) == (200, 1) and "update_count" not in answer


async def test_unreadable_body_is_the_documented_500(client, fresh_db) -> None:
    status, answer = await dearchive(client, '{"insert_leads": true, "lead_ids": [1, s]}')
    assert (status, answer["lead_errors"], answer["lead_ids"]) == (500, 0, [])
    assert "Expecting value at line 1, position 40 (found 's')" in answer["message"]


async def test_401_with_the_same_message(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 1)
    status, answer = await dearchive(client, dearchive_body(ids), headers={"Authorization": "Key=wrong"})
    assert (status, answer) == (401, {"message": "unable to validate api user", "status": 401})
    assert set(fresh_db.archive()) == set(ids)


async def test_office_hours_never_refuse_it(aiohttp_client, archive_app, fresh_db) -> None:
    ids = fresh_db.add_leads(1)
    fresh_db.execute("INSERT INTO vicidial_list_archive SELECT * FROM vicidial_list")
    fresh_db.execute("DELETE FROM vicidial_list")
    client = await aiohttp_client(archive_app(OFFICE_HOURS="mon-sun 00:00-24:00"))
    assert (await post(client, body(ids)))[0] == 403  # the archive does not run now
    status, answer = await dearchive(client, dearchive_body(ids))
    assert (status, answer["delete_count"]) == (200, 1)


async def test_archive_missing_a_column_refuses_and_names_it(client, fresh_db) -> None:
    ids = await archived(client, fresh_db, 2)
    fresh_db.execute("ALTER TABLE vicidial_list ADD COLUMN new_upgrade_column VARCHAR(5)")
    try:
        before = fresh_db.snapshot()
        status, answer = await dearchive(client, dearchive_body(ids))
        assert status == 500 and answer["columns"] == ["new_upgrade_column"]
        assert "vicidial_list_archive lacks column new_upgrade_column" in answer["message"]
        assert fresh_db.snapshot() == before
    finally:
        fresh_db.execute("ALTER TABLE vicidial_list DROP COLUMN new_upgrade_column")


async def test_missing_archive_table_says_how_to_make_it(client, fresh_db) -> None:
    fresh_db.execute("DROP TABLE vicidial_list_archive")
    status, answer = await dearchive(client, dearchive_body([1]))
    assert status == 500 and "CREATE TABLE vicidial_list_archive LIKE vicidial_list" in answer["message"]


@pytest.mark.parametrize("path, make_body", [(PATH, body), (DEARCHIVE_PATH, dearchive_body)])
async def test_archive_max_leads_is_both_apis_limit(aiohttp_client, archive_app, fresh_db, path, make_body) -> None:
    client = await aiohttp_client(archive_app(ARCHIVE_MAX_LEADS="3"))
    status, answer = await post(client, make_body([1, 2, 3, 4]), path=path)
    assert (status, answer) == (400, {"message": "lead_ids cannot exceed 3 values", "lead_errors": 0, "lead_ids": [],
                                      "status": 400})
    status, answer = await post(client, make_body([1, 2, 3]), path=path)
    assert (status, answer["message"]) == (400, "lead_ids does not exist")  # 3 passes the limit
    document = await (await client.get(f"{PATH}/openapi.json")).json()
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["lead_ids"]["maxItems"] == 3


async def test_more_than_500_when_configured(aiohttp_client, archive_app, fresh_db) -> None:
    client = await aiohttp_client(archive_app(ARCHIVE_MAX_LEADS="1200"))
    ids = fresh_db.add_leads(1200)
    status, answer = await post(client, body(ids))
    assert (status, answer["delete_count"]) == (200, 1200)
    status, answer = await dearchive(client, dearchive_body(ids))
    assert (status, answer["delete_count"]) == (200, 1200)
    assert (await post(client, body(list(range(1201)))))[1]["message"] == "lead_ids cannot exceed 1200 values"


async def test_one_log_line_and_metrics_by_direction(client, fresh_db, caplog) -> None:
    ids = await archived(client, fresh_db, 2)
    with caplog.at_level("INFO", logger="service.archive"):
        await dearchive(client, dearchive_body(ids))
        await dearchive(client, dearchive_body(ids), headers={"Authorization": "Key=some-wrong-key"})
    lines = [r.getMessage() for r in caplog.records if r.name == "service.archive"]
    assert len(lines) == 2
    assert lines[0].startswith("dearchive key=tester ids=2 status=200 select=2 insert=2 delete=2 not_deleted=0 ms=")
    assert lines[1].startswith("dearchive key=- ids=- status=401")
    assert API_KEY not in caplog.text and "some-wrong-key" not in caplog.text
    text = await (await client.get("/metrics")).text()
    assert f'archive_requests_total{{route="{DEARCHIVE_PATH}",status="200"}} 1.0' in text
    assert f'archive_requests_total{{route="{DEARCHIVE_PATH}",status="401"}} 1.0' in text
    assert f'archive_requests_total{{route="{PATH}",status="200"}} 1.0' in text
    assert 'archive_leads_total{action="inserted",direction="dearchive"} 2.0' in text
    assert 'archive_leads_total{action="deleted",direction="archive"} 2.0' in text
    assert 'archive_batch_seconds_count{direction="dearchive"} 1.0' in text
