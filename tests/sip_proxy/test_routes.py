"""The relay's HTTP edge on the real app: what `/ws` and `/webphone/turn-credentials` answer to bad input.

None of these reach the PBX or coturn: each is answered before any upstream is opened.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest

from service.app import create_app

from .helpers import session_query, upgrade_headers

TURN_SECRET = "turn-secret-for-tests"
OUT_OF_RANGE = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"]


@pytest.fixture
async def client(aiohttp_client, make_settings):
    settings = make_settings({"TURN_SECRET": TURN_SECRET, "TURN_PORT": "13478"})
    client = await aiohttp_client(create_app(settings))
    client.settings = settings
    return client


def _query(client, **overrides) -> dict[str, str]:
    return {**session_query(client.settings.auth_key_secret, "1001"), **overrides}


@pytest.mark.parametrize("path", ["/ws", "/webphone/turn-credentials"])
@pytest.mark.parametrize("expire_date", OUT_OF_RANGE)
async def test_an_expire_date_outside_the_calendar_is_a_bad_parameter(client, caplog, path, expire_date):
    # Any key at all: the date is refused before the key is looked at, as every malformed parameter is.
    query = _query(client, expire_date=expire_date, auth_key="anything")
    with caplog.at_level(logging.INFO):
        response = await client.get(f"{path}?{urlencode(query)}", headers=upgrade_headers())
    body = await response.json()
    assert (response.status, body["reason"]) == (401, "bad_parameter") and "expire_date" in body["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def _credentials(client, query: dict[str, str], **headers):
    response = await client.get(f"/webphone/turn-credentials?{urlencode(query)}", headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("turn_port", [None, ""])
async def test_without_turn_port_the_uris_carry_the_configured_port(client, turn_port):
    query = _query(client)
    if turn_port is not None:
        query["turn_port"] = turn_port
    status, body = await _credentials(client, query)
    assert status == 200
    assert body["uris"] == ["turn:127.0.0.1:13478?transport=udp", "turn:127.0.0.1:13478?transport=tcp"]


@pytest.mark.parametrize("turn_port", ["0", "65536", "3478.0", "x", "-1", "٣٤٧٨", "99999999999999999999"])
async def test_a_malformed_turn_port_is_refused_with_400(client, turn_port):
    status, body = await _credentials(client, _query(client, turn_port=turn_port))
    assert (status, body["reason"]) == (400, "bad_turn_port")
    assert "turn_port" in body["message"] and "13478" in body["message"]


async def test_the_pages_turn_port_and_host_go_into_the_uris(client):
    status, body = await _credentials(client, _query(client, turn_port="3479"), Host="phone.example.com:8443")
    assert status == 200
    assert body["uris"] == ["turn:phone.example.com:3479?transport=udp", "turn:phone.example.com:3479?transport=tcp"]
    status, body = await _credentials(client, _query(client, turn_port="3479"), Host="[::1]:8443")
    assert body["uris"][0] == "turn:[::1]:3479?transport=udp"


@pytest.mark.parametrize("host", ["a b", "evil.example:1?transport=tcp#", "evil.example/x", "user@evil.example",
                                  "evil.example:0", "[1.2.3.4]", "[::1", ""])
async def test_a_bad_host_header_is_refused_with_400(client, caplog, host):
    with caplog.at_level(logging.INFO):
        status, body = await _credentials(client, _query(client), Host=host)
    assert (status, body["reason"], body["status"]) == (400, "bad_host", 400)
    assert "Host" in body["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
