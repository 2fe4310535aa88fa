"""Launch URLs and session queries: what they carry is what the relay accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from service.sip_proxy.links import session_query, webphone_url
from service.sip_proxy.session import REQUIRED, parse_session

SECRET = "test-auth-key-secret-0123456789"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_a_session_query_is_accepted_as_that_session() -> None:
    query = session_query(SECRET, customer_id=7, user_id=1001, username="agent.1", expire_date="2026-06-01T18:00:00Z")
    assert set(query) == set(REQUIRED)
    session = parse_session(query, SECRET, NOW)
    assert (session.customer_id, session.user_id, session.username) == (7, 1001, "agent.1")


def test_a_launch_url_carries_the_same_session_query() -> None:
    url = webphone_url(secret=SECRET, base_url="https://phone.example.com/", customer_id=7, user_id=1001,
                       username="agent.1", password="p&ss", expire_date="2026-06-01T18:00:00Z", turn_port=3479)
    params = dict(parse_qsl(urlsplit(url).query))
    expected = session_query(SECRET, customer_id=7, user_id=1001, username="agent.1",
                             expire_date="2026-06-01T18:00:00Z")
    assert {k: params[k] for k in REQUIRED} == expected
    assert (params["server"], params["turn_port"], params["password"]) == ("phone.example.com", "3479", "p&ss")
