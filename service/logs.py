"""Log lines: `LOG_FORMAT=text` or `json`, each with the request's context, and never a secret.

`json` writes one object a line: `ts`, `level`, `logger`, `message` and `context` (any of `route`, `status`,
`customer_id`, `user_id`, `duration`; plus `exception` when there is one). Context comes from the record's
`extra=` and from `bind()`, which the request middleware and the session handlers call, so a line logged deep in a
request still names it.

In `text`, every control character in a line's message (its arguments: paths, headers, SIP fields, usernames)
and context values is escaped (`escape`: CR, LF and TAB as `\\r`, `\\n`, `\\t`, the rest of C0, DEL, C1 and the
Unicode line separators as `\\xNN`/`\\uNNNN`), so a request can neither add a line nor send the terminal a
sequence; `json` escapes them by its nature. A traceback keeps its own lines.

Every line, in both formats and whoever logs it (the service, aiohttp's access and server loggers, asyncio), goes
through `redact`: query strings, `auth_key=`/`password=`/`secret=`/`key=` values and `Authorization` headers are
replaced before anything is written. The service never puts them in a message; this is the net under the
libraries.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

LogFormat = Literal["text", "json"]
CONTEXT_KEYS = ("route", "status", "customer_id", "user_id", "duration")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_context", default=None)

_SECRET_PARAM = re.compile(
    r"(?i)(auth_key|password|passwd|phone_pass|secret|system_key|api_key|token)(=|%3D)(?:(?!%26)[^&\s'\"\\])*")
_ARCHIVE_KEY = re.compile(r"\bKey=[^&\s'\"\\]*")  # the archive API's `Authorization: Key=...`, case as sent
_AUTHORIZATION = re.compile(r"(?i)(authorization|proxy-authorization)(\s*[:=]\s*)(?:(?!\\r|\\n)[^\r\n])*")
_QUERY = re.compile(r"(\?)[^\s'\"\\#]+")
REDACTED = "[redacted]"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape(text: str) -> str:
    """`text` with every control character written as an escape: one line, and nothing a terminal obeys."""
    return _CONTROL.sub(_escaped, text)


def redact(text: str) -> str:
    """`text` without query strings, secret parameters or Authorization values."""
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _ARCHIVE_KEY.sub(f"Key={REDACTED}", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def bind(**values: Any) -> None:
    """Add to the current request's log context (a no-op outside one)."""
    current = _context.get()
    if current is not None:
        current.update(values)


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    found = dict(_context.get() or {})
    for key in CONTEXT_KEYS:
        if hasattr(record, key):
            found[key] = getattr(record, key)
    return found


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Open the request's log context: its route (the path pattern, never the query string)."""
    info = request.match_info.route.resource
    _context.set({"route": info.canonical if info is not None else "-"})
    return await handler(request)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)  # the record itself goes on to other handlers unchanged
        safe.msg, safe.args = escape(record.getMessage()), None
        line = super().format(safe)
        context = context_of(record)
        if context:
            line += " " + " ".join(f"{k}={escape(str(v))}" for k, v in context.items())
        return redact(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "context": {k: redact(v) if isinstance(v, str) else v for k, v in context_of(record).items()},
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    """One handler on the root logger, to stderr, in `log_format`; replaces any earlier set-up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
