"""The bulk run's progress line: leads done, rate, ETA; a redrawn bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import dataclasses
from typing import TextIO

BAR = 24
PLAIN_EVERY = 5.0
"""Seconds between two plain progress lines (a log file needs no more)."""
TTY_EVERY = 0.1


def duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def line(done: int, total: int, elapsed: float, *, bar: bool) -> str:
    """`12,345/100,000 leads  3,210/s  ETA 0:00:27`, after a bar when `bar`."""
    rate = done / elapsed if elapsed > 0 else 0.0
    left = max(total - done, 0)
    eta = duration(left / rate) if rate > 0 else "-:--:--"
    text = f"{done:,}/{total:,} leads  {rate:,.0f}/s  ETA {eta}"
    if not bar:
        return text
    filled = BAR * min(done, total) // total if total else BAR
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {text}"


@dataclasses.dataclass(slots=True)
class Progress:
    """Writes the progress line to `out` at most every so often; `finish` ends a redrawn bar's line."""

    out: TextIO
    total: int
    tty: bool
    last: float = float("-inf")

    def show(self, done: int, elapsed: float, *, force: bool = False) -> None:
        if not force and elapsed - self.last < (TTY_EVERY if self.tty else PLAIN_EVERY):
            return
        self.last = elapsed
        if self.tty:
            self.out.write("\r" + line(done, self.total, elapsed, bar=True) + "\x1b[K")
        else:
            self.out.write(line(done, self.total, elapsed, bar=False) + "\n")
        self.out.flush()

    def finish(self, done: int, elapsed: float) -> None:
        self.show(done, elapsed, force=True)
        if self.tty:
            self.out.write("\n")
            self.out.flush()
