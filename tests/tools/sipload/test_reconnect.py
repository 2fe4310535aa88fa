"""tools.sipload.reconnect: the page's back-off schedule, and simulated pages coming back after a loss."""

from __future__ import annotations

import time

import aiohttp
import pytest

from service.appkeys import SETTINGS
from service.sip_proxy.routes import close_sessions
from tests.sip_proxy.helpers import kamailio_lookup, new_username, session_query
from tools.sipload import agents, reconnect
from tools.sipload.reconnect import ReconnectingAgent, page_delay


def test_the_page_schedule_doubles_from_half_a_second_to_thirty_with_jitter() -> None:
    assert [page_delay(n, lambda: 0.5) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert (page_delay(0, lambda: 0), page_delay(0, lambda: 1)) == (0.4, 0.6)
    assert (page_delay(99, lambda: 0), page_delay(99, lambda: 1)) == (24, 36)
    assert reconnect.no_delay(5) == 0


@pytest.mark.stack
async def test_a_page_reconnects_on_its_schedule_after_the_service_closes_it(relay, stack_env) -> None:
    username = new_username()
    asked: list[int] = []

    def schedule(attempt: int) -> float:
        asked.append(attempt)
        return 0.05

    password = agents.agent_password(agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), username)
    base = str(relay.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        query = session_query(relay.app[SETTINGS].auth_key_secret, username)
        page = ReconnectingAgent(http, base, query, password, schedule)
        page.start()
        try:
            first = await page.registered_after(0)
            assert page.attempts == 1 and asked == []
            lost = time.monotonic()
            await close_sessions(relay.app)  # every session closed with 1001, as on SIGTERM
            again = await page.registered_after(lost)
            assert again > first and page.attempts == 2 and asked == [0]
            assert kamailio_lookup(username)
        finally:
            await page.stop()


@pytest.mark.stack
async def test_a_refused_session_is_not_retried(relay, stack_env) -> None:
    query = session_query(relay.app[SETTINGS].auth_key_secret, new_username())
    query["auth_key"] = "forged" + query["auth_key"][6:]
    async with aiohttp.ClientSession() as http:
        page = ReconnectingAgent(http, str(relay.make_url("/")).rstrip("/"), query, "x", lambda n: 0.0)
        page.start()
        assert page._task is not None
        await page._task
    assert page.attempts == 1 and page.failures == {"sip 401": 1} and not page.registered.is_set()
