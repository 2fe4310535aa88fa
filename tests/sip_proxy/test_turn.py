import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest

from service.sip_proxy import turn
from service.sip_proxy.session import Session

SESSION = Session(7, 1001, "1001", "2026-06-01T18:00:00Z", datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp() + 0.7


def creds(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"secret": "turn-secret", "session": SESSION, "host": "turn.example.com", "port": 3478,
                            "ttl_max": 3600, "ice_transport_policy": "all", "now": NOW}
    args.update(overrides)
    return turn.credentials(**args)


def test_the_turn_rest_api_answer():
    body = creds()
    expiry = int(NOW) + 3600
    session_end = int(SESSION.expires_ts)  # a whole second already
    assert body["username"] == f"{expiry}:7:1001:{session_end}"
    assert turn.session_end_of(body["username"]) == session_end
    digest = hmac.new(b"turn-secret", body["username"].encode(), hashlib.sha1).digest()
    assert body["password"] == base64.b64encode(digest).decode()
    assert body["ttl"] == 3600
    assert body["uris"] == ["turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp"]
    assert body["ice_transport_policy"] == "all"


def test_a_credential_never_outlives_its_session():
    late = SESSION.expires_ts - 100.2
    body = creds(now=late)
    expiry = int(body["username"].split(":")[0])
    assert expiry <= SESSION.expires_ts
    assert expiry == int(SESSION.expires_ts) and body["ttl"] == 101


def test_relay_policy_and_ipv6_hosts():
    body = creds(ice_transport_policy="relay", host="::1", port=5349)
    assert body["ice_transport_policy"] == "relay"
    assert body["uris"][0] == "turn:[::1]:5349?transport=udp"


def test_no_secret_no_credentials():
    with pytest.raises(turn.TurnUnavailable):
        creds(secret=None)


@pytest.mark.parametrize("header,host", [
    ("phone.example.com", "phone.example.com"), ("PHONE.example.com:443", "PHONE.example.com"),
    ("10.0.0.1:8080", "10.0.0.1"), ("[2001:db8::1]:8443", "2001:db8::1"), ("[::1]", "::1"),
])
def test_host_headers_that_name_a_host(header, host):
    assert turn.host_from_header(header) == host


@pytest.mark.parametrize("header", ["a b", "a..b", "-a.example", "é.example", "x" * 64, "a\nb", "x:", "x:65536",
                                    "[::1]x", "[fe80::1%eth0]", "a:b:c"])
def test_host_headers_that_do_not(header):
    with pytest.raises(turn.BadHost):
        turn.host_from_header(header)


def test_turn_port_from_the_query_or_the_configuration():
    assert turn.port_from_query(None, 13478) == 13478 and turn.port_from_query("", 13478) == 13478
    assert turn.port_from_query("3479", 13478) == 3479 and turn.port_from_query("65535", 1) == 65535
    for raw in ("0", "65536", "+1", " 1", "1 ", "\u0661", "3478.0"):
        with pytest.raises(turn.BadPort):
            turn.port_from_query(raw, 13478)


def test_the_session_end_is_rounded_up_and_read_back_only_from_our_usernames():
    session = Session(7, 1001, "1001", "x", datetime(2026, 6, 1, 18, 0, 0, 250000, tzinfo=UTC))
    body = creds(session=session)
    end = turn.session_end_of(body["username"])
    assert end == int(session.expires_ts) + 1 and end >= session.expires_ts
    for other in ("1764608400:7:1001", "1764608400:alice", "alice", "1:2:3:4:5", "1:2:3:x", "1:2:3:", ""):
        assert turn.session_end_of(other) is None, other
