"""The per-key cap shared by processes through byte-range locks on one file (host_limits.py)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import Connection

from service.sip_proxy.host_limits import HostPerKeyLimit

KEY = (1, 7, "1001", "2026-12-31T00:00:00Z")


def _holder(path: str, count: int, conn: Connection) -> None:
    """Another worker: takes `count` sessions of KEY, says how many it got, and waits to be killed."""
    limit = HostPerKeyLimit(3, path)
    conn.send(sum(limit.acquire(KEY) for _ in range(count)))
    conn.recv()


def test_the_cap_is_shared_by_processes_and_a_dead_ones_sessions_come_back(tmp_path):
    path = tmp_path / "locks"
    path.touch()
    ours, theirs = multiprocessing.Pipe()
    other = multiprocessing.get_context("fork").Process(target=_holder, args=(str(path), 2, theirs))
    other.start()
    try:
        assert ours.recv() == 2
        limit = HostPerKeyLimit(3, str(path))
        assert limit.acquire(KEY) and not limit.acquire(KEY)  # 2 there + 1 here = 3
        assert limit.acquire((1, 7, "1002", "2026-12-31T00:00:00Z"))  # another key has its own slots
        limit.release(KEY)
        assert limit.acquire(KEY) and not limit.acquire(KEY)
        assert other.pid is not None
        os.kill(other.pid, signal.SIGKILL)  # a crashed worker: the kernel drops its locks
        other.join()
        assert limit.acquire(KEY) and limit.acquire(KEY) and not limit.acquire(KEY)
        assert len(limit) == 2
        limit.close()
    finally:
        if other.is_alive():
            other.kill()
