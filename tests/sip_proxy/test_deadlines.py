import asyncio
import time

from service.sip_proxy.deadlines import Deadlines


async def test_callbacks_fire_in_deadline_order_and_cancelled_ones_never():
    deadlines = Deadlines()
    fired: list[str] = []
    now = time.time()
    deadlines.add(now + 0.15, lambda: fired.append("late"))
    deadlines.add(now + 0.05, lambda: fired.append("early"))
    cancelled = deadlines.add(now + 0.10, lambda: fired.append("cancelled"))
    deadlines.add(now - 5, lambda: fired.append("past"))
    deadlines.cancel(cancelled)
    deadlines.cancel(cancelled)  # twice is harmless
    assert len(deadlines) == 3
    await asyncio.sleep(0.3)
    assert fired == ["past", "early", "late"]
    assert len(deadlines) == 0


async def test_an_earlier_deadline_rearms_the_timer():
    deadlines = Deadlines()
    fired: list[str] = []
    deadlines.add(time.time() + 60, lambda: fired.append("hour"))
    deadlines.add(time.time() + 0.05, lambda: fired.append("soon"))
    await asyncio.sleep(0.2)
    assert fired == ["soon"]
    deadlines.close()


async def test_cancelled_entries_are_swept_out():
    deadlines = Deadlines()
    entries = [deadlines.add(time.time() + 60 + i, lambda: None) for i in range(200)]
    for entry in entries[:150]:
        deadlines.cancel(entry)
    assert len(deadlines) == 50
    assert len(deadlines._heap) < 200  # compacted, not just blanked
    deadlines.close()
