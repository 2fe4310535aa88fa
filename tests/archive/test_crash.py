"""SIGKILL of the service in the middle of archiving loses no lead, and the same requests sent again finish.

The service runs as `python -m service serve` (a process of its own, so it can really be killed) on the test
database. It is killed the moment the archive table shows the first copied rows while every lead is still in
vicidial_list: between a request's insert and its delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from urllib.parse import quote

import aiohttp
import pytest

from .conftest import AUTH, KEY_ENTRY, PATH, ArchiveDb, body

pytestmark = pytest.mark.stack

REQUESTS, BATCH = 8, 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service(db: ArchiveDb, stack_env: dict[str, str], port: int) -> subprocess.Popen:
    c = db.config
    env = {**os.environ, **stack_env, "HOST": "127.0.0.1", "PORT": str(port), "ARCHIVE_API_KEYS": KEY_ENTRY,
           "OFFICE_HOURS": "none", "OFFICE_HOURS_TZ": "UTC", "TURN_CLI": "",
           "DATABASE_URL": f"mysql://{quote(c.user, safe='')}:{quote(c.password, safe='')}"
                           f"@{c.host}:{c.port}/{c.database}"}
    return subprocess.Popen([sys.executable, "-m", "service", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def _until_healthy(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        assert proc.poll() is None, "the service exited at start-up"
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not answer /healthz within 30 s")


def _no_lead_lost(db: ArchiveDb, before: dict[int, tuple]) -> tuple[int, int]:
    """Every lead is still in vicidial_list as it was, or in the archive as it was (or both): (live, archived)."""
    live, archive = db.snapshot()
    for lead_id, row in before.items():
        assert lead_id in live or lead_id in archive, f"lead {lead_id} is in neither table"
        if lead_id in archive:
            assert archive[lead_id] == row, f"lead {lead_id}'s archive copy differs"
        if lead_id in live:
            assert live[lead_id] == row, f"lead {lead_id} changed in vicidial_list"
    return len(live), len(archive)


async def test_sigkill_between_copy_and_delete_loses_no_lead(fresh_db, stack_env):
    ids = fresh_db.add_leads(REQUESTS * BATCH)
    before = fresh_db.live()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    batches = [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]
    async with aiohttp.ClientSession() as session:
        proc = _service(fresh_db, stack_env, port)
        try:
            await _until_healthy(session, base, proc)
            sent = [asyncio.ensure_future(session.post(f"{base}{PATH}", data=body(b), headers=AUTH)) for b in batches]
            # The event: the first archive rows exist (counted on one connection, so each look is quick).
            with fresh_db.connect() as conn, conn.cursor() as cur:
                for _ in range(100000):
                    cur.execute("SELECT (SELECT COUNT(*) FROM vicidial_list_archive),"
                                " (SELECT COUNT(*) FROM vicidial_list)")
                    archived, live = cur.fetchone()
                    conn.commit()
                    if archived:
                        break
                    await asyncio.sleep(0)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert archived > 0 and live > 0, "the kill came before the first copy or after the last delete"
            for future in sent:
                with contextlib.suppress(aiohttp.ClientError):  # the kill cut it, as intended
                    (await future).release()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        live_after, _ = _no_lead_lost(fresh_db, before)
        assert live_after > 0  # the work was cut short, yet every lead is somewhere, whole

        # A new service process finishes the work: the leads still in vicidial_list, asked for again.
        remaining = sorted(fresh_db.live())
        proc = _service(fresh_db, stack_env, port)
        try:
            await _until_healthy(session, base, proc)
            for batch in (remaining[i:i + BATCH] for i in range(0, len(remaining), BATCH)):
                async with session.post(f"{base}{PATH}", data=body(batch), headers=AUTH) as response:
                    answer = await response.json()
                    assert response.status == 200 and answer["delete_count"] == len(batch), answer
        finally:
            proc.terminate()
            proc.wait(30)
    assert _no_lead_lost(fresh_db, before) == (0, len(ids))
