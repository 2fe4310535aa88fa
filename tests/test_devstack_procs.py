"""devstack.procs: a pid file outliving its daemon (a reboot, a crash) never makes devstack signal a stranger."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from devstack import procs
from devstack.paths import LOGS, PIDS


@pytest.fixture
def name() -> Iterator[str]:
    name = f"test-{secrets.token_hex(4)}"
    yield name
    (PIDS / f"{name}.pid").unlink(missing_ok=True)
    (LOGS / f"{name}.log").unlink(missing_ok=True)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen]:
    """A process (and process group) devstack did not start."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_a_stale_pid_file_naming_a_newer_process_is_ignored(name, stranger) -> None:
    # The pid file was written an hour ago; the process now holding that pid started after it.
    path = PIDS / f"{name}.pid"
    PIDS.mkdir(parents=True, exist_ok=True)
    path.write_text(str(stranger.pid))
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))

    assert procs.pid_of(name) is None
    assert procs.stop(name, timeout=1) is False
    time.sleep(0.2)
    assert stranger.poll() is None  # never signalled
    assert not path.exists()


def test_a_daemon_it_spawned_is_found_and_stopped(name) -> None:
    pid = procs.spawn(name, ["sleep", "60"])
    try:
        assert procs.pid_of(name) == pid
        assert procs.stop(name, timeout=5) is True
        assert procs.pid_of(name) is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_a_half_started_daemon_is_replaced_not_doubled(name) -> None:
    first = procs.spawn(name, ["sleep", "60"])
    second = procs.spawn(name, ["sleep", "60"])
    try:
        assert procs.pid_of(name) == second
        with pytest.raises(ProcessLookupError):
            os.killpg(first, 0)
    finally:
        procs.stop(name, timeout=5)
        for pid in (first, second):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
