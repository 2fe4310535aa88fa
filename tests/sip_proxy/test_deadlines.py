import asyncio
import time
from collections.abc import Callable

from service.sip_proxy.deadlines import Deadlines


class FakeTime:
    """A clock and a timer driven by hand: `advance(seconds)` moves the clock and fires the timers due."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.timers: list[FakeTimer] = []

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> "FakeTimer":
        timer = FakeTimer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while True:
            due = [t for t in self.timers if not t.cancelled and t.when <= self.now]
            if not due:
                return
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            timer.callback()

    @property
    def armed(self) -> list[float]:
        return sorted(t.when for t in self.timers if not t.cancelled)


class FakeTimer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


def test_callbacks_fire_in_deadline_order_and_cancelled_ones_never():
    clock = FakeTime()
    deadlines = Deadlines(clock.clock, clock.call_later)
    fired: list[str] = []
    now = clock.now
    deadlines.add(now + 0.15, lambda: fired.append("late"))
    deadlines.add(now + 0.05, lambda: fired.append("early"))
    cancelled = deadlines.add(now + 0.10, lambda: fired.append("cancelled"))
    deadlines.add(now - 5, lambda: fired.append("past"))
    deadlines.cancel(cancelled)
    deadlines.cancel(cancelled)  # twice is harmless
    assert len(deadlines) == 3
    assert clock.armed == [now]  # one timer, for the earliest (a past deadline: at once)
    clock.advance(0)
    assert fired == ["past"]
    clock.advance(0.06)
    assert fired == ["past", "early"]
    clock.advance(0.1)
    assert fired == ["past", "early", "late"]
    assert len(deadlines) == 0 and clock.armed == []


def test_an_earlier_deadline_rearms_the_timer():
    clock = FakeTime()
    deadlines = Deadlines(clock.clock, clock.call_later)
    fired: list[str] = []
    deadlines.add(clock.now + 60, lambda: fired.append("hour"))
    deadlines.add(clock.now + 0.05, lambda: fired.append("soon"))
    assert clock.armed == [clock.now + 0.05]  # the hour's timer was replaced, not kept beside it
    clock.advance(0.05)
    assert fired == ["soon"]
    assert clock.armed == [clock.now - 0.05 + 60]
    deadlines.close()
    assert clock.armed == []
    clock.advance(120)
    assert fired == ["soon"]


def test_cancelled_entries_are_swept_out():
    clock = FakeTime()
    deadlines = Deadlines(clock.clock, clock.call_later)
    entries = [deadlines.add(clock.now + 60 + i, lambda: None) for i in range(200)]
    for entry in entries[:150]:
        deadlines.cancel(entry)
    assert len(deadlines) == 50
    assert len(deadlines._heap) < 200  # compacted, not just blanked
    deadlines.close()


async def test_by_default_it_runs_on_the_event_loop_and_wall_clock():
    deadlines = Deadlines()
    fired = asyncio.Event()
    deadlines.add(time.time() + 0.05, fired.set)
    await asyncio.wait_for(fired.wait(), 5)
    deadlines.close()


def test_after_counts_from_the_clock_and_a_callback_can_rearm_itself():
    """The relay's PBX liveness check: one entry at a time, added again by its own callback."""
    fake = FakeTime()
    deadlines = Deadlines(fake.clock, fake.call_later)
    fired: list[float] = []

    def check() -> None:
        fired.append(fake.now)
        if len(fired) < 3:
            deadlines.after(15, check)

    deadlines.after(15, check)
    assert fake.armed == [fake.now + 15]
    for _ in range(5):
        fake.advance(15)
    assert fired == [1_000_015.0, 1_000_030.0, 1_000_045.0]
    assert len(deadlines) == 0
