"""TURN credentials from the endpoint against the real coturn (use-auth-secret)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from service.sip_proxy import turn

from .helpers import in_, session_query

pytestmark = pytest.mark.stack


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


async def test_the_endpoint_answers_the_turn_rest_api(relay, relay_settings, stack_env):
    creds = await _credentials(relay, relay_settings, stack_env)
    expiry, customer, user = creds["username"].split(":")
    assert (customer, user) == ("1", "1001")
    assert 0 < int(expiry) - time.time() <= relay_settings.turn_ttl
    assert creds["password"] == turn.password_for(stack_env["TURN_SECRET"], creds["username"])
    port = stack_env.get("TURN_PORT", "3478")
    assert creds["uris"] == [f"turn:127.0.0.1:{port}?transport=udp", f"turn:127.0.0.1:{port}?transport=tcp"]
    assert creds["ice_transport_policy"] == relay_settings.ice_transport_policy


async def test_credentials_end_with_the_session(relay, relay_settings, stack_env):
    creds = await _credentials(relay, relay_settings, stack_env, expire_date=in_(60))
    assert creds["ttl"] <= 60
    assert int(creds["username"].split(":")[0]) <= time.time() + 60


async def test_the_endpoint_checks_the_session_like_ws(relay, relay_settings):
    query = session_query(relay_settings.auth_key_secret, "1001", expire_date=in_(-5))
    response = await relay.get(f"/webphone/turn-credentials?{urlencode(query)}")
    assert response.status == 403 and (await response.json())["reason"] == "session_expired"
    query = session_query(relay_settings.auth_key_secret, "1001")
    query["auth_key"] = "x" + query["auth_key"][1:]
    response = await relay.get(f"/webphone/turn-credentials?{urlencode(query)}")
    assert response.status == 401


async def test_without_turn_secret_no_credentials(aiohttp_client, make_settings, stack_env):
    from service.app import create_app

    env = {k: v for k, v in stack_env.items() if k != "TURN_SECRET"}
    settings = make_settings(env)
    client = await aiohttp_client(create_app(settings))
    query = session_query(settings.auth_key_secret, "1001")
    response = await client.get(f"/webphone/turn-credentials?{urlencode(query)}")
    body = await response.json()
    assert response.status == 503 and body["reason"] == "turn_not_configured" and "TURN_SECRET" in body["message"]


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
