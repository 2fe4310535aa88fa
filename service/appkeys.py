"""Typed application state shared by every part of the service (`web.AppKey`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiomysql
from aiohttp import web
from prometheus_client import CollectorRegistry

from .config import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
DB_POOL = web.AppKey("db_pool", aiomysql.Pool)

ReadinessCheck = Callable[[web.Application], Awaitable[str | None]]
"""Returns None when its part is ready, else a short reason shown by /readyz."""
READINESS_CHECKS = web.AppKey("readiness_checks", dict[str, ReadinessCheck])
