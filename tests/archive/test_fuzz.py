"""Schema-driven fuzzing of both routes: bodies from the served OpenAPI request schemas, and anything else,
never give a 5xx other than the documented 500 for a body that is not a JSON object."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis_jsonschema import from_schema

from service.app import create_app
from service.archive.openapi import DEARCHIVE_PATH
from service.config import load_settings

from .conftest import AUTH, KEY_ENTRY, PATH, ArchiveDb, body

DOCUMENTED_400S = {
    "insert_leads must be a boolean value", "update_leads must be a boolean value",
    "delete_leads must be a boolean value", "lead_ids must only contain integer values",
    "lead_ids must contain atleast 1 value", "lead_ids cannot exceed 500 values",
    "lead_ids cannot contain duplicate values", "lead_ids does not exist",
}


@pytest.fixture(scope="module")
def server(archive_db: ArchiveDb) -> Iterator[tuple[str, int]]:
    """The real app on a real socket, in its own thread and loop, over a database with a few leads."""
    archive_db.reset()
    ids = archive_db.add_leads(60)
    app_settings = load_settings({"AUTH_KEY_SECRET": "f" * 32, "ARCHIVE_API_KEYS": KEY_ENTRY, "OFFICE_HOURS": "none"})
    app = create_app(__import__("dataclasses").replace(app_settings, database=archive_db.config))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    host, port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    assert post((host, port), body(ids[30:]).encode())[0] == 200  # half the leads archived, to bring back
    yield host, port
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def post(server: tuple[str, int], data: bytes, path: str = PATH) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(*server, timeout=30)
    try:
        conn.request("POST", path, body=data, headers=AUTH)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
request_shaped = st.fixed_dictionaries(
    {}, optional={"insert_leads": json_values, "update_leads": json_values, "delete_leads": json_values,
                  "lead_ids": json_values | st.lists(st.integers(-5, 80) | json_values, max_size=30)})


def from_object_schema(schema: dict) -> st.SearchStrategy[dict]:
    """Objects valid against an object schema, property by property.

    (hypothesis-jsonschema 0.23.1's own object strategy uses a Hypothesis internal that 6.170 removed;
    its strategies for the property schemas work.)
    """
    properties = {name: from_schema(prop) for name, prop in schema["properties"].items()}
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries({k: v for k, v in properties.items() if k in required},
                                 optional={k: v for k, v in properties.items() if k not in required})


def served_schema(server: tuple[str, int], path: str) -> dict:
    """The request schema of `path` in the document the service serves."""
    conn = http.client.HTTPConnection(*server, timeout=30)
    try:
        conn.request("GET", f"{PATH}/openapi.json")
        document = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def bodies(valid_requests: st.SearchStrategy[dict]) -> st.SearchStrategy[bytes]:
    return (
        valid_requests.map(json.dumps).map(str.encode)
        | request_shaped.map(json.dumps).map(str.encode)
        | json_values.map(json.dumps).map(str.encode)
        | st.binary(max_size=200)
        | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    )


PATHS = pytest.mark.parametrize("path", [PATH, DEARCHIVE_PATH])


def check(status: int, answer: dict, path: str) -> None:
    assert answer["status"] == status
    if status == 200:
        assert answer["message"] == "lead_ids batch was successfully processed"
        assert answer["select_count"] >= answer["delete_count"]
        assert ("update_count" in answer) == (path == PATH)
    elif status == 400:
        assert answer["message"] in DOCUMENTED_400S and answer["lead_errors"] == len(answer["lead_ids"])
    else:
        # The only 5xx: the documented 500 for a body that is not a JSON object, saying what and where.
        assert status == 500 and answer["message"].startswith("request body "), answer
        assert (answer["lead_errors"], answer["lead_ids"]) == (0, [])


@pytest.mark.stack
@PATHS
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_bodies_never_give_an_undocumented_5xx(server, path: str, data: st.DataObject) -> None:
    request = data.draw(bodies(from_object_schema(served_schema(server, path))))
    check(*post(server, request, path), path)


@pytest.mark.stack
@PATHS
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_schema_valid_bodies_answer_200_or_does_not_exist(server, path: str, data: st.DataObject) -> None:
    request = data.draw(from_object_schema(served_schema(server, path)))
    status, answer = post(server, json.dumps(request).encode(), path)
    check(status, answer, path)
    assert status == 200 or answer["message"] == "lead_ids does not exist"


@pytest.mark.stack
@pytest.mark.parametrize("path, flags", [(PATH, ["insert_leads", "update_leads", "delete_leads"]),
                                         (DEARCHIVE_PATH, ["insert_leads", "delete_leads"])])
def test_both_routes_are_in_the_served_document(server, path: str, flags: list[str]) -> None:
    schema = served_schema(server, path)
    assert schema["required"] == [*flags, "lead_ids"]
    assert schema["properties"]["lead_ids"]["maxItems"] == 500
