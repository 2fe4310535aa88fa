"""Wires the archive and dearchive APIs into the app: state, metrics, readiness checks and routes."""

from __future__ import annotations

from aiohttp import web

from .. import db
from ..appkeys import DB_POOL, METRICS_REGISTRY, READINESS_CHECKS, SETTINGS
from . import call_times, handler, schema
from .direction import DIRECTIONS
from .errors import SchemaMismatch
from .office_hours import ViciDialCallTime
from .openapi import PATH, PATHS


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    schedule = settings.office_hours
    app[handler.ARCHIVE_STATE] = handler.ArchiveState(
        keys=settings.archive_api_keys,
        office_hours=schedule,
        zone=settings.office_hours_tz,
        metrics=handler.ArchiveMetrics(app[METRICS_REGISTRY]),
        max_leads=settings.archive_max_leads,
    )
    app[READINESS_CHECKS]["archive_table"] = _archive_table_ready
    if isinstance(schedule, ViciDialCallTime):
        app[READINESS_CHECKS]["office_hours"] = _call_time_ready
    for direction in DIRECTIONS:
        app.router.add_post(PATHS[direction], handler.handler(direction))
    app.router.add_get(f"{PATH}/openapi.json", handler.openapi)


async def _archive_table_ready(app: web.Application) -> str | None:
    """Readiness: vicidial_list_archive exists and matches vicidial_list."""
    try:
        async with db.connection(app[DB_POOL]) as conn:
            schema.matching_columns(await schema.read_tables(conn))
    except SchemaMismatch as exc:
        return exc.message
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said in words
        return f"cannot read the archive tables: {type(exc).__name__}: {exc}"
    return None


async def _call_time_ready(app: web.Application) -> str | None:
    """Readiness: the ViciDial call time OFFICE_HOURS names exists."""
    state = app[handler.ARCHIVE_STATE]
    assert isinstance(state.office_hours, ViciDialCallTime)
    try:
        async with db.connection(app[DB_POOL]) as conn:
            await call_times.load_call_time(conn, state.office_hours.call_time_id, state.now().date())
    except call_times.CallTimeNotFound as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001
        return f"cannot read vicidial_call_times: {type(exc).__name__}: {exc}"
    return None
