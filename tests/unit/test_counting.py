"""Line-side logic and zones, fed with hand-made tracks (a box per frame)."""
from __future__ import annotations

import numpy as np
import pytest

from campool_worker.camera import CountingLine, Zone
from campool_worker.pipeline.counting import LineCounter, ZoneCounter
from campool_worker.pipeline.tracking import Track

LINE = CountingLine.parse("near:0,500,1280,500")  # left to right: "in" = moving down


def track(tid: int, cx: float, cy: float, w: float = 60, h: float = 60, cls: str = "car", lost_for: int = 0) -> Track:
    return Track(track_id=tid, box=np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32),
                 class_name=cls, score=0.9, lost_for=lost_for, lost_time=float(lost_for), confirmed=True)


def run(counter: LineCounter, path: list[tuple[float, float]], tid: int = 1, cls: str = "car") -> list[str]:
    out = []
    for x, y in path:
        out += [d for _, d in counter.update([track(tid, x, y, cls=cls)])]
    return out


def test_moving_down_across_a_left_to_right_line_is_in_and_up_is_out():
    c = LineCounter(LINE)
    assert run(c, [(300, y) for y in range(400, 620, 20)], tid=1) == ["in"]
    assert run(c, [(700, y) for y in range(620, 400, -20)], tid=2, cls="truck") == ["out"]
    assert c.count.to_dict() == {"in": 1, "out": 1, "by_class": {"car": {"in": 1, "out": 0},
                                                                 "truck": {"in": 0, "out": 1}}}


def test_reversing_the_line_reverses_the_direction():
    c = LineCounter(CountingLine.parse("rev:1280,500,0,500"))
    assert run(c, [(300, y) for y in range(400, 620, 20)]) == ["out"]


def test_diagonal_line_direction_follows_the_left_hand_rule():
    # p1 top-left -> p2 bottom-right; walking along it, the right-hand side is below-left
    c = LineCounter(CountingLine.parse("diag:100,100,500,500"))
    assert run(c, [(400 - 10 * i, 200 + 10 * i) for i in range(21)]) == ["in"]  # from upper-right to lower-left


def test_touching_the_line_and_turning_back_does_not_count():
    c = LineCounter(LINE)
    path = [(300, y) for y in range(400, 500, 10)] + [(300, 503), (300, 505)] + [(300, y) for y in range(495, 380, -10)]
    assert run(c, path) == []
    assert c.count.in_total == c.count.out_total == 0


def test_jitter_on_the_line_counts_once():
    c = LineCounter(LINE)
    rng = np.random.default_rng(3)
    path = [(300, y) for y in range(380, 490, 15)]
    path += [(300 + rng.normal(0, 2), 500 + rng.normal(0, 3)) for _ in range(40)]  # parked on the line
    path += [(300, y) for y in range(510, 640, 15)]
    assert run(c, path) == ["in"]


def test_crossing_beyond_the_end_of_the_segment_does_not_count():
    c = LineCounter(CountingLine.parse("short:400,500,800,500"))
    assert run(c, [(300, y) for y in range(400, 620, 20)], tid=1) == []  # left of the segment
    assert run(c, [(900, y) for y in range(400, 620, 20)], tid=2) == []  # right of it
    assert run(c, [(600, y) for y in range(400, 620, 20)], tid=3) == ["in"]


def test_a_track_first_seen_past_the_line_does_not_count():
    c = LineCounter(LINE)
    assert run(c, [(300, y) for y in range(560, 700, 20)]) == []


def test_a_big_jump_across_the_line_between_detections_still_counts_once():
    c = LineCounter(LINE)
    assert run(c, [(300, 420), (300, 440), (300, 610), (300, 650)]) == ["in"]


def test_each_clear_crossing_counts_so_in_then_back_out_is_one_of_each():
    c = LineCounter(LINE)
    assert run(c, [(300, y) for y in (420, 460, 540, 580, 540, 460, 420)]) == ["in", "out"]


def test_forgotten_tracks_lose_their_side():
    c = LineCounter(LINE)
    run(c, [(300, 420)], tid=7)
    c.forget(alive=set())
    assert run(c, [(300, 580)], tid=7) == []  # a new life for id 7: no origin side


def test_anchor_bottom_uses_the_bottom_centre():
    c = LineCounter(LINE, anchor="bottom")
    # box centre stays above 500, bottom edge (cy + 30) crosses it
    assert run(c, [(300, y) for y in range(420, 500, 10)]) == ["in"]


ZONE = Zone.parse("area:100,100,300,100,300,300,100,300")


def test_zone_occupancy_per_class_and_peak():
    z = ZoneCounter(ZONE)
    st = z.update([track(1, 150, 150, cls="person"), track(2, 200, 200, cls="person"), track(3, 250, 250, cls="dog"),
                   track(4, 500, 500, cls="person")], now=0.0)
    assert st.total == 3 and st.occupancy == {"person": 2, "dog": 1}
    st = z.update([track(1, 150, 150, cls="person")], now=1.0)
    assert st.total == 1 and st.peak == 3 and st.peak_by_class == {"person": 2, "dog": 1}


def test_zone_dwell_time_from_enter_to_leave():
    z = ZoneCounter(ZONE)
    t = 0.0
    for x in range(50, 400, 10):  # walks through the zone left to right, 0.1 s per step
        z.update([track(1, x, 200, cls="person")], now=t)
        t += 0.1
    st = z.state
    assert st.entries == 1 and st.dwell_count == 1
    # inside from x=100 (t=0.5) to x=300 (t=2.5)
    assert st.dwell_max_s == pytest.approx(2.0, abs=1e-6)
    assert st.to_dict()["mean_dwell_s"] == pytest.approx(2.0)


def test_zone_edge_jitter_is_one_visit_and_a_dropped_track_leaves():
    z = ZoneCounter(ZONE)
    for i, x in enumerate([295, 302, 297, 304, 298, 303, 296]):  # standing on the right edge
        z.update([track(1, x, 200, cls="person")], now=float(i))
    assert z.state.entries == 1 and z.state.dwell_count == 0
    z.forget(alive=set())
    assert z.state.dwell_count == 1 and z.state.dwell_max_s == pytest.approx(6.0)


def test_a_briefly_hidden_person_still_occupies_the_zone():
    z = ZoneCounter(ZONE, grace=2)
    z.update([track(1, 200, 200, cls="person")], now=0.0)
    assert z.update([track(1, 200, 200, cls="person", lost_for=2)], now=0.1).total == 1
    assert z.update([track(1, 200, 200, cls="person", lost_for=3)], now=0.2).total == 0
