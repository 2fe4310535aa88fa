"""`python -m service serve` as a process: SIGTERM drains, a second instance takes the port over, SIGHUP
reloads the certificate; `--workers N` alike."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import signal
import ssl
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.service_process import SECRET, free_port, service_process
from tests.sip_proxy.helpers import new_username, session_query
from tools.sipload import agents
from tools.sipload.ua import Agent

ARCHIVE_KEY = "drain-test-archive-key-0123456789"
ARCHIVE_ENTRY = f"drain:{hashlib.sha256(ARCHIVE_KEY.encode()).hexdigest()}"


def _stack(stack_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The stack's database and PBX, under the test service's own secret."""
    return {"DATABASE_URL": stack_env["DATABASE_URL"], "SIP_UPSTREAM": stack_env.get("SIP_UPSTREAM", "ws://127.0.0.1:8088"),
            **extra}


async def _agent(http: aiohttp.ClientSession, base: str, stack_env: dict[str, str],
                 tls: ssl.SSLContext | None = None) -> Agent:
    username = new_username()
    query = session_query(SECRET, username)
    ws = await http.ws_connect(f"{base}/ws?{urlencode(query)}", protocols=("sip",), ssl=tls if tls else True)
    password = agents.agent_password(agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), username)
    agent = Agent(ws, username, password, timeout=5)
    agent.start()
    await agent.register()
    return agent


@pytest.mark.stack
async def test_sigterm_closes_sessions_1001_finishes_a_request_in_progress_and_exits_within_10_s(stack_env) -> None:
    env = _stack(stack_env, ARCHIVE_API_KEYS=ARCHIVE_ENTRY, LOG_FORMAT="json")
    async with service_process(env, ready="listening on") as service, aiohttp.ClientSession() as http:
        base = f"ws://127.0.0.1:{service.port}"
        sessions = [await _agent(http, base, stack_env) for _ in range(3)]
        # An archive request whose body is still arriving when SIGTERM comes.
        body = b'{"lead_ids": [999999991], "delete_leads": false}'
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        writer.write(b"POST /vicidial/leads/archive HTTP/1.1\r\nHost: x\r\nAuthorization: Key=" + ARCHIVE_KEY.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body[:10])
        await writer.drain()
        stopping = asyncio.create_task(service.stopped())
        await service.wait_log("stopping: no new connections")
        for agent in sessions:
            await asyncio.wait_for(agent.closed.wait(), 8)
            assert agent.ws.close_code == 1001
        writer.write(body[10:])
        answer = await asyncio.wait_for(reader.read(65536), 8)
        writer.close()
        code, seconds = await stopping
    assert answer.startswith(b"HTTP/1.1 ") and b'"status"' in answer, answer[:300]
    assert int(answer.split()[1]) < 500, answer[:300]
    assert code == 0 and seconds < 10, (code, seconds, service.log[-2000:])
    contexts = [json.loads(line)["context"] for line in service.log.splitlines()]
    ws_lines = [c for c in contexts if c.get("route") == "/ws"]
    assert {(c.get("customer_id"), c.get("user_id")) for c in ws_lines} >= {(1, int(a.username)) for a in sessions}
    archive = [c for c in contexts if c.get("route") == "/vicidial/leads/archive" and "status" in c]
    assert archive and archive[0]["duration"] > 0


async def _connect_loop(port: int, stop: asyncio.Event, outcomes: list[str], more: asyncio.Condition) -> None:
    """Open a connection and GET /healthz, over and over, until `stop`; each outcome is "ok" or the failure."""
    while not stop.is_set():
        async with more:
            more.notify_all()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(65536), 5)
            writer.close()
            outcomes.append("ok" if answer.startswith(b"HTTP/1.1 200") else f"answer {answer[:40]!r}")
        except (OSError, TimeoutError) as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")


async def test_a_second_instance_takes_the_port_over_with_no_refused_connection() -> None:
    port = free_port()
    async with service_process(port=port, ready="listening on") as old:
        stop, outcomes, more = asyncio.Event(), list[str](), asyncio.Condition()
        loop = asyncio.create_task(_connect_loop(port, stop, outcomes, more))
        async with service_process(port=port, ready="listening on") as new:
            before = len(outcomes)
            code, seconds = await old.stopped()
            assert code == 0 and seconds < 10
            after_old = len(outcomes)
            async with asyncio.timeout(10), more:  # the new instance alone answers these
                await more.wait_for(lambda: len(outcomes) >= after_old + 50)
            stop.set()
            await loop
            assert new.proc.returncode is None
    failures = [o for o in outcomes if o != "ok"]
    assert not failures, failures[:5]
    assert before > 0 and len(outcomes) >= after_old + 50


def _pair(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=DNS:localhost", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


async def _presented(port: int, *candidates: Path) -> str:
    """Which of the `candidates` (certificate files) a new TLS handshake on `port` presents (its file's stem)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return next((c.stem for c in candidates if ssl.PEM_cert_to_DER_cert(c.read_text()) == der), "another")


@pytest.mark.stack
@pytest.mark.parametrize("workers", [1, 2])
async def test_sighup_presents_the_new_certificate_while_an_open_session_stays(tmp_path, stack_env, workers) -> None:
    old_cert, old_key = _pair(tmp_path, "old")
    new_cert, new_key = _pair(tmp_path, "new")
    cert, key = tmp_path / "serving.pem", tmp_path / "serving.key"
    shutil.copy(old_cert, cert)
    shutil.copy(old_key, key)
    env = _stack(stack_env, TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    args = ("--workers", str(workers)) if workers > 1 else ()
    async with service_process(env, *args, ready="listening on") as service, aiohttp.ClientSession() as http:
        await service.wait_log("listening on", count=workers)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        agent = await _agent(http, f"wss://127.0.0.1:{service.port}", stack_env, tls=context)
        assert await _presented(service.port, old_cert, new_cert) == "old"
        shutil.copy(new_cert, cert)
        shutil.copy(new_key, key)
        service.signal(signal.SIGHUP)
        await service.wait_log("TLS pair reloaded", count=workers)
        for _ in range(4):  # with several workers, each new connection may land on any of them
            assert await _presented(service.port, old_cert, new_cert) == "new"
        await agent.register()  # the session opened under the old certificate still relays
        assert not agent.ws.closed
        code, seconds = await service.stopped()
    assert agent.ws.close_code == 1001
    assert code == 0 and seconds < 10


def _refusing_workers(log: str) -> set[str]:
    return set(re.findall(r"\[(\d+)\] aiohttp\.access: .*\"GET /ws\" 429", log))


@pytest.mark.stack
async def test_max_sessions_per_key_holds_across_the_workers(stack_env) -> None:
    """Connections spread over both workers (SO_REUSEPORT); the key's sessions are still capped at 2 in all: both
    workers refuse the key's third, whichever holds the two (one with fewer than 2 of its own refuses too)."""
    env = _stack(stack_env, MAX_SESSIONS_PER_KEY="2")
    # force_close: a refused handshake's connection is not kept alive for the next one (to the same worker).
    async with service_process(env, "--workers", "2", ready="listening on") as service, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        try:
            await service.wait_log("listening on", count=2)
            url = f"ws://127.0.0.1:{service.port}/ws?{urlencode(session_query(SECRET, new_username()))}"
            opened, refused = [], 0
            # Each connection comes from a new source port, which the kernel hashes to one of the two listeners.
            while len(_refusing_workers(service.log)) < 2 and refused < 64:
                try:
                    opened.append(await asyncio.wait_for(http.ws_connect(url, protocols=("sip",)), 10))
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 429
                    refused += 1
                    await service.wait_log('"GET /ws" 429', count=refused)
            assert len(opened) == 2 and len(_refusing_workers(service.log)) == 2
            await opened.pop().close()  # a session ends: its slot is free again, whichever worker asks
            await service.wait_log('"GET /ws" 101')  # its access line comes once its handler has finished
            opened.append(await asyncio.wait_for(http.ws_connect(url, protocols=("sip",)), 10))
            for ws in opened:
                await ws.close()
        finally:
            assert (await service.stopped())[0] == 0  # the workers too: a killed parent would leave them running
