"""Kamailio 5.6 with its websocket module: the stand-in for the PBX's webRTC server (SIP_UPSTREAM)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from tools.sipload.agents import agent_secret

from . import install, procs, rtpengine
from .paths import CONFIG, short_run_dir

NAME = "kamailio"
CFG = CONFIG / "kamailio" / "kamailio.cfg"
RUN_DIR = short_run_dir("kamailio")
# About 180 KB of shared memory per WebSocket (a 64 KiB read buffer each): 1 GiB leaves room for several
# thousand sessions.
SHM_MB = 1024
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
DBTEXT_SCHEMA = Path("/usr/share/kamailio/dbtext/kamailio")  # kamailio's package ships the empty tables
# Plain SIP phones (the stack's baresip) register here over UDP.
UDP_PORT = 5060


DEFAULT_URL = "ws://127.0.0.1:8088"


def local_url(env: dict[str, str]) -> str:
    """The stack's own Kamailio: SIP_UPSTREAM, or its default where SIP_UPSTREAM is `vicidial`."""
    url = env.get("SIP_UPSTREAM") or DEFAULT_URL
    return DEFAULT_URL if url.strip().lower() == "vicidial" else url


def address(sip_upstream: str) -> tuple[str, int]:
    parts = urlsplit(sip_upstream)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "wss" else 80)


def command(host: str, port: int, secret: str, *, run_dir: Path = RUN_DIR, shm_mb: int = SHM_MB,
            tls_listen: Sequence[tuple[str, int]] = (), tls_config: Path | None = None,
            udp_listen: tuple[str, int] | None = None, rtpengine_sock: str | None = None,
            max_connections: int | None = None) -> list[str]:
    """`secret` is the agent secret (hex) the config derives every agent's digest password from.

    `tls_listen` adds WSS listeners, served with the certificates that `tls_config` (a tls module config
    file) names per listener. `udp_listen` takes plain SIP phones, and `rtpengine_sock` (rtpengine's ng
    socket, e.g. udp:127.0.0.1:22222) bridges their calls with WebSocket users' media. A Kamailio for many
    sessions (the benchmarks') needs more shared memory (`shm_mb`, about 130 KB a WebSocket) and a higher
    `max_connections`.
    """
    dialogs = dialog_db(run_dir)
    argv = [
        "kamailio", "-DD", "-E",
        "-f", str(CFG),
        "-Y", str(run_dir),
        "-m", str(shm_mb), "-M", "32",
        "-l", f"tcp:{host}:{port}",
        "-A", f'AGENT_SECRET="{secret}"',
        "-A", f'DIALOG_DB="text://{dialogs}"',
    ]
    for tls_host, tls_port in tls_listen:
        argv += ["-l", f"tls:{tls_host}:{tls_port}"]
    if tls_config is not None:
        argv += ["-A", "WITH_TLS", "-A", f'TLS_CONFIG="{tls_config}"']
    if udp_listen is not None:
        argv += ["-l", f"udp:{udp_listen[0]}:{udp_listen[1]}"]
    if rtpengine_sock is not None:
        argv += ["-A", "WITH_RTPENGINE", "-A", f'RTPENGINE_SOCK="{rtpengine_sock}"']
    if max_connections is not None:
        argv += ["-A", f"TCP_MAX_CONNECTIONS={max_connections}"]
    return argv


def dialog_db(run_dir: Path) -> Path:
    """The db_text directory in `run_dir` where the dialog module keeps its dialogs across a restart: its two
    tables and their versions, made empty on first use (Debian's schema files)."""
    directory = run_dir / "dialogs"
    directory.mkdir(parents=True, exist_ok=True)
    for table in ("dialog", "dialog_vars"):
        if not (directory / table).exists():
            (directory / table).write_text((DBTEXT_SCHEMA / table).read_text())
    header, *rows = (DBTEXT_SCHEMA / "version").read_text().splitlines()
    ours = [row for row in rows if row.split(":")[1:2] in (["dialog"], ["dialog_vars"])]
    (directory / "version").write_text("".join(line + "\n" for line in [header, *ours]))
    return directory


def ensure_installed() -> None:
    install.ensure_packages({
        "kamailio": ["kamailio", "kamailio-websocket-modules", "kamailio-extra-modules", "kamailio-tls-modules"],
        f"{MODULES}/websocket.so": ["kamailio-websocket-modules"],
        f"{MODULES}/rtpengine.so": ["kamailio-extra-modules"],
        f"{MODULES}/tls.so": ["kamailio-tls-modules"],
    })


def start(env: dict[str, str]) -> bool:
    host, port = address(local_url(env))
    if procs.port_open(host, port):
        return False
    ensure_installed()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    procs.spawn(NAME, command(host, port, agent_secret(env["AUTH_KEY_SECRET"]), udp_listen=(host, UDP_PORT),
                              rtpengine_sock=f"udp:{rtpengine.HOST}:{rtpengine.NG_PORT}"))
    procs.wait_for_port(host, port, NAME)
    return True


def stop() -> bool:
    return procs.stop(NAME)


def restart(env: dict[str, str]) -> None:
    """Stop Kamailio (if devstack started it) and start it again; returns once it listens."""
    host, port = address(local_url(env))
    stop()
    deadline = time.monotonic() + 15
    while procs.port_open(host, port) and time.monotonic() < deadline:
        time.sleep(0.1)
    start(env)
