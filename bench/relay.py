"""The signalling relay beside a bare 1:1 aiohttp relay, nginx, and Kamailio reached directly.

The relay runs twice: as `make` built it (compiled, service/compiled.py) and with OMNISENSE_PURE_PYTHON=1.
One run, same Kamailio, same load generator (this process, on uvloop, pinned to one core; the relays to the
other), REGISTER round trips with digest credentials: each round trip is two relayed messages, the REGISTER
(which the relay checks fully: start line and From/To) and its 200. Three interleaved rounds, medians:

1. CPU (user+system, from /proc/PID/task/*/schedstat) per 1,000 relayed messages, three ways: at full speed
   (a closed loop of CONCURRENCY connections), and at fixed offered loads of FIXED_RATE and RATE_MSGS
   messages/s. Full speed flatters whichever path is fastest (more messages per event-loop wake-up), so the
   fixed loads compare like with like.
2. Latency at RATE_MSGS messages/s: p50/p99 round trip, and the p99 added over Kamailio direct.
3. Memory: IDLE_SESSIONS WebSockets opened through each relay and left idle; RSS growth per session (both legs).

Targets: CPU <= 1.3x nginx (aim: 1.2x) at RATE_MSGS messages/s and at full speed; added p99 <= 0.3 ms;
<= 20 KB per idle session. The relay runs compiled (service/compiled.py) when `make` built it; the table says.
The load generator, the relays and Kamailio share this machine's cores, so absolute figures are floors.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from devstack import procs
from service import COMPILED, compiled

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 50
CPU_SECONDS = 4.0
RATE_MSGS = 2000
FIXED_RATE = 10000
LATENCY_SECONDS = 5.0
IDLE_SESSIONS = 2000
ROUNDS = 3
CPU_TARGET, P99_TARGET_MS, KB_TARGET = 1.3, 0.3, 20
PURE_NAME = "relay, pure Python"
LOADGEN_CPU, RELAY_CPU = (0, 1) if (os.cpu_count() or 1) >= 2 else (None, None)

BARE_RELAY = textwrap.dedent('''
    import asyncio, sys, uvloop, aiohttp
    from aiohttp import web, WSMsgType

    UPSTREAM = sys.argv[2]

    async def session_ctx(app):
        app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app["http"].close()

    async def handler(request):
        ws = web.WebSocketResponse(protocols=("sip",), compress=False)
        await ws.prepare(request)
        up = await request.app["http"].ws_connect(UPSTREAM, protocols=("sip",))

        async def down():
            async for m in up:
                await (ws.send_str(m.data) if m.type is WSMsgType.TEXT else ws.send_bytes(m.data))
            await ws.close()

        task = asyncio.create_task(down())
        async for m in ws:
            await (up.send_str(m.data) if m.type is WSMsgType.TEXT else up.send_bytes(m.data))
        await up.close()
        await task
        return ws

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/ws", handler)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
''')

NGINX_CONF = '''
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 3600s;
        }}
    }}
}}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (nginx's worker, Python's nothing)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes (all their threads), from /proc/PID/task/TID/schedstat: nanoseconds."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


async def wait_port(port: int, proc: subprocess.Popen, name: str) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port}")


@dataclass
class Target:
    name: str
    url: str
    pids: list[int]  # whose CPU and memory count as "the relay" ([] for Kamailio direct)


# -- the load generator -------------------------------------------------------------------------------------

class Client:
    """One agent's connection sending REGISTERs with digest credentials, one at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, username: str, password: str) -> None:
        self.ws = ws
        self.username = username
        self.password = password
        self.cseq = 0
        self.call_id = secrets.token_hex(8)
        self.host = secrets.token_hex(5) + ".invalid"
        self.authorization = ""

    def register_text(self) -> str:
        from tools.sipload import messages

        self.cseq += 1
        return messages.register(username=self.username, host=self.host, branch=f"z9hG4bK{secrets.token_hex(6)}",
                                 call_id=self.call_id, from_tag=self.call_id[:6], cseq=self.cseq,
                                 authorization=self.authorization or None)

    async def round_trip(self) -> str:
        await self.ws.send_str(self.register_text())
        while True:
            msg = await self.ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"connection ended: {msg.type} {msg.data}")
            if msg.data.startswith("SIP/2.0 "):
                return msg.data

    async def authenticate(self) -> None:
        from service.sip_proxy import sip
        from tools.sipload.ua import digest_authorization

        answer = sip.parse((await self.round_trip()).encode())
        if answer.status == 401:
            self.authorization = digest_authorization(
                answer.get("www-authenticate") or "", method="REGISTER", uri="sip:omnisense.local",
                username=self.username, password=self.password)
            answer = sip.parse((await self.round_trip()).encode())
        if answer.status != 200:
            raise RuntimeError(f"REGISTER answered {answer.status} {answer.reason}")


class Load:
    def __init__(self, env: dict[str, str]) -> None:
        from tools.sipload import agents

        self.secret = env["AUTH_KEY_SECRET"]
        self.passwords = agents.agent_secret(self.secret)
        self.expire_date = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def query(self, username: str) -> str:
        from service.sip_proxy.links import session_query

        return urlencode(session_query(self.secret, customer_id=1, user_id=int(username), username=username,
                                       expire_date=self.expire_date))

    @asynccontextmanager
    async def clients(self, http: aiohttp.ClientSession, url: str, count: int,
                      first: int) -> AsyncIterator[list[Client]]:
        from tools.sipload import agents

        clients: list[Client] = []
        try:
            for i in range(count):
                username = str(first + i)
                ws = await http.ws_connect(f"{url}?{self.query(username)}", protocols=("sip",))
                client = Client(ws, username, agents.agent_password(self.passwords, username))
                await client.authenticate()
                clients.append(client)
            yield clients
        finally:
            await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)

    async def closed_loop(self, clients: list[Client], seconds: float) -> int:
        deadline = time.monotonic() + seconds
        done = 0

        async def worker(client: Client) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await client.round_trip()
                done += 1

        await asyncio.gather(*(worker(c) for c in clients))
        return done

    async def open_loop(self, clients: list[Client], round_trips_per_s: float, seconds: float) -> list[float]:
        """Each client sends on its own fixed schedule; returns round-trip times in seconds."""
        interval = len(clients) / round_trips_per_s
        samples: list[float] = []
        start = time.monotonic() + 0.05

        async def worker(index: int, client: Client) -> None:
            t = start + index * interval / len(clients)
            end = start + seconds
            while t < end:
                delay = t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.perf_counter()
                await client.round_trip()
                samples.append(time.perf_counter() - sent)
                t += interval

        await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
        return samples


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000


async def closed_round(target: Target, load: Load, http: aiohttp.ClientSession, first_user: int) -> tuple[float, float]:
    """As fast as the path goes: (relayed messages/s, relay CPU-seconds per 1,000 messages)."""
    async with load.clients(http, target.url, CONCURRENCY, first_user) as clients:
        await load.closed_loop(clients, 0.5)  # warm up
        before = cpu_seconds(target.pids)
        t0 = time.monotonic()
        trips = await load.closed_loop(clients, CPU_SECONDS)
        elapsed = time.monotonic() - t0
        used = cpu_seconds(target.pids) - before
    return 2 * trips / elapsed, (used / (2 * trips / 1000) if target.pids else float("nan"))


async def open_round(target: Target, load: Load, http: aiohttp.ClientSession, first_user: int, msgs_per_s: float,
                     seconds: float) -> tuple[list[float], float]:
    """At a fixed offered load: (round-trip times, relay CPU-seconds per 1,000 messages)."""
    async with load.clients(http, target.url, CONCURRENCY, first_user) as clients:
        before = cpu_seconds(target.pids)
        samples = await load.open_loop(clients, msgs_per_s / 2, seconds)
        used = cpu_seconds(target.pids) - before
    return samples, (used / (2 * len(samples) / 1000) if target.pids else float("nan"))


async def idle_memory(target: Target, load: Load, http: aiohttp.ClientSession, first_user: int) -> float:
    """RSS growth per idle session (KB), measured on a process that has only served a few warm-up sessions."""

    async def open_many(count: int, first: int) -> list[aiohttp.ClientWebSocketResponse]:
        sockets = []
        for i in range(count):
            sockets.append(await http.ws_connect(f"{target.url}?{load.query(str(first + i))}", protocols=("sip",)))
        # Each session must really have its upstream leg: a keep-alive answered by Kamailio proves it.
        await asyncio.gather(*(ws.send_str("\r\n\r\n") for ws in sockets))
        await asyncio.gather(*(ws.receive() for ws in sockets))
        return sockets

    warm = await open_many(50, first_user)
    await asyncio.gather(*(ws.close() for ws in warm))
    await asyncio.sleep(0.5)
    before = rss_bytes(target.pids)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    try:
        sockets = await open_many(IDLE_SESSIONS, first_user + 100)
        await asyncio.sleep(1.0)
        after = rss_bytes(target.pids)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.sleep(1.0)  # let Kamailio forget them before the next target
    return (after - before) / IDLE_SESSIONS / 1024


@asynccontextmanager
async def started(argv: list[str], port: int, name: str, env: dict[str, str] | None = None,
                  cwd: Path = ROOT) -> AsyncIterator[subprocess.Popen]:
    # Popen only starts the process, which then runs beside the loop.
    proc = subprocess.Popen(argv, cwd=cwd, env=env,  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_port(port, proc, name)
        pin(process_tree(proc.pid), RELAY_CPU)
        yield proc
    finally:
        procs.end(proc, 10)


def pin(pids: list[int], cpu: int | None) -> None:
    """Relays on one core, the load generator on the other, so they do not take turns on the same core."""
    if cpu is None:
        return
    for pid in pids:
        with suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


async def retried(what: str, make: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run one measurement again if Kamailio went away under it (other test runs may restart it)."""
    for _ in range(attempts - 1):
        try:
            return await make()
        except (RuntimeError, aiohttp.ClientError, OSError) as exc:
            print(f"  ({what}: {exc}; waiting for Kamailio and measuring again)", flush=True)
            await asyncio.sleep(3)
    return await make()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


async def main() -> dict:
    import uvloop

    if not isinstance(asyncio.get_running_loop(), uvloop.Loop):
        # python -m bench runs asyncio.run(main()); measure from a uvloop loop of our own instead.
        return await asyncio.to_thread(uvloop.run, main())

    import devstack.__main__ as devstack_main

    env = devstack_main.up()
    pin([os.getpid()], LOADGEN_CPU)
    upstream = env.get("SIP_UPSTREAM", "ws://127.0.0.1:8088")
    upstream_hostport = upstream.split("://", 1)[1].rstrip("/")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    ports = {name: free_port() for name in ("relay", "pure", "bare", "nginx")}
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp, port=ports["nginx"], upstream=upstream_hostport))
    (tmp / "bare.py").write_text(BARE_RELAY)
    service_env = {**os.environ, **env, "PORT": str(ports["relay"]), "HOST": "127.0.0.1"}
    python = sys.executable
    load = Load(env)
    print(f"{CONCURRENCY} connections, REGISTER round trips with digest auth to {upstream}; {ROUNDS} interleaved "
          f"rounds (medians); latency at {RATE_MSGS} msgs/s; memory with {IDLE_SESSIONS} idle sessions; "
          f"relays pinned to CPU {RELAY_CPU}, load generator to CPU {LOADGEN_CPU}", flush=True)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http, \
                started([python, "-m", "service", "serve"], ports["relay"], "relay", service_env) as relay, \
                started([python, "-m", "service", "serve"], ports["pure"], "pure", {
                    **service_env, "PORT": str(ports["pure"]), compiled.PURE_ENV: "1"}) as pure, \
                started([python, str(tmp / "bare.py"), str(ports["bare"]), upstream], ports["bare"], "bare") as bare, \
                started([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log"),
                         "-g", "daemon off;"], ports["nginx"], "nginx") as ngx:
            targets = [
                Target("Kamailio direct", upstream, []),
                Target("relay (/ws)", f"ws://127.0.0.1:{ports['relay']}/ws", [relay.pid]),
                Target(PURE_NAME, f"ws://127.0.0.1:{ports['pure']}/ws", [pure.pid]),
                Target("bare aiohttp 1:1", f"ws://127.0.0.1:{ports['bare']}/ws", [bare.pid]),
                Target("nginx 1.22", f"ws://127.0.0.1:{ports['nginx']}/ws", process_tree(ngx.pid)),
            ]
            results: dict[str, dict[str, Any]] = {
                t.name: {"rates": [], "cpu_max": [], "cpu_fixed": [], "cpu_2k": [], "lat": []} for t in targets}
            for i, t in enumerate(targets[1:]):
                results[t.name]["kb_per_session"] = await retried(
                    t.name, partial(idle_memory, t, load, http, 500000 + 10000 * i))
            for _round in range(ROUNDS):
                for i, t in enumerate(targets):
                    user = 300000 + 1000 * i
                    rate, cpu = await retried(t.name, partial(closed_round, t, load, http, user))
                    results[t.name]["rates"].append(rate)
                    results[t.name]["cpu_max"].append(cpu)
                    _, cpu = await retried(t.name, partial(open_round, t, load, http, user, FIXED_RATE, CPU_SECONDS))
                    results[t.name]["cpu_fixed"].append(cpu)
                    samples, cpu = await retried(
                        t.name, partial(open_round, t, load, http, user, RATE_MSGS, LATENCY_SECONDS))
                    results[t.name]["lat"] += samples
                    results[t.name]["cpu_2k"].append(cpu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for t in targets:
        r = results[t.name]
        row = {"name": t.name, "msgs_per_s": median(r["rates"]), "p50": pct(r["lat"], 50), "p99": pct(r["lat"], 99)}
        if t.pids:
            row.update(cpu_max=median(r["cpu_max"]), cpu_fixed=median(r["cpu_fixed"]), cpu_2k=median(r["cpu_2k"]),
                       kb_per_session=r["kb_per_session"])
        rows.append(row)
    print_table(rows)
    return {"compiled": COMPILED, "concurrency": CONCURRENCY, "fixed_rate_msgs_per_s": FIXED_RATE,
            "latency_rate_msgs_per_s": RATE_MSGS,
            "idle_sessions": IDLE_SESSIONS, "paths": rows}


def print_table(rows: list[dict]) -> None:
    direct = rows[0]
    by = {r["name"]: r for r in rows}
    print(f"relay CPU-seconds per 1,000 relayed messages: at full speed (closed loop), at {FIXED_RATE:,} msgs/s"
          f" and at {RATE_MSGS:,} msgs/s (fixed offered load); round-trip latency at {RATE_MSGS:,} msgs/s")
    print(f"{'path':<18} {'max msgs/s':>10} {'CPU full':>9} {'CPU @' + str(FIXED_RATE // 1000) + 'k':>9} "
          f"{'CPU @' + str(RATE_MSGS // 1000) + 'k':>9} {'p50 ms':>7} {'p99 ms':>7} {'added p99':>10}"
          f" {'KB/idle session':>16}")
    for r in rows:
        def cpu(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.4f}" if key in r else "-"
        mem = f"{r['kb_per_session']:.1f}" if "kb_per_session" in r else "-"
        added = f"{r['p99'] - direct['p99']:+.2f}" if r is not direct else "-"
        print(f"{r['name']:<18} {r['msgs_per_s']:>10.0f} {cpu('cpu_max'):>9} {cpu('cpu_fixed'):>9} {cpu('cpu_2k'):>9} "
              f"{r['p50']:>7.2f} {r['p99']:>7.2f} {added:>10} {mem:>16}")
    relay, bare, nginx = by["relay (/ws)"], by["bare aiohttp 1:1"], by["nginx 1.22"]
    print(f"the relay's per-message modules: {'compiled (mypyc)' if COMPILED else 'pure Python'}"
          f"{'' if COMPILED else ' (no build for these sources: run make)'}; the same relay pure: "
          + ", ".join(f"{by[PURE_NAME][key] / relay[key]:.2f}x the CPU at {label}"
                      for label, key in (("full speed", "cpu_max"), (f"{RATE_MSGS:,} msgs/s", "cpu_2k"))))
    for label, key, target in (("full speed", "cpu_max", CPU_TARGET), (f"{FIXED_RATE:,} msgs/s", "cpu_fixed", None),
                               (f"{RATE_MSGS:,} msgs/s", "cpu_2k", CPU_TARGET)):
        vs_bare, vs_nginx = relay[key] / bare[key], relay[key] / nginx[key]
        verdict = f" (target <= {target}: {'ok' if vs_nginx <= target else 'MISSED'})" if target else ""
        print(f"relay CPU at {label}: {vs_nginx:.2f}x nginx{verdict}, {vs_bare:.2f}x the bare relay")
    added = relay["p99"] - direct["p99"]
    kb = relay["kb_per_session"]
    print(f"added p99 at {RATE_MSGS:,} msgs/s: {added:.2f} ms (target <= {P99_TARGET_MS}: "
          f"{'ok' if added <= P99_TARGET_MS else 'MISSED'}); {kb:.1f} KB per idle session (target <= {KB_TARGET}: "
          f"{'ok' if kb <= KB_TARGET else 'MISSED'})")
