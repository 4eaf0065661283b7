"""The token bucket and the warning budget, on a fake clock."""
from __future__ import annotations

import logging

import pytest

from campool_worker.rate_limits import TokenBucket, WarningSummary


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_bucket_lets_a_burst_through_then_the_rate_and_says_when():
    clock = Clock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s() == pytest.approx(0.5)
    clock.t += 0.5
    assert bucket.take() and not bucket.take()
    clock.t += 10
    assert bucket.full and [bucket.take() for _ in range(4)] == [True, True, True, False], "never more than the burst"


def test_a_bucket_refuses_nonsense_settings():
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0, 1)


def test_warnings_past_the_budget_become_one_summary_line_per_interval(caplog):
    clock = Clock()
    logger = logging.getLogger("test.summary")
    summary = WarningSummary(logger, "wrong proofs", per_subject=3, per_interval=10, interval_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.summary"):
        for i in range(10_000):
            summary.warn("key-a", "wrong proof %d from key-a", i)
        for i in range(500):
            summary.warn(f"key-{i}", "wrong proof from key-%d", i)
        summary.held("key-z")
        lines = [r.getMessage() for r in caplog.records]
        assert lines[:3] == ["wrong proof 0 from key-a", "wrong proof 1 from key-a", "wrong proof 2 from key-a"]
        assert len(lines) == 10, "per subject 3, in all 10 per interval"
        clock.t += 61
        summary.tick()
        lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 11
    assert lines[-1].startswith("10491 more wrong proofs from 495 source(s) in the last 61 s")
    summary.tick()
    assert len(caplog.records) == 11, "nothing held back: no summary"
