"""How many `/ws` sessions one session identity (one auth_key) holds open in this process. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Hashable


class PerKeyLimit:
    """`acquire(key)` is False once `limit` sessions of `key` are open; each True is paired with a `release`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[Hashable, int] = {}

    def acquire(self, key: Hashable) -> bool:
        count = self._open.get(key, 0)
        if count >= self.limit:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: Hashable) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def __len__(self) -> int:
        """Keys with a session open (the map never holds a key with none)."""
        return len(self._open)
