"""Starting and stopping background daemons by pid file, and waiting for their ports; ending a child process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence

from .paths import LOGS, PIDS


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if not running(name):
            raise RuntimeError(f"{name} exited during start-up; see {LOGS / (name + '.log')}:\n{tail_log(name)}")
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not open {host}:{port} within {timeout:.0f}s; see {LOGS / (name + '.log')}")


def tail_log(name: str, lines: int = 15) -> str:
    try:
        return "\n".join((LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def spawn(name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
    """Start `argv` in its own session, logging to .stack/logs/NAME.log; remember its pid."""
    if running(name):
        # Ours, left from a start that never finished (callers spawn only when the port is closed): replace
        # it, so that one daemon holds the data directory and the pid file names that one.
        stop(name)
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    (PIDS / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _started_at(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def pid_of(name: str) -> int | None:
    path = PIDS / f"{name}.pid"
    try:
        pid = int(path.read_text().strip())
        written = path.stat().st_mtime
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    # The file is written just after the daemon starts. A process that started later only reuses the pid
    # (the machine rebooted, or the daemon died): it is not ours, and must never be signalled.
    started = _started_at(pid)
    if started is not None and started > written + 2:
        return None
    # A zombie (our own exited child) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                os.waitpid(pid, os.WNOHANG)
                return None
    except (OSError, ChildProcessError):
        pass
    return pid


def running(name: str) -> bool:
    return pid_of(name) is not None


def stop(name: str, timeout: float = 15.0) -> bool:
    """SIGTERM the daemon's process group, then SIGKILL after `timeout`. True if something was stopped."""
    pid = pid_of(name)
    (PIDS / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return True


def end(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a child process, then SIGKILL if it has not exited within `timeout` seconds; reaped either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
