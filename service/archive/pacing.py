"""How many leads the next batch of a bulk run takes, so that one batch holds vicidial_list no longer than asked.

MyISAM locks the whole table for each statement: while a batch's statements run, the dialer's updates wait.
The pacer keeps each batch's time in the database under `max_stall` seconds: it measures what a lead costs,
sizes the next batch to fill `FILL` of the bound, grows at most twofold from one batch to the next, and
shrinks at once when a batch ran over.
"""

from __future__ import annotations

import dataclasses

FILL = 0.7
"""The share of the bound a batch aims at: batches vary, and the bound is a bound, not a target."""


@dataclasses.dataclass(slots=True)
class Pacer:
    max_stall: float  # seconds one batch may take
    maximum: int  # the most leads one batch may hold (ARCHIVE_MAX_LEADS)
    size: int = 20  # the next batch's size: small, until the first batch has been measured
    minimum: int = 1
    over: int = dataclasses.field(default=0)  # batches that ran over the bound

    def __post_init__(self) -> None:
        self.size = max(self.minimum, min(self.size, self.maximum))

    def record(self, leads: int, seconds: float) -> None:
        """A batch of `leads` took `seconds`: choose the next batch's size."""
        if leads <= 0:
            return
        if seconds > self.max_stall:
            self.over += 1
        per_lead = max(seconds, 1e-6) / leads
        target = round(FILL * self.max_stall / per_lead)
        self.size = max(self.minimum, min(target, 2 * max(leads, self.size), self.maximum))
