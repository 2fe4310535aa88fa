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
