"""The HTTP edge of the archive and dearchive APIs: unpack the request, call the core, answer in the documented shape.

Checks run in the order of README's "Order of checks": API key (401), office hours (403; the archive only), body
(the 400s and the 500 for a body that is not a JSON object), then the work. Every answer carries "status"; each request
logs one line with the key's name (never the key), how many ids, the counts and the time taken.

The body must arrive within `ArchiveState.body_timeout` seconds (a 408, and the connection is closed); a
client that goes away mid-body is a client abort: logged and counted as one, and answered to no one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pymysql
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from .. import db
from ..appkeys import DB_POOL
from ..config import ApiKeyEntry
from ..errors import json_response
from . import api_keys, archiver, call_times, office_hours
from .direction import Direction
from .errors import ArchiveError, BodyTimeout, OfficeHoursUnknown, UnreadableBody
from .openapi import document
from .request import MAX_LEAD_IDS, parse_request

log = logging.getLogger("service.archive")

UNAUTHORIZED = "unable to validate api user"
OFFICE_HOURS = "api cannot be executed during office hours time condition"
CLIENT_CLOSED_REQUEST = 499
BODY_TIMEOUT = 10.0
"""Seconds a client has to send the whole body once its headers are in."""
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ArchiveMetrics:
    """The archive and dearchive APIs' Prometheus metrics, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("archive_requests", "Archive and dearchive API requests by route and HTTP status",
                                ["route", "status"], registry=registry)
        self.client_aborts = Counter("archive_client_aborts",
                                     "Requests whose client went away before their answer, by route",
                                     ["route"], registry=registry)
        self.leads = Counter("archive_leads", "Leads handled, by direction and by what happened to them",
                             ["direction", "action"], registry=registry)
        self.retries = Counter("archive_retries", "Attempts run again after a deadlock or lock wait, by direction",
                               ["direction"], registry=registry)
        self.seconds = Histogram("archive_request_seconds", "Request time, by route", ["route"],
                                 buckets=_SECONDS_BUCKETS, registry=registry)
        self.batch_seconds = Histogram("archive_batch_seconds",
                                       "Time one batch of leads spent in the database (retries included), by direction",
                                       ["direction"], buckets=_SECONDS_BUCKETS, registry=registry)


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveState:
    keys: tuple[ApiKeyEntry, ...]
    office_hours: office_hours.OfficeHours
    zone: dt.tzinfo | None  # None: the machine's local zone
    metrics: ArchiveMetrics
    max_leads: int = MAX_LEAD_IDS
    body_timeout: float = BODY_TIMEOUT

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.zone) if self.zone else dt.datetime.now().astimezone()


ARCHIVE_STATE = web.AppKey("archive_state", ArchiveState)


class ClientAbort(Exception):
    """The client closed its connection before its body was read."""


@dataclasses.dataclass(slots=True)
class _Outcome:
    """What the request's log line and metrics report."""

    key_name: str = "-"
    ids: int | None = None
    status: int | str = 500
    detail: str = ""


def handler(direction: Direction) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The request handler that moves leads `direction`'s way."""

    async def handle(request: web.Request) -> web.Response:
        return await _handle(request, direction)

    handle.__name__ = direction.name
    return handle


async def _handle(request: web.Request, direction: Direction) -> web.Response:
    state = request.app[ARCHIVE_STATE]
    route = request.path
    started = time.perf_counter()
    outcome = _Outcome()
    try:
        status, body = await _serve(request, direction, state, outcome)
        outcome.status = status
        response = _answer(status, body)
        if status == BodyTimeout.status:
            response.force_close()  # the rest of the body is not waited for
        return response
    except ClientAbort:
        _client_abort(outcome, state, route)
        # The answer would reach no one; an empty one spares the error middleware a "500", and 499 (nginx's
        # "client closed request") is what the access log shows.
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    except asyncio.CancelledError:
        # A server started with handler_cancellation cancels the handler when its client leaves.
        if request.transport is None or request.transport.is_closing():
            _client_abort(outcome, state, route)
        raise
    except web.HTTPException as exc:  # e.g. 413 for a body over the app's client_max_size
        outcome.status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        if outcome.status != "client_abort":
            state.metrics.requests.labels(route, str(outcome.status)).inc()
        state.metrics.seconds.labels(route).observe(elapsed)
        log.info("%s key=%s ids=%s status=%s %s ms=%.1f", direction.name, outcome.key_name,
                 "-" if outcome.ids is None else outcome.ids, outcome.status, outcome.detail, elapsed * 1000)


def _client_abort(outcome: _Outcome, state: ArchiveState, route: str) -> None:
    outcome.status = "client_abort"
    outcome.detail = ("the client closed the connection before sending the whole body" if outcome.ids is None
                      else "the client closed the connection before its answer")
    state.metrics.client_aborts.labels(route).inc()


async def _serve(
    request: web.Request, direction: Direction, state: ArchiveState, outcome: _Outcome,
) -> tuple[int, dict[str, Any]]:
    name = api_keys.key_name(request.headers.get("Authorization"), state.keys)
    if name is None:
        outcome.detail = "message=" + json.dumps(UNAUTHORIZED)
        return 401, {"message": UNAUTHORIZED}
    outcome.key_name = name
    pool = request.app[DB_POOL]
    try:
        if direction.office_hours_apply and await _in_office_hours(state, pool):
            outcome.detail = "message=" + json.dumps(OFFICE_HOURS)
            return 403, {"message": OFFICE_HOURS}
        leads_request = parse_request(await _read_body(request, state.body_timeout), direction, state.max_leads)
        outcome.ids = len(leads_request.lead_ids)
        batch_started = time.perf_counter()
        result = await archiver.move_leads(pool, leads_request, direction)
        state.metrics.batch_seconds.labels(direction.name).observe(time.perf_counter() - batch_started)
    except ArchiveError as exc:
        outcome.detail = "message=" + json.dumps(exc.message, ensure_ascii=False)
        return exc.status, exc.body()
    except pymysql.err.MySQLError as exc:
        log.warning("%s database error: %r", direction.name, exc)
        message = (f"database error: {_driver_message(exc)}; no lead was deleted without a matching copy,"
                   " and the request can be sent again")
        outcome.detail = "message=" + json.dumps(message, ensure_ascii=False)
        return 500, {"message": message, "lead_errors": 0, "lead_ids": []}
    metrics = state.metrics
    metrics.retries.labels(direction.name).inc(result.attempts - 1)
    for action, count in _lead_counts(result):
        metrics.leads.labels(direction.name, action).inc(count)
    outcome.detail = _detail(result)
    return 200, result.body()


def _lead_counts(result: archiver.ArchiveResult) -> list[tuple[str, int]]:
    counts = [("selected", result.select_count), ("inserted", result.insert_count)]
    if result.direction.updates:
        counts.append(("updated", result.update_count))
    return [*counts, ("deleted", result.delete_count), ("not_deleted", len(result.not_deleted_lead_ids))]


def _detail(result: archiver.ArchiveResult) -> str:
    update = f" update={result.update_count}" if result.direction.updates else ""
    return (f"select={result.select_count} insert={result.insert_count}{update} delete={result.delete_count}"
            f" not_deleted={len(result.not_deleted_lead_ids)}"
            + (f" attempts={result.attempts}" if result.attempts > 1 else ""))


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


async def _read_body(request: web.Request, timeout: float) -> bytes:
    """The body's bytes within `timeout` seconds (else `BodyTimeout`); `ClientAbort` if the client leaves; one
    aiohttp cannot read (a bad Content-Encoding) is the documented 500."""
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise BodyTimeout(f"request body was not received within {timeout:g} s") from None
    except ConnectionResetError:
        raise ClientAbort from None
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
    return web.json_response(document(request.app[ARCHIVE_STATE].max_leads))
