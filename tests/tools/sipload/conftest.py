"""The real app on a test server, for the load tester to drive."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app


@pytest.fixture
async def relay(aiohttp_client, stack_env: dict[str, str], make_settings) -> TestClient:
    return await aiohttp_client(create_app(make_settings(stack_env)))
