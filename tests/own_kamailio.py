"""A Kamailio of the test's own (this checkout's devstack config) on free ports, so a test may restart it or
read its state."""

from __future__ import annotations

import subprocess
import time

from devstack import kamailio, procs, rtpengine
from devstack.paths import short_run_dir
from tests.service_process import free_port
from tools.sipload import agents


class OwnKamailio:
    """`udp` also listens for plain SIP over UDP on a port of its own (`udp_port`), with the stack's rtpengine
    for bridged calls (and the `agent-USER` route that rings an agent's Contact)."""

    def __init__(self, stack_env: dict[str, str], udp: bool = False) -> None:
        self.port = free_port()
        self.udp_port = free_port() if udp else None
        self.run_dir = short_run_dir(f"kamailio-{self.port}")
        self.argv = kamailio.command("127.0.0.1", self.port, agents.agent_secret(stack_env["AUTH_KEY_SECRET"]),
                                     run_dir=self.run_dir, shm_mb=64,
                                     udp_listen=("127.0.0.1", self.udp_port) if self.udp_port else None,
                                     rtpengine_sock=f"udp:{rtpengine.HOST}:{rtpengine.NG_PORT}" if udp else None)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(300):
            assert self.proc.poll() is None, f"kamailio exited at start-up: {' '.join(self.argv)}"
            if procs.port_open("127.0.0.1", self.port):
                return
            time.sleep(0.1)
        raise AssertionError("kamailio did not listen within 30 s")

    def stop(self) -> None:
        if self.proc:
            procs.end(self.proc, 10)
        self.proc = None

    def statistic(self, name: str) -> int:
        """One of Kamailio's counters (`core:rcv_requests_message`), read over its ctl socket."""
        group = name.split(":", 1)[0] + ":"
        out = subprocess.run(["kamcmd", "-s", f"unix:{self.run_dir}/kamailio_ctl", "stats.get_statistics", group],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        values = dict(line.replace(" ", "").split("=", 1) for line in out.splitlines() if "=" in line)
        return int(values[name])
