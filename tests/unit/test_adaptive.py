"""Adaptive detection (pipeline/adaptive.py) on synthetic frames with real moving pixels:
when the detector runs, that the crossing is still counted at about its frame, the floor,
the budget, determinism and reset; and the tracker's frame-based steps between runs."""
from __future__ import annotations

import cv2
import numpy as np

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.pipeline.camera_pipeline import CameraPipeline
from campool_worker.pipeline.detectors import Detections
from campool_worker.pipeline.sources import Frame
from campool_worker.pipeline.tracking import ByteTracker, TrackerConfig

W, H = 640, 480


class BrightBlobDetector:
    """Boxes around the bright blobs of the frame: a perfect detector for drawn objects."""

    name = "blobs"
    provider = "test"
    class_names = ("car",)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, images, *, min_score=None):
        out = []
        for img in images:
            self.calls.append(int(img[0, 0, 0]) + 256 * int(img[0, 0, 1]))
            mask = (img[..., 2] > 128).astype(np.uint8)
            mask[0, 0] = 0
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [(x, y, x + w, y + h) for x, y, w, h, _ in stats[1:n]]
            out.append(Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32),
                                  np.zeros(len(boxes), np.int32)))
        return out


def scene(n: int, *, speed: float = 0.0, start_y: float = 40.0, appear: int = 0, fps: float = 30.0):
    """n frames of a grey road with one 60x40 car driving down `speed` px/frame from frame `appear`."""
    for i in range(n):
        img = np.full((H, W, 3), 60, np.uint8)
        if speed and i >= appear:
            y = int(start_y + speed * (i - appear))
            cv2.rectangle(img, (290, y), (350, y + 40), (200, 200, 255), -1)
        img[0, 0, 0], img[0, 0, 1] = i % 256, i // 256
        yield Frame(image=img, index=i, ts=1000.0 + i / fps, media_ts=i / fps)


def camera(**kw) -> CameraConfig:
    return CameraConfig("cam", "synthetic://", lines=[CountingLine.parse("mid:0,300,640,300")], **kw)


def run(cfg: CameraConfig, frames) -> tuple[CameraPipeline, BrightBlobDetector, list]:
    det = BrightBlobDetector()
    pipe = CameraPipeline(cfg, det, fps=30.0)
    return pipe, det, [pipe.process(f) for f in frames]


def test_adaptive_is_the_default_with_a_model_and_an_idle_scene_is_checked_at_the_floor():
    pipe, det, results = run(camera(), scene(90))
    assert pipe.mode == "adaptive"
    assert det.calls == [0, 30, 60]  # the floor: once a second of video, on media time
    assert [r.frame_index for r in results if r.detected] == det.calls
    assert pipe.model_runs == 3


def test_a_car_crossing_is_counted_at_its_frame_with_a_fraction_of_the_runs():
    _, full_det, full_res = run(camera(detect="every"), scene(90, speed=6.0, appear=5))
    pipe, det, res = run(camera(), scene(90, speed=6.0, appear=5))
    full_cross = [c.frame_index for r in full_res for c in r.crossings]
    cross = [c.frame_index for r in res for c in r.crossings]
    assert len(full_cross) == 1 and len(cross) == 1
    assert abs(cross[0] - full_cross[0]) <= 3
    assert pipe.counts()["mid"].in_total == 1
    assert len(det.calls) <= len(full_det.calls) / 2
    assert pipe.planner is not None and pipe.planner.reasons.get("motion", 0) >= 1  # the car came in as motion


def test_a_fast_car_is_never_jumped_over():
    # 15 px a frame: the car crosses the motion band in ~10 frames and its own length in 3; the
    # planner must look at it about every frame near the line (the tracker needs overlap)
    pipe, _, _ = run(camera(), scene(40, speed=15.0, start_y=-20, appear=2))
    full, _, _ = run(camera(detect="every"), scene(40, speed=15.0, start_y=-20, appear=2))
    assert full.counts()["mid"].in_total == 1
    assert pipe.counts()["mid"].in_total == 1


def test_the_same_frames_give_the_same_decisions_and_reset_starts_afresh():
    a, det_a, _ = run(camera(), scene(120, speed=4.0, appear=20))
    b, det_b, _ = run(camera(), scene(120, speed=4.0, appear=20))
    assert det_a.calls == det_b.calls and a.counts() == b.counts()
    pipe, _, _ = run(camera(), scene(10))
    pipe.reset_detection_plan()
    frame = list(scene(11))[10]
    assert pipe.process(frame).detected  # after a seek the first frame is looked at


def test_the_budget_caps_runs_per_second_and_counts_what_it_refused():
    pipe, det, _ = run(camera(detect_budget=2.0, detect_floor=1.0), scene(60, speed=6.0, appear=5))
    ts = [i / 30.0 for i in det.calls]
    assert all(sum(1 for u in ts if t - 1.0 < u <= t) <= 2 for t in ts)
    assert pipe.planner is not None and pipe.planner.starved > 0


def test_fixed_rate_and_motion_detector_keep_their_paths():
    from campool_worker.pipeline.camera_pipeline import load_detector

    assert CameraPipeline(camera(detect_fps=10.0), BrightBlobDetector(), fps=30.0).mode == "fixed"
    assert CameraPipeline(camera(), load_detector(None), fps=30.0).mode == "every"


def test_lost_tracks_expire_in_frames_not_in_runs_and_velocity_is_per_frame():
    tracker = ByteTracker(["car"], TrackerConfig(lost_frames=30))

    def box(y: float) -> Detections:
        return Detections(np.array([[100, y, 160, y + 40]], np.float32), np.array([0.9], np.float32),
                          np.zeros(1, np.int32))

    for k in range(4):  # a car at 5 px/frame, seen every 6th frame
        tracker.update(box(100 + 30 * k), dt=6.0 if k else 1.0)
    (t,) = tracker.tracks
    assert abs(float(t.mean[5]) - 5.0) < 1.0  # the velocity is per frame, not per run
    for _ in range(2):
        tracker.update(Detections.empty(), dt=10.0)
    assert len(tracker.lost) == 1  # 20 frames hidden: kept
    tracker.update(Detections.empty(), dt=15.0)
    assert tracker.lost == [] and tracker.tracks == []  # 35 frames: gone, whatever the number of runs
