"""TURN credentials from the endpoint, against the real coturn (use-auth-secret) where marked `stack`."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from service.app import create_app
from service.sip_proxy import turn

from .helpers import Peer, in_, refresh_allocation, relays, session_query, turn_allocation


async def _credentials(relay, relay_settings, stack_env, **overrides) -> dict:
    query = session_query(relay_settings.auth_key_secret, "1001", **overrides)
    query["turn_port"] = stack_env.get("TURN_PORT", "3478")
    response = await relay.get(f"/webphone/turn-credentials?{urlencode(query)}")
    assert response.status == 200, await response.text()
    return await response.json()


def _relay_only_peer(creds: dict) -> RTCPeerConnection:
    server = RTCIceServer(urls=creds["uris"][0], username=creds["username"], credential=creds["password"])
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[server], iceTransportPolicy=RTCIceTransportPolicy.RELAY))
    pc.addTransceiver("audio", direction="sendrecv")
    return pc


async def _local_sdp(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


@pytest.mark.stack
async def test_the_endpoint_answers_the_turn_rest_api(relay, relay_settings, stack_env):
    creds = await _credentials(relay, relay_settings, stack_env)
    expiry, customer, user, session_end = creds["username"].split(":")
    assert (customer, user) == ("1", "1001") and int(session_end) >= int(expiry)
    assert 0 < int(expiry) - time.time() <= relay_settings.turn_ttl
    assert creds["password"] == turn.password_for(stack_env["TURN_SECRET"], creds["username"])
    port = stack_env.get("TURN_PORT", "3478")
    assert creds["uris"] == [f"turn:127.0.0.1:{port}?transport=udp", f"turn:127.0.0.1:{port}?transport=tcp"]
    assert creds["ice_transport_policy"] == relay_settings.ice_transport_policy


@pytest.mark.stack
async def test_credentials_end_with_the_session(relay, relay_settings, stack_env):
    creds = await _credentials(relay, relay_settings, stack_env, expire_date=in_(60))
    assert creds["ttl"] <= 60
    assert int(creds["username"].split(":")[0]) <= time.time() + 60


async def test_the_endpoint_checks_the_session_like_ws(aiohttp_client, make_settings):
    settings = make_settings({"TURN_SECRET": "turn-secret"})
    client = await aiohttp_client(create_app(settings))
    query = session_query(settings.auth_key_secret, "1001", expire_date=in_(-5))
    response = await client.get(f"/webphone/turn-credentials?{urlencode(query)}")
    assert response.status == 403 and (await response.json())["reason"] == "session_expired"
    query = session_query(settings.auth_key_secret, "1001")
    query["auth_key"] = "x" + query["auth_key"][1:]
    response = await client.get(f"/webphone/turn-credentials?{urlencode(query)}")
    assert response.status == 401


async def test_without_turn_secret_no_credentials(aiohttp_client, make_settings):
    settings = make_settings()
    assert settings.turn_secret is None
    client = await aiohttp_client(create_app(settings))
    query = session_query(settings.auth_key_secret, "1001")
    response = await client.get(f"/webphone/turn-credentials?{urlencode(query)}")
    body = await response.json()
    assert response.status == 503 and body["reason"] == "turn_not_configured" and "TURN_SECRET" in body["message"]


@pytest.mark.stack
async def test_an_aiortc_peer_gets_a_relay_candidate_and_two_peers_connect(relay, relay_settings, stack_env):
    first = _relay_only_peer(await _credentials(relay, relay_settings, stack_env))
    second = _relay_only_peer(await _credentials(relay, relay_settings, stack_env))
    try:
        offer = await _local_sdp(first)
        assert " typ relay " in offer
        await second.setRemoteDescription(first.localDescription)
        await second.setLocalDescription(await second.createAnswer())
        assert " typ relay " in second.localDescription.sdp
        await first.setRemoteDescription(second.localDescription)
        for _ in range(100):
            if first.connectionState == second.connectionState == "connected":
                break
            await asyncio.sleep(0.1)
        assert first.connectionState == second.connectionState == "connected"
    finally:
        await first.close()
        await second.close()


@pytest.mark.stack
@pytest.mark.parametrize("case", ["expired", "wrong secret"])
async def test_coturn_refuses_expired_or_forged_credentials(stack_env, case):
    port = stack_env.get("TURN_PORT", "3478")
    if case == "expired":
        username = f"{int(time.time()) - 60}:1:1001"
        password = turn.password_for(stack_env["TURN_SECRET"], username)
    else:
        username = f"{int(time.time()) + 600}:1:1001"
        password = turn.password_for("not-the-turn-secret", username)
    pc = _relay_only_peer({"uris": [f"turn:127.0.0.1:{port}?transport=udp"], "username": username,
                           "password": password})
    try:
        assert " typ relay " not in await _local_sdp(pc)
    finally:
        await pc.close()


async def test_an_allocation_stops_relaying_soon_after_its_session_ends(relay, relay_settings, stack_env):
    """coturn itself keeps relaying (and refreshing) an allocation made in time; the service cancels it
    through coturn's CLI once the session is over, within the README's bound of 60 s (about 1 s here, as
    this process issued the credential). A longer session of the same agent carries on untouched."""
    assert relay_settings.turn_cli is not None, "devstack gives the service TURN_CLI"
    port = int(stack_env.get("TURN_PORT", "3478"))
    ending = await _credentials(relay, relay_settings, stack_env, expire_date=in_(4))
    lasting = await _credentials(relay, relay_settings, stack_env, expire_date=in_(3600))
    session_end = turn.session_end_of(ending["username"])
    assert session_end is not None
    async with Peer.open() as (peer, peer_addr), turn_allocation(ending, port) as client, \
            turn_allocation(lasting, port) as bystander:
        assert await relays(client, peer, peer_addr, b"before the end", 5)
        assert await relays(bystander, peer, peer_addr, b"bystander before", 5)
        assert await refresh_allocation(client) == 600  # granted while the session lasts
        # Wait for the event: coturn refusing a Refresh. Its session cancelled, coturn sees the next request as
        # a new client: it authenticates the username afresh and refuses it as expired (401), or, were the
        # name still valid, finds no allocation (437).
        while (answer := await refresh_allocation(client)) > 0:
            assert time.time() < session_end + 60, "still refreshed 60 s after the session ended"
            await asyncio.sleep(0.25)
        cancelled_at = time.time()
        assert answer in (-401, -437)
        assert cancelled_at >= session_end - 0.5  # never before the session's end (clock granularity aside)
        # Gone for good: the bound channel relays nothing over a 1 s window, and nothing re-creates it.
        assert not await relays(client, peer, peer_addr, b"after the end", 1.0)
        assert await relays(bystander, peer, peer_addr, b"bystander after", 5)
        assert await refresh_allocation(bystander) == 600
