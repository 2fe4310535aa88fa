"""`serve --workers 1` against `--workers 2`: relay throughput and CPU per message.

The same REGISTER round trips with digest credentials as bench/relay.py (each round trip is two relayed
messages), from CONNECTIONS connections spread by the kernel over the workers (SO_REUSEPORT), to a Kamailio of
our own. Nothing is pinned: two workers need both cores. Per round and configuration: messages/s at full speed
(a closed loop) and the service's CPU (all its processes) per 1,000 messages, at full speed and at a fixed
offered load of FIXED_RATE messages/s. ROUNDS interleaved rounds, medians.

On a machine whose cores also run the load generator and Kamailio, a second worker can only take what they
leave; CPU per message says whether a worker costs more per message, throughput whether it bought any.
"""

from __future__ import annotations

import asyncio
import statistics

import aiohttp

from . import stack
from .relay import Load, cpu_seconds, free_port, process_tree

CONNECTIONS = 100
SECONDS = 4.0
FIXED_RATE = 5000
ROUNDS = 3
WORKERS = (1, 2)


async def measure(load: Load, http: aiohttp.ClientSession, url: str, pids: list[int], first: int) -> dict:
    async with load.clients(http, url, CONNECTIONS, first) as clients:
        await load.closed_loop(clients, 0.5)  # warm up
        before, t0 = cpu_seconds(pids), asyncio.get_running_loop().time()
        trips = await load.closed_loop(clients, SECONDS)
        elapsed = asyncio.get_running_loop().time() - t0
        full_cpu = cpu_seconds(pids) - before
        before = cpu_seconds(pids)
        samples = await load.open_loop(clients, FIXED_RATE / 2, SECONDS)
        fixed_cpu = cpu_seconds(pids) - before
    return {"msgs_per_s": 2 * trips / elapsed, "cpu_per_1000_full": full_cpu / (2 * trips / 1000),
            "cpu_per_1000_fixed": fixed_cpu / (2 * len(samples) / 1000),
            "cpu_cores_full": full_cpu / elapsed}


async def main() -> dict:
    import uvloop

    if not isinstance(asyncio.get_running_loop(), uvloop.Loop):
        return await asyncio.to_thread(uvloop.run, main())
    import devstack.__main__ as devstack_main

    env = devstack_main.up()
    load = Load(env)
    samples: dict[int, list[dict]] = {w: [] for w in WORKERS}
    async with stack.own_kamailio(env, 2 * CONNECTIONS) as pbx, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        print(f"{CONNECTIONS} connections, REGISTER round trips with digest auth to a Kamailio of our own; "
              f"{ROUNDS} interleaved rounds (medians); CPU of every service process; fixed load {FIXED_RATE:,} msgs/s",
              flush=True)
        for r in range(ROUNDS):
            for workers in WORKERS:
                port = free_port()
                async with stack.service(env, port, pbx.url, workers) as proc:
                    await asyncio.sleep(1.0)  # every worker listening
                    pids = process_tree(proc.pid)
                    samples[workers].append(await measure(load, http, f"ws://127.0.0.1:{port}/ws", pids,
                                                          600000 + 1000 * workers + 100 * r))
    rows = []
    for workers in WORKERS:
        row = {"workers": workers}
        for key in ("msgs_per_s", "cpu_per_1000_full", "cpu_per_1000_fixed", "cpu_cores_full"):
            row[key] = round(statistics.median(s[key] for s in samples[workers]), 4)
        rows.append(row)
    fixed = f"CPU-s/1k @{FIXED_RATE // 1000}k"
    print(f"{'workers':>7} {'max msgs/s':>10} {'CPU-s/1k msgs full':>19} {fixed:>14} "
          f"{'cores busy at full speed':>25}")
    for row in rows:
        print(f"{row['workers']:>7} {row['msgs_per_s']:>10.0f} {row['cpu_per_1000_full']:>19.4f} "
              f"{row['cpu_per_1000_fixed']:>14.4f} {row['cpu_cores_full']:>25.2f}")
    one, two = rows[0], rows[1]
    print(f"--workers 2: {two['msgs_per_s'] / one['msgs_per_s']:.2f}x the throughput of --workers 1, "
          f"{two['cpu_per_1000_fixed'] / one['cpu_per_1000_fixed']:.2f}x its CPU per message at {FIXED_RATE:,} msgs/s")
    return {"connections": CONNECTIONS, "fixed_rate_msgs_per_s": FIXED_RATE, "rounds": ROUNDS, "rows": rows}
