"""A Kamailio of the tests' own serving WSS (its tls module) on loopback ports, one certificate per port.

It runs the stack's kamailio.cfg (a registrar like the shared one, with the same agent secret) with its own
tls.cfg, run directory and ports, and is stopped when the test session ends.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
from pathlib import Path

from devstack import kamailio, procs
from tools.sipload.agents import agent_secret

from .certs import Pair

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class TlsKamailio:
    process: subprocess.Popen
    ports: dict[str, int]  # certificate name -> WSS port

    def url(self, name: str, host: str = HOST) -> str:
        return f"wss://{host}:{self.ports[name]}/"

    def stop(self) -> None:
        procs.end(self.process, 10)


def tls_config(pairs: dict[str, tuple[int, Pair]]) -> str:
    """The tls module's configuration: one [server:IP:PORT] profile per listener (and the default profile
    the module insists on, with the first listener's pair)."""
    sections = []
    profiles = [(f"{HOST}:{port}", pair) for port, pair in pairs.values()]
    for where, pair in [("default", profiles[0][1]), *profiles]:
        sections.append(
            f"[server:{where}]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
            f"certificate = {pair.cert}\nprivate_key = {pair.key}\n")
    sections.append("[client:default]\nverify_certificate = no\nrequire_certificate = no\n")
    return "\n".join(sections)


def start(directory: Path, pairs: dict[str, Pair], auth_key_secret: str, timeout: float = 20.0) -> TlsKamailio:
    kamailio.ensure_installed()
    listeners = {name: (free_port(), pair) for name, pair in pairs.items()}
    config = directory / "tls.cfg"
    config.write_text(tls_config(listeners))
    run_dir = directory / "run"
    run_dir.mkdir(exist_ok=True)
    argv = kamailio.command(
        HOST, free_port(), agent_secret(auth_key_secret), run_dir=run_dir, shm_mb=64,
        tls_listen=[(HOST, port) for port, _ in listeners.values()], tls_config=config)
    with open(directory / "kamailio.log", "wb") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    server = TlsKamailio(process, {name: port for name, (port, _) in listeners.items()})
    deadline = time.monotonic() + timeout
    pending = set(server.ports.values())
    while pending:
        if process.poll() is not None:
            raise RuntimeError(f"kamailio (tls) exited: {(directory / 'kamailio.log').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("kamailio (tls) did not open its ports")
        for port in list(pending):
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                pending.discard(port)
            except OSError:
                pass
        if pending:
            time.sleep(0.1)
    return server
