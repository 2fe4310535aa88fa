"""Log lines that a client can cause, at a bounded rate: at most `burst` per key in each `window` seconds.

A refused INVITE, a bad auth_key or an unreachable PBX is worth a line, but one client repeating it must not
write thousands. Past the burst, lines of that key are counted instead of written; the next line written for
the key says how many were left out. The count of every refusal stays exact in /metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, *, burst: int = 5, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        self.clock = clock
        self._windows: dict[str, list[float | int]] = {}  # key: [window start, lines written, lines left out]

    def log(self, level: int, key: str, message: str, *args: object) -> bool:
        """Write `message % args` at `level` unless `key` has had its burst this window; True if written."""
        now = self.clock()
        state = self._windows.get(key)
        if state is None or now - state[0] >= self.window:
            suppressed = int(state[2]) if state is not None else 0
            state = self._windows[key] = [now, 0, suppressed]
        if state[1] >= self.burst:
            state[2] += 1
            return False
        state[1] += 1
        if state[2]:
            message += " (and %d more like it since the last one logged, not logged: over %d per %gs)"
            args = (*args, state[2], self.burst, self.window)
            state[2] = 0
        self.logger.log(level, message, *args)
        return True

    def warning(self, key: str, message: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, message, *args)

    def info(self, key: str, message: str, *args: object) -> bool:
        return self.log(logging.INFO, key, message, *args)
