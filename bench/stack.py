"""The processes a benchmark measures, each its own: a Kamailio sized for the run and `python -m service serve`.

The shared local stack's Kamailio (devstack) is sized for tests and may be restarted by them; these run on
ports of their own and are stopped when the benchmark ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack import kamailio, procs
from tools.sipload.agents import agent_secret

from .relay import ROOT, free_port, wait_port

# Per WebSocket, Kamailio's shared memory holds the connection (about 130 KB with its 64 KB read buffer,
# tcp_rd_buf_size) and a usrloc contact.
SHM_KB_PER_SESSION = 200


@dataclass(frozen=True)
class OwnKamailio:
    url: str
    run_dir: Path
    pid: int
    shm_mb: int
    max_connections: int

    def shm_used_mb(self) -> float | None:
        """Shared memory in use (kamcmd core.shmmem), None if kamcmd cannot tell."""
        try:
            out = subprocess.run(["kamcmd", "-s", f"unix:{self.run_dir}/kamailio_ctl", "core.shmmem"],
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        for line in out.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "real_used" and value.strip().isdigit():
                return round(int(value) / 2**20, 1)
        return None


@asynccontextmanager
async def own_kamailio(env: dict[str, str], sessions: int) -> AsyncIterator[OwnKamailio]:
    """A Kamailio for `sessions` WebSockets on a free loopback port."""
    port = free_port()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-kamailio-"))
    shm_mb = max(256, sessions * SHM_KB_PER_SESSION // 1024 + 256)
    max_connections = sessions + 1024
    argv = kamailio.command("127.0.0.1", port, agent_secret(env["AUTH_KEY_SECRET"]), run_dir=run_dir,
                            shm_mb=shm_mb, max_connections=max_connections)
    proc = _spawn(argv, run_dir / "kamailio.log")
    try:
        await wait_port(port, proc, "kamailio")
        yield OwnKamailio(f"ws://127.0.0.1:{port}", run_dir, proc.pid, shm_mb, max_connections)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)


def service_env(env: dict[str, str], port: int, upstream: str) -> dict[str, str]:
    return {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port), "SIP_UPSTREAM": upstream,
            "TLS_CERT_FILE": "", "TLS_KEY_FILE": ""}


def serve_command(workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "service", "serve", "--workers", str(workers)]


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Kamailio in its own process group, logging to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def spawn_service(env: dict[str, str], port: int, upstream: str, workers: int = 1) -> subprocess.Popen[bytes]:
    """`python -m service serve` on `port` in front of `upstream` (not yet listening when this returns)."""
    return subprocess.Popen(serve_command(workers), cwd=ROOT, env=service_env(env, port, upstream),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@asynccontextmanager
async def service(env: dict[str, str], port: int, upstream: str,
                  workers: int = 1) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`python -m service serve` on `port` in front of `upstream`, stopped (SIGTERM) at the end."""
    proc = spawn_service(env, port, upstream, workers)
    try:
        await wait_port(port, proc, "service")
        yield proc
    finally:
        await stop(proc)


async def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    await asyncio.to_thread(procs.end, proc, timeout)
