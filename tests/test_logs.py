"""service.logs: both formats, the request context, and the redaction every line goes through."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web

from service import logs
from tests.service_process import service_process


@pytest.mark.parametrize(("text", "kept", "gone"), [
    ("GET /ws?auth_key=abc&user_id=3 HTTP/1.1", "GET /ws?", "auth_key=abc"),
    ("bytearray(b'/x?password=hunter2&a=1')", "/x?", "hunter2"),
    ("Authorization: Key=s3cret\r\nHost: x", "Host: x", "s3cret"),
    ("b'Authorization: Digest username=\"a\", response=\"f00\"'", "Authorization: ", "f00"),
    ("headers {'Key=abc123'}", "Key=", "abc123"),
    ("url=%2Fws%3Fauth_key%3Dabc", "url=", "abc"),
])
def test_redact_removes_secrets_and_query_strings(text: str, kept: str, gone: str) -> None:
    out = logs.redact(text)
    assert kept in out and gone not in out and logs.REDACTED in out


def test_redact_keeps_an_ordinary_line() -> None:
    line = 'archive key=crm-nightly ids=3 status=200 "POST /vicidial/leads/archive" 12.5ms'
    assert logs.redact(line) == line


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("service.test", logging.WARNING, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_json_is_one_object_with_the_fields_and_context() -> None:
    line = logs.JsonFormatter().format(_record("refused /ws?auth_key=x", status=401, route="/ws", duration=0.01))
    entry = json.loads(line)
    assert set(entry) == {"ts", "level", "logger", "message", "context"} and "\n" not in line
    assert (entry["level"], entry["logger"]) == ("warning", "service.test")
    assert entry["message"] == f"refused /ws?{logs.REDACTED}"
    assert entry["context"] == {"status": 401, "route": "/ws", "duration": 0.01}
    assert entry["ts"].endswith("Z") and entry["ts"][10] == "T"


def test_json_carries_a_redacted_exception() -> None:
    try:
        raise ValueError("bad line b'GET /?password=pw1 HTTP/1.1'")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    entry = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError" in entry["exception"] and "pw1" not in entry["exception"]


def test_text_appends_the_context() -> None:
    line = logs.TextFormatter().format(_record("closing session", customer_id=7, user_id=1001))
    assert line.endswith("service.test: closing session customer_id=7 user_id=1001")


async def test_the_middleware_gives_lines_inside_a_request_its_route_and_bound_ids(aiohttp_client) -> None:
    seen: list[dict[str, object]] = []

    async def handler(request: web.Request) -> web.Response:
        logs.bind(customer_id=7, user_id=1001)
        seen.append(logs.context_of(_record("inside")))
        return web.Response(text="ok")

    app = web.Application(middlewares=[logs.context_middleware])
    app.router.add_get("/agents/{user}", handler)
    client = await aiohttp_client(app)
    assert (await client.get("/agents/1001?auth_key=x")).status == 200
    assert seen == [{"route": "/agents/{user}", "customer_id": 7, "user_id": 1001}]
    assert logs.context_of(_record("outside")) == {}


def test_text_escapes_control_characters_in_arguments_and_context_but_keeps_its_own_line() -> None:
    record = logging.LogRecord("service", logging.INFO, __file__, 1, "user %s sent %r", ("a\nb", "\x1b[2J\x85"),
                               None)
    record.route = "/x\r\ny"
    line = logs.TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x85" not in line
    assert "user a\\nb sent '\\x1b[2J\\x85'" in line and line.endswith(" route=/x\\r\\ny")
    assert record.args == ("a\nb", "\x1b[2J\x85")  # the record is left as it was for other handlers


FORGED_LINE = "2026-12-07 09:00:00,000 INFO [1] service.archive: archive key=admin"


@pytest.mark.parametrize(("path", "escaped"), [
    ("/nope%0A" + FORGED_LINE.replace(" ", "%20"), "/nope\\n" + FORGED_LINE),
    ("/nope%0D%0A" + FORGED_LINE.replace(" ", "%20"), "/nope\\r\\n" + FORGED_LINE),
    ("/nope%1B[2J%1B]0;owned%07", "/nope\\x1b[2J\\x1b]0;owned\\x07"),
])
async def test_a_request_path_stays_inside_its_access_log_line(path, escaped) -> None:
    async with service_process() as service:
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert (await reader.readline()).startswith(b"HTTP/1.1 404")
        writer.close()
        await service.wait_log(f'"GET {escaped}" 404')
    lines = service.log.splitlines()
    assert not any(line.startswith(FORGED_LINE) for line in lines)
    assert "\x1b" not in service.log and "\x07" not in service.log
