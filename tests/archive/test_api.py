"""POST /vicidial/leads/archive through the real app and MariaDB, in MyISAM and in InnoDB."""

from __future__ import annotations

import asyncio
import json

import pytest

from service.appkeys import DB_POOL

from .conftest import API_KEY, AUTH, PATH, body, post

pytestmark = pytest.mark.stack


async def test_readme_example_archives_and_deletes(client, fresh_db) -> None:
    ids = fresh_db.add_leads(2)
    before = fresh_db.live(ids)
    status, answer = await post(client, body(ids))
    assert status == 200
    assert answer == {"message": "lead_ids batch was successfully processed", "select_count": 2,
                      "insert_count": 2, "update_count": 0, "delete_count": 2, "status": 200}
    assert fresh_db.live(ids) == {}
    assert fresh_db.archive(ids) == before  # every column, byte for byte, modify_date included


async def test_insert_only_keeps_leads_and_is_not_repeated(client, fresh_db) -> None:
    ids = fresh_db.add_leads(3)
    status, answer = await post(client, body(ids, update=False, delete=False))
    assert (status, answer["select_count"], answer["insert_count"], answer["delete_count"]) == (200, 3, 3, 0)
    status, answer = await post(client, body(ids, update=False, delete=False))
    assert answer["insert_count"] == 0  # already archived: not inserted again
    assert fresh_db.live(ids) == fresh_db.archive(ids)


async def test_update_counts_only_rows_that_changed(client, fresh_db) -> None:
    ids = fresh_db.add_leads(4)
    await post(client, body(ids, delete=False))
    fresh_db.execute(f"UPDATE vicidial_list SET status = 'SALE' WHERE lead_id IN ({ids[0]}, {ids[1]})")
    _status, answer = await post(client, body(ids, delete=False))
    assert (answer["insert_count"], answer["update_count"], answer["delete_count"]) == (0, 2, 0)
    assert fresh_db.archive(ids) == fresh_db.live(ids)
    _status, answer = await post(client, body(ids, delete=False))
    assert answer["update_count"] == 0  # identical rows are not counted


async def test_update_keeps_modify_date_of_the_lead(client, fresh_db) -> None:
    lead = fresh_db.add_lead(modify_date="2020-02-02 10:00:00", status="NEW")
    await post(client, body([lead], delete=False))
    # The lead changes, keeping an old modify_date; the archive's own ON UPDATE must not stamp "now".
    fresh_db.execute(f"UPDATE vicidial_list SET status = 'B', modify_date = '2021-03-03 11:00:00'"
                     f" WHERE lead_id = {lead}")
    _status, answer = await post(client, body([lead], delete=False))
    assert answer["update_count"] == 1
    assert fresh_db.execute(f"SELECT modify_date FROM vicidial_list_archive WHERE lead_id = {lead}")[0][0].isoformat() \
        == "2021-03-03T11:00:00"


async def test_delete_only_needs_a_matching_archive_copy(client, fresh_db) -> None:
    ids = fresh_db.add_leads(3)
    status, answer = await post(client, body(ids, insert=False, update=False))
    assert (status, answer["delete_count"], answer["not_deleted_lead_ids"]) == (200, 0, ids)
    assert set(fresh_db.live(ids)) == set(ids)


@pytest.mark.parametrize("column, archived_value", [
    ("last_name", "smith"),  # case only
    ("last_name", "Smith"),  # trailing space only (the lead has 'Smith ')
    ("first_name", "Zoe"),  # accent only
    ("date_of_birth", None),  # NULL against a value
])
async def test_near_equal_archive_copy_is_not_equal(client, fresh_db, column, archived_value) -> None:
    lead = fresh_db.add_lead(first_name="Zoë", last_name="Smith ", date_of_birth="1980-01-01")
    await post(client, body([lead], delete=False))
    fresh_db.execute(f"UPDATE vicidial_list_archive SET `{column}` = %s WHERE lead_id = %s", (archived_value, lead))
    status, answer = await post(client, body([lead], insert=False, update=False))
    assert (status, answer["delete_count"], answer["not_deleted_lead_ids"]) == (200, 0, [lead])
    # With update, the archive copy is corrected first, and then the lead may go.
    status, answer = await post(client, body([lead]))
    assert (answer["update_count"], answer["delete_count"]) == (1, 1)
    assert "not_deleted_lead_ids" not in answer


async def test_nulls_zero_dates_and_non_latin_text_are_copied_exactly(client, fresh_db) -> None:
    odd = fresh_db.add_lead(
        entry_date="0000-00-00 00:00:00", modify_date="0000-00-00 00:00:00", date_of_birth="0000-00-00",
        last_local_call_time="2008-01-01 00:00:00", first_name="Nakamura 中村", last_name="Дмитриев  ",
        comments="emoji-free but ümlauts, tabs\tand\nnewlines", status=None, user=None, gender="F",
        called_since_last_reset="D", gmt_offset_now="-3.50", **{"rank": -5},
    )
    empty = fresh_db.add_lead(first_name="", last_name=None, email=None, owner=None)
    before = fresh_db.live([odd, empty])
    status, answer = await post(client, body([odd, empty]))
    assert (status, answer["insert_count"], answer["delete_count"]) == (200, 2, 2)
    assert fresh_db.archive([odd, empty]) == before


async def test_lead_ids_that_do_not_exist_change_nothing(client, fresh_db) -> None:
    ids = fresh_db.add_leads(3)
    before = fresh_db.snapshot()
    status, answer = await post(client, body([ids[0], 999999, -1, ids[1], 2**70]))
    assert status == 400
    assert answer == {"message": "lead_ids does not exist", "lead_errors": 3, "lead_ids": [999999, -1, 2**70],
                      "status": 400}
    assert fresh_db.snapshot() == before


async def test_a_refused_request_gives_its_connection_back_to_the_pool(client, fresh_db) -> None:
    """A 400 found by the database is an answer, not a failure: the clean connection is reused, not closed."""
    ids = fresh_db.add_leads(1)
    pool = client.app[DB_POOL]
    assert (await post(client, body(ids, delete=False)))[0] == 200
    in_pool = pool.size
    for _ in range(3):
        assert (await post(client, body([ids[0], 999999])))[0] == 400
    assert pool.size == pool.freesize == in_pool


async def test_already_archived_leads_do_not_exist(client, fresh_db) -> None:
    ids = fresh_db.add_leads(2)
    await post(client, body(ids))
    status, answer = await post(client, body(ids))
    assert (status, answer["lead_ids"]) == (400, ids)


DOCUMENTED_400S = [
    ({"update_leads": True, "delete_leads": True, "lead_ids": [1]}, "insert_leads must be a boolean value", []),
    ({"insert_leads": "true", "update_leads": True, "delete_leads": True, "lead_ids": [1]},
     "insert_leads must be a boolean value", []),
    ({"insert_leads": True, "update_leads": 1, "delete_leads": True, "lead_ids": [1]},
     "update_leads must be a boolean value", []),
    ({"insert_leads": True, "update_leads": True, "delete_leads": None, "lead_ids": [1]},
     "delete_leads must be a boolean value", []),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": ["0"]},
     "lead_ids must only contain integer values", ["0"]),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": [1, "7", 7.0, True, None, [], {}]},
     "lead_ids must only contain integer values", ["7", 7.0, True, None, [], {}]),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": []},
     "lead_ids must contain atleast 1 value", []),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True},
     "lead_ids must contain atleast 1 value", []),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": list(range(501))},
     "lead_ids cannot exceed 500 values", []),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": [0, 1, 0]},
     "lead_ids cannot contain duplicate values", [0]),
    # Several problems at once: the first in the documented order answers.
    ({"insert_leads": 0, "update_leads": "no", "lead_ids": ["x", 1, 1]}, "insert_leads must be a boolean value", []),
    ({"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": ["x", *range(600)]},
     "lead_ids must only contain integer values", ["x"]),
]


@pytest.mark.parametrize("request_body, message, lead_ids", DOCUMENTED_400S)
async def test_documented_400s_in_documented_order(client, fresh_db, request_body, message, lead_ids) -> None:
    fresh_db.add_leads(2)
    before = fresh_db.snapshot()
    status, answer = await post(client, json.dumps(request_body))
    assert status == 400
    assert answer == {"message": message, "lead_errors": len(lead_ids), "lead_ids": lead_ids, "status": 400}
    assert fresh_db.snapshot() == before


@pytest.mark.parametrize("data, where", [
    ('{"insert_leads": true, "lead_ids": [1, s]}', "Expecting value at line 1, position 40 (found 's')"),
    ('{\n  "insert_leads": true,\n  "lead_ids": [1,\n 2,,]\n}', "line 4, position 4"),
    ("", "empty"),
    ("[1, 2]", "got an array at line 1, position 1"),
    ('  "text"', "got a string at line 1, position 3"),
    ('{"lead_ids": [NaN]}', "NaN is not a JSON value at line 1, position 15"),
])
async def test_unreadable_body_is_the_documented_500(client, fresh_db, data, where) -> None:
    status, answer = await post(client, data)
    assert status == 500
    assert where in answer["message"]
    assert (answer["lead_errors"], answer["lead_ids"], answer["status"]) == (0, [], 500)


async def test_not_utf8_body_is_the_documented_500(client, fresh_db) -> None:
    status, answer = await post(client, b'{"lead_ids": ["\xff"]}')
    assert status == 500 and "not UTF-8" in answer["message"] and "byte 16" in answer["message"]


async def test_body_that_cannot_be_decompressed_is_the_documented_500(client, fresh_db) -> None:
    ids = fresh_db.add_leads(1)
    resp = await client.post(PATH, data=b"not gzip", headers={**AUTH, "Content-Encoding": "gzip"})
    answer = await resp.json()
    assert resp.status == 500
    assert answer == {"message": "request body cannot be read: Can not decode content-encoding: gzip",
                      "lead_errors": 0, "lead_ids": [], "status": 500}
    assert set(fresh_db.live()) == set(ids)


async def test_lone_surrogate_is_reported_back_as_given(client, fresh_db) -> None:
    status, answer = await post(client, '{"insert_leads": true, "update_leads": true, "delete_leads": true,'
                                        ' "lead_ids": ["\\ud800"]}')
    assert (status, answer["lead_ids"]) == (400, ["\ud800"])


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Key=wrong-key"},
    {"Authorization": f"Bearer {API_KEY}"},
    {"Authorization": "Key="},
    {"Authorization": f"Key={API_KEY}x"},
])
async def test_401_unless_the_key_is_accepted(client, fresh_db, headers) -> None:
    ids = fresh_db.add_leads(1)
    status, answer = await post(client, "not even json", headers=headers)
    assert (status, answer) == (401, {"message": "unable to validate api user", "status": 401})
    assert set(fresh_db.live()) == set(ids)


async def test_key_header_that_is_not_utf8_is_a_401(client, fresh_db) -> None:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n".encode()
                 + b"Authorization: Key=\xff\xfe\r\n\r\n{}")
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 401 ")
    assert response.endswith(b'{"message": "unable to validate api user", "status": 401}')


async def test_no_configured_keys_means_401_for_everyone(aiohttp_client, archive_app, fresh_db) -> None:
    client = await aiohttp_client(archive_app(ARCHIVE_API_KEYS=""))
    status, _answer = await post(client, body([1]))
    assert status == 401


async def test_key_scheme_is_case_insensitive(client, fresh_db) -> None:
    ids = fresh_db.add_leads(1)
    status, _ = await post(client, body(ids), headers={"Authorization": f"key= {API_KEY}"})
    assert status == 200


async def test_403_in_office_hours_before_body_checks(aiohttp_client, archive_app, fresh_db) -> None:
    ids = fresh_db.add_leads(1)
    client = await aiohttp_client(archive_app(OFFICE_HOURS="mon-sun 00:00-24:00"))
    status, answer = await post(client, "not json")
    assert (status, answer) == (403, {"message": "api cannot be executed during office hours time condition",
                                      "status": 403})
    status, _ = await post(client, body(ids), headers={"Authorization": "Key=nope"})
    assert status == 401  # the key is checked first
    assert set(fresh_db.live()) == set(ids)


async def test_vicidial_call_time_24hours_is_office_hours(aiohttp_client, archive_app, fresh_db) -> None:
    client = await aiohttp_client(archive_app(OFFICE_HOURS="vicidial:24hours"))
    status, _ = await post(client, body(fresh_db.add_leads(1)))
    assert status == 403


def _closed_call_time(db, call_time_id: str, holidays: str = "") -> None:
    days = ", ".join(f"ct_{d}_start = 2400, ct_{d}_stop = 2400"
                     for d in ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"))
    db.execute("DELETE FROM vicidial_call_times WHERE call_time_id = %s", (call_time_id,))
    db.execute("INSERT INTO vicidial_call_times (call_time_id, call_time_name, ct_default_start, ct_default_stop)"
               " VALUES (%s, 'closed every day', 0, 2400)", (call_time_id,))
    db.execute(f"UPDATE vicidial_call_times SET {days}, ct_holidays = %s WHERE call_time_id = %s",
               (holidays, call_time_id))


@pytest.mark.parametrize("holiday_status, expected", [("ACTIVE", 403), ("INACTIVE", 200)])
async def test_vicidial_call_time_holiday_replaces_the_days_hours(aiohttp_client, archive_app, fresh_db,
                                                                  holiday_status, expected) -> None:
    # Every weekday is 2400/2400 (closed), so the API may run; an ACTIVE holiday today opens 0-2400.
    _closed_call_time(fresh_db, "closedct", "|openday|")
    fresh_db.execute(
        "INSERT INTO vicidial_call_time_holidays (holiday_id, holiday_name, holiday_date, holiday_status,"
        " ct_default_start, ct_default_stop, holiday_method) VALUES"
        " ('openday', 'open all day', UTC_DATE(), %s, 0, 2400, 'REPLACE')", (holiday_status,))
    client = await aiohttp_client(archive_app(OFFICE_HOURS="vicidial:closedct"))
    status, _ = await post(client, body(fresh_db.add_leads(1)))
    assert status == expected


async def test_unknown_vicidial_call_time_is_a_clear_500(aiohttp_client, archive_app, fresh_db) -> None:
    client = await aiohttp_client(archive_app(OFFICE_HOURS="vicidial:nosuch"))
    ids = fresh_db.add_leads(1)
    status, answer = await post(client, body(ids))
    assert status == 500
    assert "vicidial_call_times has no call_time_id 'nosuch'" in answer["message"]
    assert set(fresh_db.live()) == set(ids)
    ready = await (await client.get("/readyz")).json()
    assert "nosuch" in ready["checks"]["office_hours"]


async def test_archive_missing_a_column_refuses_and_names_it(client, fresh_db) -> None:
    ids = fresh_db.add_leads(3)
    fresh_db.execute("ALTER TABLE vicidial_list_archive DROP COLUMN entry_list_id")
    before = fresh_db.snapshot()
    status, answer = await post(client, body(ids))
    assert status == 500
    assert "vicidial_list_archive lacks column entry_list_id" in answer["message"]
    assert answer["columns"] == ["entry_list_id"]
    assert fresh_db.snapshot() == before
    ready = await (await client.get("/readyz")).json()
    assert "entry_list_id" in ready["checks"]["archive_table"]


async def test_archive_with_an_older_enum_refuses(client, fresh_db) -> None:
    ids = fresh_db.add_leads(1)
    fresh_db.execute("ALTER TABLE vicidial_list_archive MODIFY called_since_last_reset"
                     " ENUM('Y','N','Y1','Y2','Y3','Y4','Y5','Y6','Y7','Y8','Y9','Y10') DEFAULT 'N'")
    status, answer = await post(client, body(ids))
    assert status == 500 and answer["columns"] == ["called_since_last_reset"]
    assert set(fresh_db.live()) == set(ids)


async def test_archive_with_enum_values_in_another_case_refuses(client, fresh_db) -> None:
    # 'F' copied into ENUM('m','f','u') becomes 'f': the copy would never equal the lead.
    ids = fresh_db.add_leads(1)
    fresh_db.execute("ALTER TABLE vicidial_list_archive MODIFY gender ENUM('m','f','u') DEFAULT 'u'")
    status, answer = await post(client, body(ids))
    assert status == 500 and answer["columns"] == ["gender"]
    assert "column gender is enum('M','F','U') NULL" in answer["message"]
    assert set(fresh_db.live()) == set(ids) and fresh_db.archive() == {}


async def test_missing_archive_table_says_how_to_make_it(client, fresh_db) -> None:
    ids = fresh_db.add_leads(1)
    fresh_db.execute("DROP TABLE vicidial_list_archive")
    status, answer = await post(client, body(ids))
    assert status == 500 and "CREATE TABLE vicidial_list_archive LIKE vicidial_list" in answer["message"]
    assert set(fresh_db.live()) == set(ids)


async def test_one_log_line_with_key_name_and_counts_never_the_key(client, fresh_db, caplog) -> None:
    ids = fresh_db.add_leads(2)
    with caplog.at_level("INFO", logger="service.archive"):
        await post(client, body(ids))
        await post(client, body(ids), headers={"Authorization": "Key=some-wrong-key"})
    lines = [r.getMessage() for r in caplog.records if r.name == "service.archive"]
    assert len(lines) == 2
    assert lines[0].startswith("archive key=tester ids=2 status=200 select=2 insert=2 update=0 delete=2")
    assert lines[1].startswith("archive key=- ids=- status=401")
    assert not any(API_KEY in line or "some-wrong-key" in line for line in caplog.text.splitlines())


async def test_metrics_count_requests_and_leads(client, fresh_db) -> None:
    await post(client, body(fresh_db.add_leads(3)))
    await post(client, body([]))
    text = await (await client.get("/metrics")).text()
    assert f'archive_requests_total{{route="{PATH}",status="200"}} 1.0' in text
    assert f'archive_requests_total{{route="{PATH}",status="400"}} 1.0' in text
    assert 'archive_leads_total{action="deleted",direction="archive"} 3.0' in text
    assert 'archive_batch_seconds_count{direction="archive"} 1.0' in text


async def test_openapi_document_is_served(client, fresh_db) -> None:
    resp = await client.get(f"{PATH}/openapi.json")
    document = await resp.json()
    assert resp.status == 200 and document["openapi"].startswith("3.")
    assert document["paths"][PATH]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "properties"]["lead_ids"]["maxItems"] == 500
