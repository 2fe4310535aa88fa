"""coturn with `use-auth-secret`: the TURN server whose credentials the service mints (TURN_SECRET)."""

from __future__ import annotations

from . import install, procs
from .paths import LOGS, short_run_dir

NAME = "coturn"
RUN_DIR = short_run_dir("coturn")
REALM = "omnisense.local"


def command(secret: str, host: str, port: int) -> list[str]:
    return [
        "turnserver", "-n",
        f"--listening-ip={host}", f"--relay-ip={host}", f"--listening-port={port}",
        "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
        # Loopback peers are refused by default; the local stack's browsers and aiortc peers are all on loopback.
        "--allow-loopback-peers",
        # FINGERPRINT on every message, as browsers send and expect it (RFC 8489 section 14.7).
        "--fingerprint",
        "--no-tls", "--no-dtls", "--no-cli", "--no-multicast-peers",
        "--min-port=49160", "--max-port=49999",
        f"--pidfile={RUN_DIR / 'turnserver.pid'}",
        "--log-file=stdout", "--simple-log",
    ]


def start(env: dict[str, str]) -> bool:
    secret = env.get("TURN_SECRET")
    if not secret:
        print("devstack: TURN_SECRET is not set: coturn is not started and no TURN credentials are issued", flush=True)
        return False
    host, port = "127.0.0.1", int(env.get("TURN_PORT", "3478"))
    if procs.port_open(host, port):
        return False
    install.ensure_packages({"turnserver": ["coturn"]})
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    procs.spawn(NAME, command(secret, host, port))
    procs.wait_for_port(host, port, NAME)
    return True


def stop() -> bool:
    return procs.stop(NAME)
