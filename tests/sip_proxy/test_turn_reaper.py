"""The TURN reaper against the real coturn: its sweep of every coturn session, whoever issued the credential."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from service.sip_proxy import turn
from service.sip_proxy.session import Session
from service.sip_proxy.turn_reaper import TurnReaper

from .helpers import Peer, refresh_allocation, relays, turn_allocation

pytestmark = pytest.mark.stack


def _credentials(stack_env, seconds: float, user_id: int) -> dict:
    """Credentials as another process of the service would have issued them (nothing watches their end)."""
    now = time.time()
    ends = Session(1, user_id, str(user_id), "x", datetime.fromtimestamp(now + seconds, UTC))
    return turn.credentials(secret=stack_env["TURN_SECRET"], session=ends, host="127.0.0.1", port=0, ttl_max=3600,
                            ice_transport_policy="all", now=now)


# Alone: its first sweep must find no ended session among all of coturn's.
@pytest.mark.alone
async def test_a_sweep_cancels_ended_sessions_it_was_never_told_about(relay_settings, stack_env):
    port = int(stack_env.get("TURN_PORT", "3478"))
    ended, lasting = _credentials(stack_env, 2, 1001), _credentials(stack_env, 3600, 1002)
    assert relay_settings.turn_cli is not None and relay_settings.turn_cli_password is not None
    host, cli_port = relay_settings.turn_cli
    reaper = TurnReaper(host, cli_port, relay_settings.turn_cli_password)
    async with Peer.open() as (peer, peer_addr), turn_allocation(ended, port) as client, \
            turn_allocation(lasting, port) as bystander:
        assert await relays(client, peer, peer_addr, b"in time", 5)
        assert await reaper.sweep(time.time()) == 0  # nothing has ended yet: nothing cancelled
        # The session's end is a known instant: wait for it, then sweep.
        end = turn.session_end_of(ended["username"])
        assert end is not None
        await asyncio.sleep(max(0.0, end - time.time()))
        assert await reaper.sweep(time.time()) >= 1
        assert await refresh_allocation(client) in (-401, -437)
        assert not await relays(client, peer, peer_addr, b"too late", 1.0)
        assert await relays(bystander, peer, peer_addr, b"still on", 5)
        assert reaper.cancelled >= 1
