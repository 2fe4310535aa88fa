"""service.ratelog: a burst per window and key, then a count of what was left out."""

import logging

from service.ratelog import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_writes_a_burst_then_says_how_many_it_left_out(caplog) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), burst=3, window=10.0, clock=clock)
    with caplog.at_level(logging.INFO, "test.ratelog"):
        written = [limited.warning("refused", "refused %s", i) for i in range(1000)]
        assert written.count(True) == 3 and [r.getMessage() for r in caplog.records] == [
            "refused 0", "refused 1", "refused 2"]
        assert limited.info("other", "another reason has its own burst")
        clock.now += 10.0
        limited.warning("refused", "refused %s", "again")
    last = caplog.records[-1]
    assert last.levelno == logging.WARNING
    assert last.getMessage() == ("refused again (and 997 more like it since the last one logged,"
                                 " not logged: over 3 per 10s)")
    assert len(caplog.records) == 5


def test_within_the_burst_nothing_is_left_out(caplog) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), burst=2, window=1.0, clock=clock)
    with caplog.at_level(logging.INFO, "test.ratelog"):
        for i in range(6):
            assert limited.info("k", "line %d", i)
            clock.now += 0.5
    assert [r.getMessage() for r in caplog.records] == [f"line {i}" for i in range(6)]
