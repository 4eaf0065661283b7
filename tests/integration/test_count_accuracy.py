"""Counting accuracy on the shared videos against counts a person made by eye, with the
default settings (adaptive detection: at most 5 detector runs per second of video).

How the expectations were verified (A2, issue #2):
* Frames were extracted every 3rd (highway) / 4th (plaza) frame, the band around the
  line cropped (highway y=420..580, plaza y=340..500 in two halves), numbered, tiled
  into contact sheets and looked at one by one; every object was followed from sheet
  to sheet and the frame where its centre passes the line written down. The zone was
  checked on full crops of every 10th frame with the polygon drawn in (counting the
  people whose centre is inside). The --annotate output was then looked at to match
  each counted track to a person / vehicle of the list.
* highway.mp4, line near:0,500,1280,500, vehicles moving down = "in": 24 vehicles
  cross during the clip (frame where the centre crosses, by eye):
    red car ~27, grey pickup ~36, dark car ~51, red car (right lane) ~81,
    red car (right lane) ~102, FedEx van ~105, silver car ~150, dark pickup ~156,
    white car with roof rack ~183, white car (right lane) ~183, silver car (left) ~186,
    motorcycle ~216, silver car (left) ~219, beige car ~252, dark car (right) ~255,
    dark car (right) ~297, silver pickup with a flag ~300, dark SUV ~330,
    dark car ~354, grey car ~360, dark SUV (left) ~387, dark pickup ~390,
    silver minivan ~411, navy car ~417.
  Not counted: the white car already straddling the line in frame 0 (its centre is
  24 px past the line when the video starts: its crossing happened before the clip);
  nothing crosses in the far carriageway (it lies above the line).
* plaza.avi, line mid:440,420,1160,420 (people walking down = "in"): 6 in (~26, ~62,
  ~166, ~202, ~230, ~310) and 6 out (~20, ~84, ~136, ~148, ~172, ~294). Two people
  are still below the line in the last frame (centres ~25 px below): not counted.
  Zone walk:600,200,1000,200,1000,500,600,500: peak 6 people (frames ~130..180:
  six people clearly inside, no frame with seven); one person (walking down on the
  left side) inside from ~frame 261 to ~317; at frame 150 six inside.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

HIGHWAY_BY_EYE = [27, 36, 51, 81, 102, 105, 150, 156, 183, 183, 186, 216, 219, 252, 255, 297, 300, 330,
                  354, 360, 387, 390, 411, 417]
PLAZA_IN_BY_EYE = [26, 62, 166, 202, 230, 310]
PLAZA_OUT_BY_EYE = [20, 84, 136, 148, 172, 294]
# Full-rate detection counts a crossing when the centre clears the line's dead band: up to 8 frames
# after the by-eye frame (plaza's first "out": 28 for 20). Adaptive detection counts it when it next
# looks, measured at most 4 frames after full rate (issue #15), so the tolerance is 8 + 4.
TOLERANCE = 12


def run_count(video, model, tmp_path, *args: str) -> tuple[dict, list[dict]]:
    events = tmp_path / "events.jsonl"
    proc = subprocess.run([sys.executable, "-m", "campool_worker.cli", "count", str(video), "--model", str(model),
                           "--events", str(events), "--json", *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), [json.loads(ln) for ln in events.read_text().splitlines()]


def assert_matches_by_eye(frames: list[int], by_eye: list[int], tolerance: int) -> None:
    """Every counted crossing pairs with a by-eye crossing within `tolerance` frames (in order)."""
    assert len(frames) == len(by_eye), (frames, by_eye)
    for got, want in zip(sorted(frames), sorted(by_eye)):
        assert abs(got - want) <= tolerance, (sorted(frames), sorted(by_eye))


def assert_few_model_runs(data: dict) -> None:
    """The default (adaptive) detection counts exactly with at most 5 detector runs per second of video."""
    assert data["detect"] == "adaptive"
    assert 0 < data["model_runs"] <= 5 * data["video_seconds"], (data["model_runs"], data["video_seconds"],
                                                                 data.get("run_reasons"))


def test_highway_every_vehicle_counted_exactly_once(highway_video, yolox_model, tmp_path):
    data, events = run_count(highway_video, yolox_model, tmp_path, "--line", "near:0,500,1280,500",
                             "--classes", "car,truck,bus,motorcycle")
    near = data["lines"]["near"]
    assert (near["in"], near["out"]) == (24, 0)
    assert near["by_class"].get("motorcycle") == {"in": 1, "out": 0}
    assert sum(c["in"] for c in near["by_class"].values()) == 24
    assert len({e["track_id"] for e in events}) == 24  # 24 different tracks, none counted twice
    assert_matches_by_eye([e["frame_index"] for e in events], HIGHWAY_BY_EYE, tolerance=TOLERANCE)
    assert data["frames"] == 450
    assert_few_model_runs(data)


def test_highway_count_holds_when_detection_is_throttled(highway_video, yolox_model, tmp_path):
    # 10 detections per second of video: a loaded worker's setting; the tracker must bridge the gaps
    data, _ = run_count(highway_video, yolox_model, tmp_path, "--line", "near:0,500,1280,500",
                        "--classes", "car,truck,bus,motorcycle", "--detect-fps", "10")
    assert (data["lines"]["near"]["in"], data["lines"]["near"]["out"]) == (24, 0)


def test_plaza_people_through_a_line_and_in_a_zone(plaza_video, yolox_model, tmp_path):
    data, events = run_count(plaza_video, yolox_model, tmp_path, "--line", "mid:440,420,1160,420",
                             "--zone", "walk:600,200,1000,200,1000,500,600,500", "--classes", "person")
    mid = data["lines"]["mid"]
    assert (mid["in"], mid["out"]) == (6, 6)
    assert_matches_by_eye([e["frame_index"] for e in events if e["direction"] == "in"], PLAZA_IN_BY_EYE, TOLERANCE)
    assert_matches_by_eye([e["frame_index"] for e in events if e["direction"] == "out"], PLAZA_OUT_BY_EYE, TOLERANCE)
    walk = data["zones"]["walk"]
    assert walk["peak"] == 6 and walk["peak_by_class"] == {"person": 6}
    assert_few_model_runs(data)
    assert walk["max_dwell_s"] > 2.0  # the slow walkers of frames 60..230 stay several seconds
