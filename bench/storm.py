"""Reconnect storm: AGENTS registered pages, the service restarted; how long until every page is registered again.

One `python -m service serve` in front of a Kamailio of our own; AGENTS simulated pages (the load tester's
`ReconnectingAgent`: TURN credentials, WebSocket, REGISTER, and after a loss the page's watchdog schedule).
Once all are registered the service is restarted as `systemctl restart` does it: SIGTERM (its sessions close
with 1001), wait for it to exit, start a new one on the same port. Measured from the SIGTERM: when the new
process listens, and when each page is registered again (p50/p95/max), with the page's jittered back-off and
with none (retry at once).

Then what bounds it, measured alone on fresh processes: the service's session-opening rate (TURN credentials
and the WebSocket with its upstream leg, for AGENTS pages at once) and Kamailio's REGISTER rate (AGENTS
connections straight to it, registering at once, digest included). Target: all registered within 10 s.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import subprocess
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp

from service.sip_proxy.links import session_query
from tools.sipload import agents
from tools.sipload.reconnect import SCHEDULES, ReconnectingAgent
from tools.sipload.ua import Agent

from . import stack
from .relay import cpu_seconds, free_port, wait_port

AGENTS = 1000
TARGET_S = 10.0
START_BATCH = 100
TIMEOUT_S = 120.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Population:
    def __init__(self, env: dict[str, str], first: int) -> None:
        self.secret = env["AUTH_KEY_SECRET"]
        self.passwords = agents.agent_secret(self.secret)
        self.turn_port = int(env.get("TURN_PORT") or 3478)
        self.expire_date = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.first = first

    def query(self, index: int) -> dict[str, str]:
        username = str(self.first + index)
        return session_query(self.secret, customer_id=1, user_id=int(username), username=username,
                             expire_date=self.expire_date)

    def password(self, index: int) -> str:
        return agents.agent_password(self.passwords, str(self.first + index))


def listens(pid: int, port: int) -> bool:
    """Does process `pid` itself hold a listening socket on `port` (/proc/net/tcp and its descriptors)?"""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link[8:-1] in inodes for link in links if link.startswith("socket:["))


async def storm(env: dict[str, str], upstream: str, schedule: str, first: int, rolling: bool = False) -> dict:
    """`rolling`: start the new process on the same port (SO_REUSEPORT) first, then SIGTERM the old one."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    population = Population(env, first)
    pages: list[ReconnectingAgent] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        old = await _start(env, port, upstream)
        new = None
        try:
            for start in range(0, AGENTS, START_BATCH):
                batch = [ReconnectingAgent(http, base, population.query(i), population.password(i), SCHEDULES[schedule],
                                           population.turn_port)
                         for i in range(start, min(AGENTS, start + START_BATCH))]
                for page in batch:
                    page.start()
                await asyncio.wait_for(asyncio.gather(*(p.registered.wait() for p in batch)), TIMEOUT_S)
                pages += batch
            attempts_before = sum(p.attempts for p in pages)
            if rolling:
                new = stack.spawn_service(env, port, upstream)
                while not listens(new.pid, port):
                    if new.poll() is not None:
                        raise RuntimeError(f"the new service exited with {new.returncode}")
                    await asyncio.sleep(0.05)
                t0 = time.monotonic()
                listening = 0.0
                await stack.stop(old)
                stopped = time.monotonic() - t0
            else:
                t0 = time.monotonic()
                await stack.stop(old)
                stopped = time.monotonic() - t0
                new = await _start(env, port, upstream)
                listening = time.monotonic() - t0

            back = await asyncio.wait_for(asyncio.gather(*(p.registered_after(t0) for p in pages)), TIMEOUT_S)
            times = [t - t0 for t in back]
            closed = max(p.lost_at for p in pages) - t0
            attempts = sum(p.attempts for p in pages) - attempts_before
            failures: dict[str, int] = {}
            for p in pages:
                for key, n in p.failures.items():
                    failures[key] = failures.get(key, 0) + n
        finally:
            await asyncio.gather(*(p.stop() for p in pages), return_exceptions=True)
            await stack.stop(old)
            if new is not None:
                await stack.stop(new)
    return {"schedule": schedule, "rolling": rolling, "agents": AGENTS,
            "all_closed_s": round(closed, 2), "old_exited_s": round(stopped, 2),
            "new_listening_s": round(listening, 2), "p50_s": round(pct(times, 50), 2),
            "p95_s": round(pct(times, 95), 2),
            "max_s": round(max(times), 2), "attempts": attempts, "attempt_failures": failures}


async def _start(env: dict[str, str], port: int, upstream: str) -> subprocess.Popen[bytes]:
    proc = stack.spawn_service(env, port, upstream)
    await wait_port(port, proc, "service")
    return proc


async def open_rate(env: dict[str, str], upstream: str, first: int) -> tuple[float, float]:
    """One fresh service, AGENTS pages at once (TURN credentials, then /ws): sessions opened per second, and the
    service's CPU milliseconds per session opened."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    population = Population(env, first)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http, \
            stack.service(env, port, upstream) as proc:

        async def one(i: int) -> None:
            query = urlencode(population.query(i))
            async with http.get(f"{base}/webphone/turn-credentials?{query}") as resp:
                await resp.read()
            ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws?{query}", protocols=("sip",), compress=0)
            sockets.append(ws)
            await ws.send_str("\r\n\r\n")  # answered by Kamailio: the upstream leg is up
            await ws.receive()

        t0, cpu0 = time.monotonic(), cpu_seconds([proc.pid])
        await asyncio.gather(*(one(i) for i in range(AGENTS)))
        elapsed, cpu = time.monotonic() - t0, cpu_seconds([proc.pid]) - cpu0
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return AGENTS / elapsed, 1000 * cpu / AGENTS


async def register_rate(env: dict[str, str], upstream: str, first: int) -> float:
    """REGISTERs (with their 401 round) per second that Kamailio completes, AGENTS connections at once."""
    population = Population(env, first)
    opened: list[Agent] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            for i in range(AGENTS):
                ws = await http.ws_connect(upstream, protocols=("sip",), compress=0)
                agent = Agent(ws, str(first + i), population.password(i), timeout=60)
                agent.start()
                opened.append(agent)
            t0 = time.monotonic()
            await asyncio.gather(*(a.register() for a in opened))
            elapsed = time.monotonic() - t0
        finally:
            await asyncio.gather(*(a.close() for a in opened), return_exceptions=True)
    return AGENTS / elapsed


async def main() -> dict:
    import uvloop

    if not isinstance(asyncio.get_running_loop(), uvloop.Loop):
        return await asyncio.to_thread(uvloop.run, main())
    import devstack.__main__ as devstack_main

    env = devstack_main.up()
    first = 500000 + secrets.randbelow(50) * 10000
    async with stack.own_kamailio(env, 4 * AGENTS) as pbx:
        print(f"{AGENTS:,} simulated pages through one service process to a Kamailio of our own; the service "
              f"restarted (SIGTERM, exit, start; or rolling: start a second one on the port, then SIGTERM the first); "
              f"seconds from the SIGTERM", flush=True)
        rows = []
        for i, (schedule, rolling) in enumerate((("page", False), ("none", False), ("page", True))):
            rows.append(await storm(env, pbx.url, schedule, first + (4 + i) * AGENTS, rolling))
        opens, open_cpu_ms = await open_rate(env, pbx.url, first + 2 * AGENTS)
        registers = await register_rate(env, pbx.url, first + 3 * AGENTS)
    print(f"{'back-off':<22} {'closed':>6} {'old gone':>8} {'new up':>7} {'p50':>6} {'p95':>6} {'max':>6} "
          f"{'attempts':>9}  "
          "failed attempts")
    for row in rows:
        label = "page (0.5 s x2, +-20%)" if row["schedule"] == "page" else "none (retry at once)"
        if row["rolling"]:
            label = "page, rolling restart"
        failed = ", ".join(f"{k} {v}" for k, v in sorted(row["attempt_failures"].items())) or "-"
        print(f"{label:<22} {row['all_closed_s']:>6.2f} {row['old_exited_s']:>8.2f} {row['new_listening_s']:>7.2f} "
              f"{row['p50_s']:>6.2f} "
              f"{row['p95_s']:>6.2f} {row['max_s']:>6.2f} {row['attempts']:>9}  {failed}")
    print(f"bounds, each measured alone: the service opens {opens:,.0f} sessions/s (TURN credentials + /ws with its "
          f"upstream leg, {AGENTS:,} at once) at {open_cpu_ms:.2f} ms of its CPU each, i.e. at most "
          f"{1000 / open_cpu_ms:,.0f}/s per core; Kamailio completes {registers:,.0f} REGISTERs/s "
          f"(digest, {AGENTS:,} at once)")
    page = rows[0]
    print(f"all {AGENTS:,} registered again within {page['max_s']:.1f} s with the page's back-off "
          f"(target <= {TARGET_S:.0f}: {'ok' if page['max_s'] <= TARGET_S else 'MISSED'})")
    return {"agents": AGENTS, "storms": rows, "service_sessions_opened_per_s": round(opens, 1),
            "service_cpu_ms_per_session_opened": round(open_cpu_ms, 3),
            "kamailio_registers_per_s": round(registers, 1), "target_s": TARGET_S}
