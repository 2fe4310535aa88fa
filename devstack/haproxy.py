"""HAProxy with the repository's own several-hosts configuration (deploy/haproxy/), made to run on loopback.

`loopback_config` turns the production file into one that listens on one loopback port in plain HTTP, in front
of service instances on given loopback ports, logging to its standard output, with its admin socket in a given
directory. It replaces exactly the production values the file holds (each must be found, so the file and this
code cannot drift apart unnoticed). `server_states` reads the servers' health from that socket. Whoever starts
haproxy (a test fixture) owns the process; `python -m devstack up --with-deploy-tools` installs it.
"""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

from .paths import ROOT

BINARY = "/usr/sbin/haproxy"
DEPLOY_CONF = ROOT / "deploy" / "haproxy" / "omnisense-gateway.cfg"
PRODUCTION_SERVERS = ("server host1 10.0.0.11:8080", "server host2 10.0.0.12:8080")


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"{DEPLOY_CONF.name} no longer holds {old!r}")
    return text.replace(old, new)


def loopback_config(text: str, *, port: int, service_ports: tuple[int, int], admin_socket: Path) -> str:
    """The deploy file on 127.0.0.1:`port` (no TLS), before the service instances on `service_ports`."""
    replacements = [
        ("    bind :443 ssl crt /etc/haproxy/certs/phone.example.com.pem alpn http/1.1\n",
         f"    bind 127.0.0.1:{port}\n"),
        ("    bind :80\n", ""),
        ("    http-request redirect scheme https code 301 unless { ssl_fc }\n", ""),
        ("/run/haproxy/admin.sock", str(admin_socket)),
        ("log /dev/log local0", "log stdout format raw local0"),
        # A production host raises its descriptor limit (systemd's unit does); a test process may not.
        ("    maxconn 100000\n", "    maxconn 4000\n"),
        ("    user haproxy\n", ""),
        ("    group haproxy\n", ""),
        ("    daemon\n", ""),
    ]
    for old, service_port in zip(PRODUCTION_SERVERS, service_ports, strict=True):
        replacements.append((old, f"{old.split(' 10.')[0]} 127.0.0.1:{service_port}"))
    for old, new in replacements:
        text = _replace(text, old, new)
    return text


def command(config: Path) -> list[str]:
    """haproxy in the foreground (`-db`) on `config`."""
    return [BINARY, "-db", "-f", str(config)]


def server_states(admin_socket: Path, backend: str = "gateway_hosts") -> dict[str, str]:
    """Each server of `backend` and its state as the health checks see it ("UP", "DOWN", "UP 1/2"...)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(admin_socket))
        s.sendall(b"show stat\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode().lstrip("# ")
    return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")}
