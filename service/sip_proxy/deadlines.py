"""One timer for every session's `expire_date`, instead of one timer per session.

A heap of (wall-clock deadline, sequence, callback) entries with a single loop timer armed at the earliest.
Per session this costs a short list in the heap rather than a TimerHandle (about 0.5 KB less per idle
session at thousands of sessions). Cancelled entries are blanked and swept out when they pile up.

The clock (unix time) and the timer (`call_later`: delay, callback -> a handle with `cancel()`) are
injectable, so tests drive time by hand; by default they are `time.time` and the running event loop's.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

Entry = list[Any]  # [deadline (unix time), sequence, callback or None]


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


CallLater = Callable[[float, Callable[[], None]], TimerHandle]


def _loop_call_later(delay: float, callback: Callable[[], None]) -> TimerHandle:
    return asyncio.get_running_loop().call_later(delay, callback)


class Deadlines:
    def __init__(self, clock: Callable[[], float] = time.time, call_later: CallLater = _loop_call_later) -> None:
        self._clock = clock
        self._call_later = call_later
        self._heap: list[Entry] = []
        self._timer: TimerHandle | None = None
        self._armed_for = float("inf")
        self._sequence = itertools.count()
        self._cancelled = 0

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def add(self, deadline: float, callback: Callable[[], object]) -> Entry:
        """Call `callback` at unix time `deadline` (at once if it has passed); returns a handle for `cancel`."""
        entry: Entry = [deadline, next(self._sequence), callback]
        heapq.heappush(self._heap, entry)
        if deadline < self._armed_for:
            self._arm()
        return entry

    def after(self, delay: float, callback: Callable[[], object]) -> Entry:
        """Call `callback` `delay` seconds from now (on this instance's clock); a handle for `cancel`."""
        return self.add(self._clock() + delay, callback)

    def cancel(self, entry: Entry) -> None:
        if entry[2] is None:
            return
        entry[2] = None
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._cancelled = 0
        self._armed_for = float("inf")

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._heap and self._heap[0][2] is None:
            heapq.heappop(self._heap)
            self._cancelled -= 1
        if not self._heap:
            self._armed_for = float("inf")
            return
        deadline = self._heap[0][0]
        self._timer = self._call_later(max(0.0, deadline - self._clock()), self._fire)
        self._armed_for = deadline

    def _fire(self) -> None:
        self._timer = None
        now = self._clock()
        due = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if entry[2] is None:
                self._cancelled -= 1
            else:
                due.append(entry[2])
                entry[2] = None
        self._armed_for = float("inf")
        self._arm()
        for callback in due:
            callback()
