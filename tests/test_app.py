"""The app factory, health, metrics and the error middleware; readiness against the real database."""

import pytest

from service.app import create_app

# Nothing listens on port 1: the app starts, and only readiness notices.
NO_DATABASE = {"DATABASE_URL": "mysql://nobody:x@127.0.0.1:1/none"}


@pytest.mark.stack
async def test_healthz_and_readyz(aiohttp_client, make_settings, db_config) -> None:
    client = await aiohttp_client(create_app(make_settings(database=db_config)))
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["status"] == 200
    resp = await client.get("/readyz")
    body = await resp.json()
    assert body["checks"]["database"] == "ok"


async def test_readyz_names_the_failing_part(aiohttp_client, make_settings) -> None:
    settings = make_settings(NO_DATABASE)
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["database"].startswith("database unreachable")
    assert "database" in body["message"]


async def test_unknown_route_is_json_404(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(NO_DATABASE)))
    resp = await client.get("/no/such/thing")
    assert resp.status == 404
    assert (await resp.json()) == {"message": "not found", "status": 404}


async def test_metrics_is_prometheus_text(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(NO_DATABASE)))
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert "archive_requests_total" in text and "sip_relay_sessions_active" in text
    assert "_created" not in text  # one series per counter, not two
