"""Sessions per process: the service's memory (RSS) and CPU at 1,000, 5,000 and 10,000 idle registered agents.

One `python -m service serve` in front of a Kamailio of its own (sized for the run: shared memory and
tcp_max_connections), and this process as the agents: each opens its WebSocket through the service, registers
with digest auth, then idles as the page does, sending a CRLF keep-alive every 24-30 s (SIP.js 0.15's
keepAliveInterval of 30 s, randomised down to 80 %), which Kamailio answers; Kamailio also pings its leg
every 30 s. At each level, after every agent has registered: the service's RSS, its growth per session over
the idle process, and its CPU over WINDOW seconds (a whole keep-alive round).

Each session holds two descriptors in the service (browser and PBX legs), so a process needs `ulimit -n` of
twice the sessions and some: the benchmark raises its hard limit to that when it may; where the hard
limit stays lower the top level is as many sessions as it allows and the table says so. Target: 10,000 idle
sessions within 250 MB RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp

from service.sip_proxy.links import session_query
from tools.sipload import agents
from tools.sipload.ua import Agent

from . import stack
from .relay import cpu_seconds, free_port, rss_bytes

LEVELS = (1000, 5000, 10000)
WINDOW = 30.0
KEEPALIVE_S = 30.0  # static/js/phone-rules.js KEEPALIVE_S
CONNECT_CONCURRENCY = 50
TARGET_RSS_MB = 250
SPARE_DESCRIPTORS = 200  # the service's own: listening socket, epoll, database pool, logs


class IdleAgent:
    """A registered agent that does nothing but the page's keep-alives."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.keepalives = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._keepalives())

    async def _keepalives(self) -> None:
        while not self.agent.closed.is_set():
            await asyncio.sleep(KEEPALIVE_S * (0.8 + 0.2 * random.random()))
            await self.agent.ws.send_str("\r\n\r\n")
            self.keepalives += 1

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.agent.close()


class Agents:
    def __init__(self, env: dict[str, str], url: str) -> None:
        self.secret = env["AUTH_KEY_SECRET"]
        self.passwords = agents.agent_secret(self.secret)
        self.url = url
        self.expire_date = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.first = 400000 + secrets.randbelow(100) * 1000
        self.open: list[IdleAgent] = []
        self.errors = 0

    async def add(self, http: aiohttp.ClientSession, count: int) -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        start = len(self.open)

        async def one(index: int) -> None:
            username = str(self.first + index)
            query = urlencode(session_query(self.secret, customer_id=1, user_id=int(username), username=username,
                                            expire_date=self.expire_date))
            async with gate:
                ws = await http.ws_connect(f"{self.url}?{query}", protocols=("sip",), compress=0)
                agent = Agent(ws, username, agents.agent_password(self.passwords, username), timeout=30)
                agent.start()
                await agent.register()
            idle = IdleAgent(agent)
            idle.start()
            self.open.append(idle)

        outcomes = await asyncio.gather(*(one(start + i) for i in range(count)), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {count} agents did not register: {failures[0]!r}")

    def alive(self) -> int:
        return sum(1 for a in self.open if not a.agent.closed.is_set())

    async def close(self) -> None:
        await asyncio.gather(*(a.close() for a in self.open), return_exceptions=True)


async def active_sessions(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("sip_relay_sessions_active "):
                return int(float(line.split()[1]))
    raise RuntimeError("/metrics has no sip_relay_sessions_active")


def raise_nofile(wanted: int) -> int:
    """Raise the hard `ulimit -n` to `wanted` if it is lower and this process may (CAP_SYS_RESOURCE, which root
    usually has; up to fs.nr_open); the hard limit after trying."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        with contextlib.suppress(ValueError, OSError):  # not allowed here: the top level is lowered instead
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def levels() -> tuple[list[int], int]:
    """The levels to measure, the top one lowered to what `ulimit -n` allows the service (raised first if this
    process may); and that limit."""
    hard = raise_nofile(2 * max(LEVELS) + SPARE_DESCRIPTORS)
    most = (hard - SPARE_DESCRIPTORS) // 2
    return [min(level, most) for level in LEVELS], hard


async def main() -> dict:
    import uvloop

    if not isinstance(asyncio.get_running_loop(), uvloop.Loop):
        return await asyncio.to_thread(uvloop.run, main())
    import devstack.__main__ as devstack_main

    env = devstack_main.up()
    wanted, hard = levels()
    # The service inherits this process' limits: raise the soft one to the hard one (the agents need it too).
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rows: list[dict] = []
    async with stack.own_kamailio(env, max(wanted)) as pbx, stack.service(env, port, pbx.url) as proc:
        print(f"one service process (pid {proc.pid}) in front of its own Kamailio ({pbx.shm_mb} MB shared memory, "
              f"tcp_max_connections {pbx.max_connections}); agents register, then send the page's CRLF keep-alive "
              f"every {KEEPALIVE_S * 0.8:.0f}-{KEEPALIVE_S:.0f} s; CPU over {WINDOW:.0f} s at each level; "
              f"ulimit -n {hard}",
              flush=True)
        population = Agents(env, f"ws://127.0.0.1:{port}/ws")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            try:
                warm = Agents(env, population.url)
                warm.first = population.first + 90000
                await warm.add(http, 20)
                await warm.close()
                await asyncio.sleep(1.0)
                idle_rss = rss_bytes([proc.pid])
                print(f"{'sessions':>9} {'open s':>7} {'RSS MB':>7} {'KB/session':>11} {'CPU %':>6} "
                      f"{'CPU ms/s per 1k':>16} {'keep-alives/s':>14} {'Kamailio shm MB':>16}", flush=True)
                for level in wanted:
                    t0 = time.monotonic()
                    await population.add(http, level - len(population.open))
                    opened = time.monotonic() - t0
                    await asyncio.sleep(2.0)  # the last registrations' work done
                    sent0 = sum(a.keepalives for a in population.open)
                    cpu0, w0 = cpu_seconds([proc.pid]), time.monotonic()
                    await asyncio.sleep(WINDOW)
                    cpu = cpu_seconds([proc.pid]) - cpu0
                    window = time.monotonic() - w0
                    sent = sum(a.keepalives for a in population.open) - sent0
                    rss = rss_bytes([proc.pid])
                    active = await active_sessions(http, base)
                    if active != level or population.alive() != level:
                        raise RuntimeError(f"{level} sessions opened but {active} active in the service, "
                                           f"{population.alive()} alive here")
                    row = {
                        "sessions": level, "open_seconds": round(opened, 1), "rss_mb": round(rss / 2**20, 1),
                        "kb_per_session": round((rss - idle_rss) / level / 1024, 1),
                        "cpu_percent": round(100 * cpu / window, 2),
                        "cpu_ms_per_s_per_1000": round(1000 * cpu / window / (level / 1000), 3),
                        "keepalives_per_s": round(sent / window, 1),
                        "kamailio_shm_mb": pbx.shm_used_mb(),
                    }
                    rows.append(row)
                    print(f"{row['sessions']:>9} {row['open_seconds']:>7.1f} {row['rss_mb']:>7.1f} "
                          f"{row['kb_per_session']:>11.1f} {row['cpu_percent']:>6.2f} "
                          f"{row['cpu_ms_per_s_per_1000']:>16.3f} "
                          f"{row['keepalives_per_s']:>14.1f} {row['kamailio_shm_mb'] or 0:>16.1f}", flush=True)
            finally:
                await population.close()
    top = rows[-1]
    projected = idle_rss / 2**20 + top["kb_per_session"] * 10000 / 1024
    measured_10k = top["sessions"] >= 10000
    verdict = "ok" if projected <= TARGET_RSS_MB else "MISSED"
    if measured_10k:
        print(f"10,000 idle sessions: {top['rss_mb']:.0f} MB RSS (target <= {TARGET_RSS_MB}: {verdict})")
    else:
        print(f"10,000 idle sessions: not reachable here (ulimit -n hard limit {hard} allows {top['sessions']}); "
              f"at {top['kb_per_session']:.1f} KB each over the idle {idle_rss / 2**20:.0f} MB: {projected:.0f} MB RSS "
              f"projected (target <= {TARGET_RSS_MB}: {verdict})")
    return {"window_s": WINDOW, "keepalive_s": KEEPALIVE_S, "nofile_hard_limit": hard,
            "idle_process_rss_mb": round(idle_rss / 2**20, 1), "levels": rows,
            "rss_mb_at_10000": top["rss_mb"] if measured_10k else None,
            "rss_mb_at_10000_projected": round(projected, 1), "target_rss_mb": TARGET_RSS_MB}
