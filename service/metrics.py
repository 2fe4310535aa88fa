"""Prometheus metrics: one registry per app, so tests and workers never share counters by accident."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, disable_created_metrics, generate_latest

from .appkeys import METRICS_REGISTRY

# `*_created` timestamps double every counter's series and tell an operator nothing a restart would not.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client 0.26.0

routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)
