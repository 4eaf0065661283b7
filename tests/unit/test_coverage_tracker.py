"""The coverage tracker: spans of watched time per (camera, epoch), opened, grown and closed."""
from __future__ import annotations

import itertools

from campool_worker.coverage import CoverageTracker, SpanUpdate


def test_frames_close_together_grow_one_open_span_told_once_per_change():
    cov = CoverageTracker("primary", max_gap_s=2.0)
    for ts in (100.0, 100.1, 100.2):
        cov.frame(ts)
    assert cov.drain() == [SpanUpdate(100.0, 100.2, "primary", False)]
    assert cov.drain() == [], "an unchanged open span is not told again"
    cov.frame(101.0)
    assert cov.drain() == [SpanUpdate(100.0, 101.0, "primary", False)]


def test_a_gap_longer_than_the_limit_is_two_spans_and_the_time_between_is_not_watched():
    cov = CoverageTracker("primary", max_gap_s=2.0)
    cov.frame(100.0)
    cov.frame(101.0)
    cov.frame(104.5)  # 3.5 s without a frame: a stopped worker (SIGSTOP) or a stuck loop
    assert cov.drain() == [SpanUpdate(100.0, 101.0, "primary", True), SpanUpdate(104.5, 104.5, "primary", False)]


def test_a_lost_stream_closes_the_span_at_its_last_frame_and_the_next_frame_opens_a_new_one():
    cov = CoverageTracker("standby")
    cov.frame(10.0)
    cov.frame(10.5)
    cov.lost()
    cov.lost()  # a second loss report changes nothing
    assert cov.drain() == [SpanUpdate(10.0, 10.5, "standby", True)]
    cov.frame(20.0)
    assert cov.drain() == [SpanUpdate(20.0, 20.0, "standby", False)]


def test_a_promotion_ends_the_standby_span_and_what_follows_is_watched_as_primary():
    cov = CoverageTracker("standby")
    cov.frame(1.0)
    cov.frame(1.5)
    cov.set_role("primary")
    cov.frame(1.6)
    assert cov.drain() == [SpanUpdate(1.0, 1.5, "standby", True), SpanUpdate(1.6, 1.6, "primary", False)]
    assert cov.role == "primary"


def test_a_long_span_is_cut_at_the_limit_and_the_next_one_starts_at_that_frame_so_coverage_is_unbroken():
    cov = CoverageTracker("primary", max_span_s=10.0, max_gap_s=2.0)
    for i in range(0, 26):
        cov.frame(1000.0 + i)
    spans = cov.drain()
    assert [(s.start_ts, s.end_ts, s.closed) for s in spans] == [
        (1000.0, 1010.0, True), (1010.0, 1020.0, True), (1020.0, 1025.0, False)]
    assert all(b.start_ts == a.end_ts for a, b in itertools.pairwise(spans)), "no time between two cut spans"


def test_older_frames_than_one_already_told_add_nothing():
    cov = CoverageTracker("primary")
    cov.frame(50.0)
    cov.frame(49.0)
    assert cov.drain() == [SpanUpdate(50.0, 50.0, "primary", False)]


def test_a_slow_camera_raises_the_gap_limit_but_never_below_the_default():
    cov = CoverageTracker("primary")
    cov.set_gap(5.0)
    cov.frame(0.0)
    cov.frame(4.0)  # a 0.5 fps camera: still one span
    assert [s.closed for s in cov.drain()] == [False]
    cov.set_gap(0.1)
    assert cov.max_gap_s == 2.0
