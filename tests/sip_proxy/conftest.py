"""Fixtures for the relay tests: the real app on a test server, sessions, and agents through `/ws`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.config import Settings
from tools.sipload import agents
from tools.sipload.ua import Agent

from .helpers import new_username, session_query


@pytest.fixture
def relay_settings(stack_env: dict[str, str], make_settings) -> Settings:
    return make_settings(stack_env)


@pytest.fixture
async def relay(aiohttp_client, relay_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(relay_settings))


@pytest.fixture
def local_settings(make_settings) -> Settings:
    """Settings that need no running component: for what the relay decides before reaching the PBX."""
    return make_settings()


@pytest.fixture
async def local_relay(aiohttp_client, local_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(local_settings))


ConnectAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def connect(relay: TestClient, relay_settings: Settings, stack_env) -> AsyncIterator[ConnectAgent]:
    """`await connect(username)`: an agent on its own /ws session (registered unless register=False)."""
    opened: list[Agent] = []
    password_secret = agents.agent_secret(stack_env["AUTH_KEY_SECRET"])

    async def open_agent(username: str | None = None, *, register: bool = True, expire_date: str | None = None,
                         password: str | None = None) -> Agent:
        username = username or new_username()
        query = session_query(relay_settings.auth_key_secret, username, expire_date)
        ws = await relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",))
        agent = Agent(ws, username, password or agents.agent_password(password_secret, username), timeout=5)
        agent.start()
        opened.append(agent)
        if register:
            await agent.register()
        return agent

    yield open_agent
    for agent in opened:
        if not agent.ws.closed:
            await agent.close()
