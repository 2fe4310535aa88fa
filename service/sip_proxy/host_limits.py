"""`MAX_SESSIONS_PER_KEY` across the worker processes of `serve --workers N`: byte-range locks on one file.

Each key has `limit` one-byte slots at an offset of its own in a lock file the parent made (the offset comes
from a 40-bit BLAKE2 digest of the key, so two keys never meet in practice, and the file stays empty: a lock
may lie past the end). A session takes a free slot with a non-blocking `fcntl` write lock and gives it back by
unlocking it. The kernel does the counting across processes, and it frees a dead worker's slots itself: a
worker that crashes leaks nothing, which shared counters would. POSIX record locks belong to the process, so
a process never conflicts with its own: `_held` remembers which slots this process holds.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Hashable

MAX_SLOTS = 1 << 22  # with a 40-bit digest, offsets stay below 2**62


class HostPerKeyLimit:
    """`PerKeyLimit`'s interface (limits.py), shared by every process that opens the same `path`."""

    def __init__(self, limit: int, path: str) -> None:
        if not 0 < limit <= MAX_SLOTS:
            raise ValueError(f"the per-key limit must be 1-{MAX_SLOTS} for the shared lock file")
        self.limit = limit
        self._fd = os.open(path, os.O_RDWR)  # kept open: closing any descriptor of it drops this process's locks
        self._held: dict[Hashable, list[int]] = {}

    def _base(self, key: Hashable) -> int:
        digest = hashlib.blake2b(repr(key).encode(), digest_size=5).digest()
        return int.from_bytes(digest, "big") * MAX_SLOTS

    def acquire(self, key: Hashable) -> bool:
        held = self._held.get(key, [])
        base = self._base(key)
        for slot in range(self.limit):
            if slot in held:
                continue
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, base + slot)
            except OSError:  # another process holds it
                continue
            self._held[key] = [*held, slot]
            return True
        return False

    def release(self, key: Hashable) -> None:
        held = self._held.get(key)
        if not held:
            return
        slot = held.pop()
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._base(key) + slot)
        if not held:
            del self._held[key]

    def __len__(self) -> int:
        """Keys with a session open in this process."""
        return len(self._held)

    def close(self) -> None:
        os.close(self._fd)
