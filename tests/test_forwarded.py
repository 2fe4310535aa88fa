"""service.forwarded: X-Forwarded-For/-Proto believed from TRUSTED_PROXIES only, and what handlers then see."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict

from service.app import create_app
from service.forwarded import parse_networks, resolve
from tests.sip_proxy.helpers import session_query, upgrade_headers

LOOPBACK = parse_networks("127.0.0.1, ::1")


def headers(*pairs: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(pairs)


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    view = resolve("203.0.113.9", "http", headers(("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "https")),
                   LOOPBACK)
    assert (view.remote, view.scheme) == ("203.0.113.9", "http")


def test_nothing_is_trusted_by_default() -> None:
    view = resolve("127.0.0.1", "http",
                   headers(("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "https")), ())
    assert (view.remote, view.scheme) == ("127.0.0.1", "http")


def test_a_trusted_proxy_names_the_client_and_the_scheme() -> None:
    view = resolve("127.0.0.1", "http", headers(("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "https")),
                   LOOPBACK)
    assert (view.remote, view.scheme) == ("198.51.100.1", "https")


def test_the_client_is_the_right_most_untrusted_hop() -> None:
    # The client wrote "6.6.6.6" itself; the balancer (10.0.0.5, trusted) appended the address it saw.
    trusted = parse_networks("127.0.0.1, 10.0.0.0/8")
    view = resolve("127.0.0.1", "http", headers(("X-Forwarded-For", "6.6.6.6, 198.51.100.7"),
                                                ("X-Forwarded-For", "10.0.0.5")), trusted)
    assert view.remote == "198.51.100.7"


def test_ipv6_and_mapped_addresses() -> None:
    trusted = parse_networks("::1, 127.0.0.1")
    assert resolve("::1", "http", headers(("X-Forwarded-For", "[2001:db8::7]:51000")), trusted).remote == "2001:db8::7"
    mapped = resolve("::ffff:127.0.0.1", "http", headers(("X-Forwarded-For", "192.0.2.4:4000")), trusted)
    assert mapped.remote == "192.0.2.4"


def test_garbage_stops_the_walk_and_an_odd_proto_is_ignored() -> None:
    view = resolve("127.0.0.1", "https", headers(("X-Forwarded-For", "not-an-ip"), ("X-Forwarded-Proto", "gopher")),
                   LOOPBACK)
    assert (view.remote, view.scheme) == ("127.0.0.1", "https")


def test_bad_networks_are_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks("127.0.0.1,10.0.0.300")


@pytest.mark.stack
@pytest.mark.parametrize("trusted", ["127.0.0.1,::1", ""])
async def test_the_own_https_origin_behind_a_trusted_proxy(aiohttp_client, make_settings, stack_env, trusted, caplog):
    settings = make_settings({**stack_env, "TRUSTED_PROXIES": trusted})
    client = await aiohttp_client(create_app(settings))
    host = f"{client.server.host}:{client.server.port}"
    query = urlencode(session_query(settings.auth_key_secret, "1001"))
    forwarded = {"X-Forwarded-For": "198.51.100.23", "X-Forwarded-Proto": "https"}
    caplog.set_level(logging.INFO)
    resp = await client.get(f"/ws?{query}", headers={**upgrade_headers(origin=f"https://{host}"), **forwarded})
    if trusted:
        assert resp.status == 101
    else:  # the page's https origin is not the plain-http service's own
        assert resp.status == 403 and (await resp.json())["reason"] == "origin_not_allowed"
    resp.close()
    resp = await client.get(f"/ws?{query}", headers={**upgrade_headers(origin=f"http://{host}"), **forwarded})
    assert resp.status == (403 if trusted else 101)  # the http origin is no longer the service's own
    resp.close()
    resp = await client.get(f"/webphone/turn-credentials?{query}&auth_key=forged", headers=forwarded)
    assert resp.status == 401
    refusals = [r.getMessage() for r in caplog.records if "refused /webphone/turn-credentials" in r.getMessage()]
    assert refusals and all(("198.51.100.23" in m) == bool(trusted) for m in refusals)
