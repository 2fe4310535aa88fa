"""The HTTP edge of the archive API: unpack the request, call the core, answer in the documented shape.

Checks run in the order of README's "Order of checks": API key (401), office hours (403), body (the 400s and
the 500 for a body that is not a JSON object), then the work. Every answer carries "status"; each request
logs one line with the key's name (never the key), how many ids, the counts and the time taken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from typing import Any

import pymysql
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from .. import db
from ..appkeys import DB_POOL
from ..config import ApiKeyEntry
from ..errors import json_response
from . import api_keys, archiver, call_times, office_hours
from .errors import ArchiveError, OfficeHoursUnknown, UnreadableBody
from .openapi import document
from .request import parse_request

log = logging.getLogger("service.archive")

UNAUTHORIZED = "unable to validate api user"
OFFICE_HOURS = "api cannot be executed during office hours time condition"


class ArchiveMetrics:
    """The archive API's Prometheus metrics, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("archive_requests", "Archive API requests by HTTP status",
                                ["status"], registry=registry)
        self.leads = Counter("archive_leads", "Leads handled by the archive API, by what happened to them",
                             ["action"], registry=registry)
        self.retries = Counter("archive_retries", "Archive attempts run again after a deadlock or lock wait",
                               registry=registry)
        self.seconds = Histogram("archive_request_seconds", "Archive API request time",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=registry)


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveState:
    keys: tuple[ApiKeyEntry, ...]
    office_hours: office_hours.OfficeHours
    zone: dt.tzinfo | None  # None: the machine's local zone
    metrics: ArchiveMetrics

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.zone) if self.zone else dt.datetime.now().astimezone()


ARCHIVE_STATE = web.AppKey("archive_state", ArchiveState)


@dataclasses.dataclass(slots=True)
class _Outcome:
    """What the request's log line and metrics report."""

    key_name: str = "-"
    ids: int | None = None
    status: int = 500
    detail: str = ""


async def archive(request: web.Request) -> web.Response:
    state = request.app[ARCHIVE_STATE]
    started = time.perf_counter()
    outcome = _Outcome()
    try:
        status, body = await _archive(request, state, outcome)
        outcome.status = status
        return _answer(status, body)
    except web.HTTPException as exc:  # e.g. 413 for a body over the app's client_max_size
        outcome.status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        state.metrics.requests.labels(str(outcome.status)).inc()
        state.metrics.seconds.observe(elapsed)
        log.info("archive key=%s ids=%s status=%s %s ms=%.1f", outcome.key_name,
                 "-" if outcome.ids is None else outcome.ids, outcome.status, outcome.detail, elapsed * 1000)


async def _archive(request: web.Request, state: ArchiveState, outcome: _Outcome) -> tuple[int, dict[str, Any]]:
    name = api_keys.key_name(request.headers.get("Authorization"), state.keys)
    if name is None:
        outcome.detail = "message=" + json.dumps(UNAUTHORIZED)
        return 401, {"message": UNAUTHORIZED}
    outcome.key_name = name
    pool = request.app[DB_POOL]
    try:
        if await _in_office_hours(state, pool):
            outcome.detail = "message=" + json.dumps(OFFICE_HOURS)
            return 403, {"message": OFFICE_HOURS}
        archive_request = parse_request(await _read_body(request))
        outcome.ids = len(archive_request.lead_ids)
        result = await archiver.archive_leads(pool, archive_request)
    except ArchiveError as exc:
        outcome.detail = "message=" + json.dumps(exc.message, ensure_ascii=False)
        return exc.status, exc.body()
    except pymysql.err.MySQLError as exc:
        log.warning("archive database error: %r", exc)
        message = (f"database error: {_driver_message(exc)}; no lead was deleted without a matching archive copy,"
                   " and the request can be sent again")
        outcome.detail = "message=" + json.dumps(message, ensure_ascii=False)
        return 500, {"message": message, "lead_errors": 0, "lead_ids": []}
    metrics = state.metrics
    metrics.retries.inc(result.attempts - 1)
    for action, count in (("selected", result.select_count), ("inserted", result.insert_count),
                          ("updated", result.update_count), ("deleted", result.delete_count),
                          ("not_deleted", len(result.not_deleted_lead_ids))):
        metrics.leads.labels(action).inc(count)
    outcome.detail = (f"select={result.select_count} insert={result.insert_count} update={result.update_count}"
                      f" delete={result.delete_count} not_deleted={len(result.not_deleted_lead_ids)}"
                      + (f" attempts={result.attempts}" if result.attempts > 1 else ""))
    return 200, result.body()


async def _in_office_hours(state: ArchiveState, pool: Any) -> bool:
    schedule = state.office_hours
    now = state.now()
    if isinstance(schedule, office_hours.Never):
        return False
    if isinstance(schedule, office_hours.WeeklySchedule):
        return schedule.is_office_hours(now)
    async with db.connection(pool) as conn:
        try:
            call_time, holidays = await call_times.load_call_time(conn, schedule.call_time_id, now.date())
        except call_times.CallTimeNotFound as exc:
            raise OfficeHoursUnknown(str(exc)) from None
    return office_hours.call_time_is_open(call_time, holidays, now)


async def _read_body(request: web.Request) -> bytes:
    """The body's bytes; one aiohttp cannot read (a bad Content-Encoding, cut short) is the documented 500."""
    try:
        return await request.read()
    except web.RequestPayloadError as exc:
        # aiohttp's own wording is on the cause; the wrapper's text repeats "400, message:" before it.
        detail = getattr(exc.__cause__, "message", None) or str(exc)
        raise UnreadableBody(f"request body cannot be read: {detail}") from None


def _driver_message(exc: pymysql.err.MySQLError) -> str:
    if len(exc.args) >= 2:
        return f"({exc.args[0]}) {exc.args[1]}"
    return str(exc) or type(exc).__name__


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    try:
        return json_response(status, body)
    except UnicodeEncodeError:
        # Values reported back as given may hold lone surrogates ("\ud800"), which UTF-8 cannot carry;
        # JSON's \u escapes can.
        return web.Response(status=status, text=json.dumps({**body, "status": status}),
                            content_type="application/json")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
