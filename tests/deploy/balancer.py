"""deploy/haproxy/'s configuration running on loopback in front of two service instances, for the tests.

The instances (however a test starts them) listen on ports of their own; HAProxy on another, each one the
kernel found free (so tests running at once on several workers never pick the same).
`Balancer.wait_states` waits until the health checks see each instance as expected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from devstack import haproxy

from .processes import running


def free_ports(count: int) -> list[int]:
    """`count` different ports nothing listens on now: all held at once while the kernel picks them."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


async def active_sessions(port: int) -> int:
    """The relay sessions the instance on `port` holds open now (its /metrics)."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    found = re.search(r"^sip_relay_sessions_active (\S+)$", text, re.M)
    assert found, text
    return int(float(found.group(1)))


@dataclasses.dataclass
class Balancer:
    port: int
    admin_socket: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def states(self) -> dict[str, str]:
        return haproxy.server_states(self.admin_socket)

    async def wait_states(self, expected: dict[str, str], timeout: float = 20.0) -> None:
        """Until the health checks show `expected` (server name -> "UP" or "DOWN"), or fail after `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            states = await asyncio.to_thread(self.states)
            if all(states.get(name) == state for name, state in expected.items()):
                return
            assert asyncio.get_running_loop().time() < deadline, f"expected {expected}, HAProxy shows {states}"
            await asyncio.sleep(0.1)


@contextmanager
def balancer(run_dir: Path, port: int, service_ports: tuple[int, int]) -> Iterator[Balancer]:
    """haproxy on `port` before the instances on `service_ports` (servers host1 and host2), until the end."""
    admin_socket, config, log = run_dir / "admin.sock", run_dir / "haproxy.cfg", run_dir / "haproxy.log"
    config.write_text(haproxy.loopback_config(haproxy.DEPLOY_CONF.read_text(), port=port,
                                              service_ports=service_ports, admin_socket=admin_socket))
    with running(haproxy.command(config), port, log) as proc:
        deadline = time.monotonic() + 5
        while not admin_socket.exists():
            assert time.monotonic() < deadline, f"haproxy made no admin socket:\n{log.read_text()}"
            time.sleep(0.05)
        yield Balancer(port, admin_socket, log, proc)
