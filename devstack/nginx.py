"""nginx with the repository's own front-proxy configuration (deploy/nginx/), made to run on loopback.

`loopback_config` turns the production file into one that listens on given loopback ports with a given
certificate, by replacing exactly the production values it holds (each must be found, so the file and this
code cannot drift apart unnoticed); `main_config` wraps it in the few main-context lines a private nginx
needs. Whoever starts nginx (a test fixture) owns the process; `python -m devstack up --with-deploy-tools`
installs it.
"""

from __future__ import annotations

from pathlib import Path

from .paths import ROOT

BINARY = "/usr/sbin/nginx"
DEPLOY_CONF = ROOT / "deploy" / "nginx" / "omnisense-gateway.conf"
SERVER_NAME = "phone.example.com"


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"{DEPLOY_CONF.name} no longer holds {old!r}")
    return text.replace(old, new)


def loopback_config(text: str, *, https_port: int, http_port: int, service_port: int, cert: Path, key: Path,
                    logs: Path) -> str:
    """The deploy file, listening on 127.0.0.1 only, in front of the service on `service_port`."""
    for old, new in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen [::]:443 ssl;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{service_port};"),
        (f"/etc/letsencrypt/live/{SERVER_NAME}/fullchain.pem", str(cert)),
        (f"/etc/letsencrypt/live/{SERVER_NAME}/privkey.pem", str(key)),
        ("/var/log/nginx/omnisense-gateway.access.log", str(logs / "access.log")),
        (f"server_name {SERVER_NAME};", "server_name localhost 127.0.0.1;"),
    ):
        text = _replace(text, old, new)
    return text


def main_config(run_dir: Path, include: Path) -> str:
    """nginx.conf for a private nginx whose state and logs are all under `run_dir`."""
    return (
        f"worker_processes 1;\npid {run_dir}/nginx.pid;\nerror_log {run_dir}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    client_body_temp_path {run_dir}/body; proxy_temp_path {run_dir}/proxy;\n"
        f"    fastcgi_temp_path {run_dir}/fastcgi; uwsgi_temp_path {run_dir}/uwsgi; scgi_temp_path {run_dir}/scgi;\n"
        f"    include {include};\n"
        "}\n"
    )


def command(run_dir: Path) -> list[str]:
    """nginx in the foreground on `run_dir/nginx.conf`."""
    return [BINARY, "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"), "-e", str(run_dir / "error.log"),
            "-g", "daemon off;"]
