"""coturn with `use-auth-secret`: the TURN server whose credentials the service mints (TURN_SECRET)."""

from __future__ import annotations

import hashlib
import hmac
import time

from . import install, procs
from .paths import LOGS, short_run_dir

NAME = "coturn"
RUN_DIR = short_run_dir("coturn")
REALM = "omnisense.local"
CLI_PORT = 5766  # coturn's default CLI port


def cli_env(env: dict[str, str]) -> dict[str, str]:
    """TURN_CLI and TURN_CLI_PASSWORD for the local coturn, unless .env or the environment sets them.

    The password is derived from TURN_SECRET (as the agents' SIP passwords are from AUTH_KEY_SECRET), so every
    checkout sharing a .env's secrets agrees with the running coturn without another secret to write down.
    """
    if not env.get("TURN_SECRET"):
        return {}
    derived = hmac.new(env["TURN_SECRET"].encode(), b"omnisense-devstack-coturn-cli", hashlib.sha256).hexdigest()[:32]
    return {
        "TURN_CLI": env.get("TURN_CLI") or f"127.0.0.1:{CLI_PORT}",
        "TURN_CLI_PASSWORD": env.get("TURN_CLI_PASSWORD") or derived,
    }


def command(secret: str, host: str, port: int, cli_port: int, cli_password: str) -> list[str]:
    return [
        "turnserver", "-n",
        f"--listening-ip={host}", f"--relay-ip={host}", f"--listening-port={port}",
        "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
        # Loopback peers are refused by default; the local stack's browsers and aiortc peers are all on loopback.
        "--allow-loopback-peers",
        # FINGERPRINT on every message, as browsers send and expect it (RFC 8489 section 14.7).
        "--fingerprint",
        "--no-tls", "--no-dtls", "--no-multicast-peers",
        # The CLI on loopback: the service cancels allocations of ended sessions through it (TURN_CLI); ps lists
        # every session, not only the first 256.
        f"--cli-ip={host}", f"--cli-port={cli_port}", f"--cli-password={cli_password}",
        "--cli-max-output-sessions=100000",
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
    cli = cli_env(env)
    cli_port = int(cli["TURN_CLI"].rpartition(":")[2])
    procs.spawn(NAME, command(secret, host, port, cli_port, cli["TURN_CLI_PASSWORD"]))
    procs.wait_for_port(host, port, NAME)
    return True


def stop() -> bool:
    return procs.stop(NAME)


def restart(env: dict[str, str]) -> None:
    """Stop coturn (if devstack started it) and start it again; returns once it listens."""
    host, port = "127.0.0.1", int(env.get("TURN_PORT", "3478"))
    stop()
    deadline = time.monotonic() + 15
    while procs.port_open(host, port) and time.monotonic() < deadline:
        time.sleep(0.1)
    start(env)
