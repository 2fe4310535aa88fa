"""SIP_UPSTREAM=vicidial without a database: the decision on phones/servers rows, and the cache."""

from __future__ import annotations

from service.config import load_settings
from service.sip_proxy.phone_routes import (
    CACHE_SECONDS,
    Refusal,
    Route,
    RouteCache,
    decide_phone,
    decide_server,
    lookup_failed,
)


def test_one_active_phone_gives_its_server() -> None:
    assert decide_phone("1001", ["10.0.0.5"]) == "10.0.0.5"


def test_no_phone_is_unknown_and_several_are_ambiguous() -> None:
    unknown, ambiguous = decide_phone("1001", []), decide_phone("1001", ["10.0.0.5", "10.0.0.6"])
    assert isinstance(unknown, Refusal) and (unknown.status, unknown.reason) == (403, "unknown_phone")
    assert isinstance(ambiguous, Refusal) and (ambiguous.status, ambiguous.reason) == (403, "ambiguous_phone")
    assert unknown.body() == {"message": "no active ViciDial phone has the extension '1001'", "reason": "unknown_phone"}


def test_the_server_web_socket_url_is_the_route() -> None:
    assert decide_server("10.0.0.5", ["wss://pbx5:8089/ws "]) == Route("wss://pbx5:8089/ws", "10.0.0.5")
    assert decide_server("10.0.0.5", ["", "ws://pbx5:8088"]) == Route("ws://pbx5:8088", "10.0.0.5")


def test_several_different_urls_for_one_server_are_ambiguous() -> None:
    outcome = decide_server("10.0.0.5", ["ws://pbx5:8088", "", "wss://pbx5:8089/ws"])
    assert isinstance(outcome, Refusal) and (outcome.status, outcome.reason) == (503, "ambiguous_server")
    # The same URL twice (two rows, one spelt with a trailing space) is still one server.
    assert decide_server("10.0.0.5", ["ws://pbx5:8088", "ws://pbx5:8088 "]) == Route("ws://pbx5:8088", "10.0.0.5")


def test_no_server_row_an_empty_url_or_a_bad_one_is_no_upstream() -> None:
    for urls in ([], [""], [None], ["http://pbx5/ws"], ["ws://pbx5:http"]):
        outcome = decide_server("10.0.0.5", urls)
        assert isinstance(outcome, Refusal) and (outcome.status, outcome.reason) == (503, "no_upstream"), urls


def test_a_failed_lookup_is_a_503_naming_no_secrets() -> None:
    refusal = lookup_failed(ConnectionRefusedError("mysql://user:secret@db"))
    assert (refusal.status, refusal.reason) == (503, "upstream_lookup_failed") and "secret" not in refusal.message


def test_the_cache_keeps_outcomes_for_30_seconds_but_never_a_failure() -> None:
    cache = RouteCache()
    route = Route("ws://a", "10.0.0.5")
    cache.put("1001", route, now=100.0)
    cache.put("1002", lookup_failed(OSError()), now=100.0)
    assert cache.get("1001", 100.0 + CACHE_SECONDS - 0.1) == route
    assert cache.get("1001", 100.0 + CACHE_SECONDS) is None
    assert cache.get("1002", 100.0) is None
    assert CACHE_SECONDS <= 30


def test_the_cache_is_bounded() -> None:
    cache = RouteCache(max_entries=3)
    for i in range(10):
        cache.put(str(i), Route("ws://a", "ip"), now=0.0)
    assert sum(cache.get(str(i), 1.0) is not None for i in range(10)) == 3
    assert cache.get("9", 1.0) is not None


def test_sip_upstream_vicidial_is_accepted_in_any_case() -> None:
    settings = load_settings({"AUTH_KEY_SECRET": "0123456789abcdef-secret", "SIP_UPSTREAM": "ViciDial"})
    assert settings.sip_upstream == "vicidial"
