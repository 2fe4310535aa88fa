"""Liveness and readiness. Each part of the service registers its own readiness check."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .appkeys import READINESS_CHECKS
from .errors import json_response

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response(200, {"message": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS_CHECKS]
    names = list(checks)
    results = await asyncio.gather(*(checks[name](request.app) for name in names))
    parts = {name: (reason or "ok") for name, reason in zip(names, results, strict=True)}
    failing = [name for name, reason in zip(names, results, strict=True) if reason]
    if failing:
        return json_response(503, {"message": f"not ready: {', '.join(failing)}", "checks": parts})
    return json_response(200, {"message": "ready", "checks": parts})
