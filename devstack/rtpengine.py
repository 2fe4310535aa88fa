"""rtpengine (Debian's rtpengine-daemon, userspace forwarding): the media bridge between WebRTC (ICE, DTLS-SRTP)
and plain RTP that Kamailio drives through its rtpengine module, as a PBX's SBC would."""

from __future__ import annotations

import socket
import time

from . import install, procs
from .paths import LOGS, short_run_dir

NAME = "rtpengine"
HOST = "127.0.0.1"
NG_PORT = 22222  # the control ("ng") protocol, UDP
PORT_MIN, PORT_MAX = 30000, 30999
RUN_DIR = short_run_dir("rtpengine")


def command() -> list[str]:
    return [
        "rtpengine", "--foreground", "--log-stderr", "--config-file=none",
        # No kernel module here: -1 forwards every packet in userspace.
        "--table=-1",
        f"--interface={HOST}", f"--listen-ng={HOST}:{NG_PORT}",
        f"--port-min={PORT_MIN}", f"--port-max={PORT_MAX}",
        "--log-level=5", f"--pidfile={RUN_DIR / 'rtpengine.pid'}",
    ]


def ping(host: str = HOST, port: int = NG_PORT, timeout: float = 0.5) -> bool:
    """Does rtpengine answer an ng `ping` with `pong`?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(b"devstack d7:command4:pinge", (host, port))
            data, _ = sock.recvfrom(4096)
        except OSError:
            return False
    return data.startswith(b"devstack ") and b"pong" in data


def start() -> bool:
    if ping():
        return False
    install.ensure_packages({"rtpengine": ["rtpengine-daemon"]})
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    procs.spawn(NAME, command())
    deadline = time.monotonic() + 30
    while not ping():
        if not procs.running(NAME):
            raise RuntimeError(f"rtpengine exited during start-up:\n{procs.tail_log(NAME)}")
        if time.monotonic() > deadline:
            raise RuntimeError("rtpengine did not answer its ng ping within 30 s")
        time.sleep(0.1)
    return True


def stop() -> bool:
    return procs.stop(NAME)
