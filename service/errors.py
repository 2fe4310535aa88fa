"""Domain errors and the one middleware that turns every error into a JSON answer."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("service.errors")


class ApiError(Exception):
    """An error the handler wants answered as JSON with this status and body.

    Parts of the service raise their own domain errors; their handlers map them to `ApiError`
    (or a subclass) at the edge. The body always gains `"status": <code>`.
    """

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer carrying its HTTP code in the body, as the archive API's contract asks."""
    payload = {**body, "status": status}
    return web.Response(
        status=status,
        text=json.dumps(payload, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response(exc.status, exc.body, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json" or request.path.startswith("/static/"):
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return json_response(exc.status, {"message": exc.reason.lower()}, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(500, {"message": "internal error"})
