"""The load tester's run: its report, and what it counts as errors."""

from __future__ import annotations

import pytest

from tests.sip_proxy.helpers import direct_to_kamailio, new_username
from tools.sipload.loadtest import LoadTest, percentiles
from tools.sipload.ua import Agent


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentiles(samples) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}


@pytest.mark.stack
async def test_loadtest_counts_a_connection_lost_mid_call_as_an_error(stack_env):
    """A socket that closes under a caller is an error in the report, not a crash of the whole run."""
    import argparse
    import time

    import aiohttp

    args = argparse.Namespace(agents=2, hold=0.0, agent_secret=None)
    test = LoadTest(args, stack_env["AUTH_KEY_SECRET"], "unused", out_json=False)
    async with aiohttp.ClientSession() as http:
        ws = await direct_to_kamailio(stack_env, http)
        await ws.close()  # gone before the caller notices (its reader never ran)
        caller = Agent(ws, new_username(), "pw")
        callee = Agent(ws, new_username(), "pw")
        await test.caller(caller, callee, b"v=0\r\n", time.monotonic() + 0.5)
    assert test.calls_attempted >= 1 and test.calls_completed == 0
    assert sum(test.errors.values()) == test.calls_attempted and set(test.errors) == {"connect"}
