"""The live bench's audit: a looped file's crossings on the stream's timeline, matched one to one."""
from __future__ import annotations

import pytest

from campool_gui.harness.audit import Crossing
from campool_gui.harness.live_audit import TimedCrossing, loop_crossings, map_to_stream, match_crossings


def _t(ts: float, cls: str = "car", direction: str = "in") -> TimedCrossing:
    return TimedCrossing(ts, "near", direction, cls)


def test_the_second_loop_of_the_reference_is_the_steady_loop():
    ref = [Crossing(5, "near", "in", "car"), Crossing(104, "near", "in", "car"), Crossing(150, "near", "out", "bus"),
           Crossing(205, "near", "in", "car")]
    assert loop_crossings(ref, 100) == [Crossing(4, "near", "in", "car"), Crossing(50, "near", "out", "bus")]


def test_crossings_repeat_at_each_loop_start_and_stop_where_a_loop_was_cut():
    per_loop = [Crossing(90, "near", "in", "car"), Crossing(30, "near", "out", "truck")]
    # Loop 1 lasted 2 s only (the server restarted the file), loop 2 runs until the end of the window.
    got = map_to_stream(per_loop, [100.0, 110.0, 112.0], fps=30.0, until=115.5)
    assert [(round(c.ts, 3), c.direction) for c in got] == [
        (101.0, "out"), (103.0, "in"),     # loop 0: frames 30 and 90
        (111.0, "out"),                    # loop 1: frame 90 would be at 113 s, after loop 2 started
        (113.0, "out"), (115.0, "in"),     # loop 2, until the end at 115.5 s
    ]


def test_one_to_one_matching_counts_lost_duplicated_and_reclassified():
    expected = [_t(10.0), _t(11.0), _t(12.0), _t(20.0), _t(30.0, "truck"), _t(40.0, direction="out")]
    stored = [_t(10.1), _t(10.15),            # 10.0 found; 10.15 is a second event of one vehicle
              _t(12.05),                      # 12.0 found; 11.0 lost
              _t(20.9),                       # 0.9 s off: not the same crossing
              _t(30.0, "car"),                # a truck stored as a car
              _t(40.2, direction="out")]
    res = match_crossings(expected, stored, start=0.0, end=100.0, tolerance=0.5, offset=0.0)
    assert (res.expected, res.stored, res.matched) == (6, 6, 3)
    assert res.lost_ts == [11.0, 20.0, 30.0]
    assert res.duplicated_ts == pytest.approx([10.15, 20.9, 30.0])
    assert (res.lost, res.duplicated, res.reclassified) == (3, 3, 1)
    assert res.matched + res.lost == res.expected


def test_pairing_is_maximal_not_greedy_nearest():
    # Nearest-first would pair 10.4 with 10.45 and leave 10.0 and 10.9 unpaired; in order, all pair.
    res = match_crossings([_t(10.0), _t(10.45)], [_t(10.4), _t(10.9)], 0.0, 100.0, tolerance=0.5, offset=0.0)
    assert (res.matched, res.lost, res.duplicated) == (2, 0, 0)


def test_the_latency_is_removed_before_matching_and_the_edges_are_shared():
    expected = [_t(float(s)) for s in range(10, 60, 5)]           # 10, 15, ..., 55
    stored = [_t(s + 0.3) for s in range(10, 60, 5) if s != 35]   # 0.3 s late, the one at 35 s lost
    res = match_crossings(expected, stored, start=10.2, end=50.0, tolerance=0.2)
    assert res.offset_s == pytest.approx(0.3)
    # In [10.2, 50]: 15 .. 50 expected (8); the 10 s one lies outside, and its stored partner
    # (10.3 -> 10.0 after the latency) is neither lost nor duplicated.
    assert (res.expected, res.stored, res.matched, res.lost, res.duplicated) == (8, 7, 7, 1, 0)
    assert res.lost_ts == [35.0]
    assert max(abs(r) for r in res.residuals_s) < 1e-9
