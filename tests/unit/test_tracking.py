"""The tracker on scripted detections: ids through occlusions, crossing paths, noise, class votes."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from campool_worker.pipeline.detectors import Detections
from campool_worker.pipeline.tracking import ByteTracker, TrackerConfig, linear_assignment

NAMES = ["person", "car", "truck"]


def dets(*items: tuple[tuple[float, float, float, float], float, int]) -> Detections:
    if not items:
        return Detections.empty()
    return Detections(np.array([b for b, _, _ in items], np.float32), np.array([s for _, s, _ in items], np.float32),
                      np.array([c for _, _, c in items], np.int32))


def box_at(cx: float, cy: float, w: float = 40, h: float = 80) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def ids(tracks) -> dict[int, tuple[float, float]]:
    return {t.track_id: t.center for t in tracks}


def test_linear_assignment_is_optimal_not_greedy():
    # greedy would take (0,0)=0.1 first and leave row 1 with 0.9; the optimum pairs crosswise
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    assert linear_assignment(cost, 0.95) == [(0, 1), (1, 0)]


def test_linear_assignment_respects_the_cost_limit_and_rectangular_input():
    cost = np.array([[0.9, 0.1, 0.8], [0.2, 0.95, 0.99]])
    assert linear_assignment(cost, 0.5) == [(0, 1), (1, 0)]
    assert linear_assignment(np.array([[0.7]]), 0.5) == []
    assert linear_assignment(np.zeros((0, 3)), 0.5) == []


def test_linear_assignment_matches_brute_force_on_random_tangles():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n, m = (int(v) for v in rng.integers(1, 6, size=2))
        cost = rng.random((n, m))
        got = linear_assignment(cost, 1.0)
        best = min(
            (sum(cost[r, c] for r, c in zip(rows, cols)), list(zip(rows, cols)))
            for k in [min(n, m)]
            for rows in itertools.permutations(range(n), k)
            for cols in itertools.permutations(range(m), k)
            if list(rows) == sorted(rows)
        )
        assert len(got) == min(n, m)
        assert sum(cost[r, c] for r, c in got) == pytest.approx(best[0])


def test_one_object_keeps_its_id_while_moving():
    tr = ByteTracker(NAMES)
    seen = set()
    for i in range(20):
        out = tr.update(dets((box_at(100 + 5 * i, 200), 0.9, 1)))
        seen |= {t.track_id for t in out}
    assert seen == {1}
    assert out[0].class_name == "car"


def test_id_survives_a_three_frame_occlusion():
    tr = ByteTracker(NAMES)
    for i in range(10):
        tr.update(dets((box_at(100 + 6 * i, 200), 0.9, 0)))
    for _ in range(10, 13):  # hidden: no detection at all
        assert tr.update(dets()) == []
    out = tr.update(dets((box_at(100 + 6 * 13, 200), 0.9, 0)))
    assert [t.track_id for t in out] == [1]


def test_low_score_boxes_keep_a_track_alive_but_never_start_one():
    tr = ByteTracker(NAMES, TrackerConfig(high_score=0.5, low_score=0.1, new_track_score=0.6))
    for i in range(5):
        tr.update(dets((box_at(100 + 4 * i, 200), 0.9, 0)))
    for i in range(5, 10):  # half hidden: the detector is unsure
        out = tr.update(dets((box_at(100 + 4 * i, 200), 0.2, 0), (box_at(500, 500), 0.2, 0)))
        assert [t.track_id for t in out] == [1]  # and the faint box elsewhere starts nothing
    assert tr.lost == []


def test_two_people_crossing_paths_keep_their_ids():
    tr = ByteTracker(NAMES)
    history: dict[int, list[float]] = {}
    for i in range(30):
        a = box_at(100 + 10 * i, 200)  # walks right
        b = box_at(390 - 10 * i, 200)  # walks left, passes through a around i = 14
        # while they overlap the nearer one hides the other for a frame, like real people
        items = [(a, 0.9, 0)] if 13 <= i <= 15 else [(a, 0.9, 0), (b, 0.85, 0)]
        for t in tr.update(dets(*items)):
            history.setdefault(t.track_id, []).append(t.center[0])
    assert set(history) == {1, 2}
    right, left = (history[1], history[2]) if history[1][0] < history[2][0] else (history[2], history[1])
    assert right[-1] > right[0] and left[-1] < left[0]  # neither id jumped to the other person
    assert all(np.diff(right) > 0) and all(np.diff(left) < 0)


def test_a_box_seen_once_is_noise_and_gets_no_id():
    tr = ByteTracker(NAMES)
    tr.update(dets((box_at(100, 100), 0.9, 0)))  # first frame: confirmed at once
    tr.update(dets((box_at(100, 100), 0.9, 0), (box_at(600, 400), 0.9, 1)))  # a flash
    out = tr.update(dets((box_at(100, 100), 0.9, 0)))
    assert [t.track_id for t in out] == [1]
    out = tr.update(dets((box_at(100, 100), 0.9, 0), (box_at(300, 300), 0.9, 1)))
    out = tr.update(dets((box_at(100, 100), 0.9, 0), (box_at(300, 300), 0.9, 1)))
    assert sorted(t.track_id for t in out) == [1, 2]  # ids stay dense: the flash used none


def test_class_is_the_weighted_vote_of_all_detections():
    tr = ByteTracker(NAMES)
    for i in range(10):
        cls = 2 if i in (3, 7) else 1  # scored "truck" twice, "car" eight times
        out = tr.update(dets((box_at(100 + 3 * i, 200), 0.8, cls)))
    assert out[0].class_name == "car"


def test_lost_tracks_are_dropped_after_the_buffer():
    tr = ByteTracker(NAMES, TrackerConfig(lost_frames=5))
    for _ in range(5):
        tr.update(dets((box_at(100, 100), 0.9, 0)))
    for _ in range(5):
        tr.update(dets())
    assert len(tr.lost) == 1
    tr.update(dets())
    assert tr.lost == [] and tr.tracks == []


def test_a_merged_box_of_two_people_is_not_taken_as_one_of_them():
    tr = ByteTracker(NAMES)
    for i in range(5):
        tr.update(dets((box_at(200, 100 + 3 * i), 0.9, 0), (box_at(200, 200 + 3 * i), 0.9, 0)))
    # the detector sees one tall box over both (h 180 vs 80) and a faint box for the first
    merged = (180.0, 70.0, 220.0, 250.0)
    out = tr.update(dets((merged, 0.95, 0), (box_at(200, 115), 0.25, 0)))
    first = [t for t in out if t.track_id == 1]
    assert first and abs(first[0].center[1] - 115) < 5  # track 1 did not jump to the merged centre
