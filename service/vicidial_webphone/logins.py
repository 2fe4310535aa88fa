"""The ViciDial-launched sessions of this process and the logins they belong to. Pure, no I/O.

Each open session is tied to its agent's `vicidial_live_agents` row (`live_agent_id`). The service reads all
of those rows in one query now and then (`routes.py`); `ended` says which sessions lost their row or let it go
stale. A newer launch of the same agent (same ViciDial user, or same phone) replaces an older one: sessions are
ordered by their `expire_date`, the launch time plus VICIDIAL_SESSION_MAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

H = TypeVar("H")


@dataclasses.dataclass(eq=False, slots=True)
class Login(Generic[H]):
    live_agent_id: int
    user: str
    extension: str
    launched: datetime  # the session's expire_date: later is newer
    handle: H

    def same_agent(self, other: Login[Any]) -> bool:
        return self.user == other.user or self.extension == other.extension


class Logins(Generic[H]):
    def __init__(self) -> None:
        self._open: list[Login[H]] = []

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[Login[H]]:
        return iter(list(self._open))

    def attach(self, login: Login[H]) -> list[Login[H]] | None:
        """Register `login`; returns the older sessions of the same agent it replaces, or None (and registers
        nothing) when a newer launch of that agent is open already."""
        same = [other for other in self._open if other.same_agent(login)]
        if any(other.launched > login.launched for other in same):
            return None
        replaced = [other for other in same if other.launched < login.launched]
        self._open.append(login)
        return replaced

    def newer_open(self, login: Login[Any]) -> bool:
        return any(other.same_agent(login) and other.launched > login.launched for other in self._open)

    def detach(self, login: Login[H]) -> None:
        if login in self._open:
            self._open.remove(login)

    def live_agent_ids(self) -> list[int]:
        return sorted({login.live_agent_id for login in self._open})

    def ended(self, rows: Sequence[tuple[int, int | None]]) -> list[Login[H]]:
        """The sessions whose live-agent row is not among `rows` (live_agent_id, fresh) or is not fresh."""
        fresh = {int(live_id) for live_id, is_fresh in rows if is_fresh}
        return [login for login in self._open if login.live_agent_id not in fresh]
