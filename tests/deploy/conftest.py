"""Fixtures for the deploy/ tests: the tools installed, a test certificate, the service behind nginx, two
instances behind HAProxy."""

from __future__ import annotations

import dataclasses
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import devstack.__main__ as devstack_main
from devstack import install, nginx

from .balancer import Balancer, balancer, free_ports
from .processes import running


@pytest.fixture(scope="session")
def deploy_tools() -> None:
    """nginx and systemd-analyze (`make test` installs them first; this covers a bare `pytest`)."""
    install.ensure_packages(devstack_main.DEPLOY_TOOLS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class Fronted:
    """The service behind nginx: `base` is nginx's https URL, `ssl` trusts the test certificate."""

    base: str
    host: str
    ssl: ssl.SSLContext
    service_log: Path
    nginx_dir: Path


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def fronted(deploy_tools: None, stack_env: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fronted]:
    """`python -m service serve` trusting loopback proxies, with deploy/nginx's configuration in front."""
    run_dir = tmp_path_factory.mktemp("nginx")
    cert, key = make_certificate(run_dir)
    service_port, https_port, http_port = free_port(), free_port(), free_port()
    server_conf = run_dir / "omnisense-gateway.conf"
    server_conf.write_text(nginx.loopback_config(
        nginx.DEPLOY_CONF.read_text(), https_port=https_port, http_port=http_port, service_port=service_port,
        cert=cert, key=key, logs=run_dir))
    (run_dir / "nginx.conf").write_text(nginx.main_config(run_dir, server_conf))
    env = {**os.environ, **stack_env, "HOST": "127.0.0.1", "PORT": str(service_port),
           "TRUSTED_PROXIES": "127.0.0.1,::1", "TLS_CERT_FILE": "", "TLS_KEY_FILE": ""}
    service_log = run_dir / "service.log"
    with running([sys.executable, "-m", "service", "serve"], service_port, service_log, env), \
            running(nginx.command(run_dir), https_port, run_dir / "nginx.out"):
        context = ssl.create_default_context(cafile=str(cert))
        yield Fronted(f"https://127.0.0.1:{https_port}", f"127.0.0.1:{https_port}", context, service_log, run_dir)


@dataclasses.dataclass(frozen=True)
class TwoHosts:
    """Two service instances (host1, host2) behind deploy/haproxy's configuration: `balancer.base` is its URL."""

    balancer: Balancer
    service_ports: tuple[int, int]


@contextmanager
def hosts_behind_haproxy(stack_env: dict[str, str], run_dir: Path,
                         host2_env: dict[str, str] | None = None) -> Iterator[TwoHosts]:
    """`python -m service serve` twice (host2 with `host2_env` over the common environment), HAProxy in front."""
    port, *service_ports = free_ports(3)
    ports = (service_ports[0], service_ports[1])
    env = {**os.environ, **stack_env, "HOST": "127.0.0.1", "TRUSTED_PROXIES": "127.0.0.1,::1", "TLS_CERT_FILE": "",
           "TLS_KEY_FILE": ""}
    with running([sys.executable, "-m", "service", "serve"], ports[0], run_dir / "host1.log",
                 {**env, "PORT": str(ports[0])}), \
            running([sys.executable, "-m", "service", "serve"], ports[1], run_dir / "host2.log",
                    {**env, **(host2_env or {}), "PORT": str(ports[1])}), \
            balancer(run_dir, port, ports) as front:
        yield TwoHosts(front, ports)


@pytest.fixture(scope="module")
def two_hosts(deploy_tools: None, stack_env: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    with hosts_behind_haproxy(stack_env, tmp_path_factory.mktemp("haproxy")) as hosts:
        yield hosts
