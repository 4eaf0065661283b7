"""CameraPipeline with a scripted detector: throttling by media time, the warm-up cut, results."""
from __future__ import annotations

import numpy as np

from campool_worker.camera import CameraConfig, CountingLine, LineCounts, Zone
from campool_worker.pipeline.camera_pipeline import CameraPipeline
from campool_worker.pipeline.detectors import Detections
from campool_worker.pipeline.sources import Frame


class ScriptedDetector:
    """One object walking down the image 10 px per frame; the frame index is written in pixel (0, 0)."""

    name = "scripted"
    provider = "test"
    class_names = ("person", "car")

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, images, *, min_score=None):
        out = []
        for img in images:
            i = int(img[0, 0, 0]) + 256 * int(img[0, 0, 1])
            self.calls.append(i)
            cy = 100 + 10 * i
            out.append(Detections(np.array([[280, cy - 40, 320, cy + 40]], np.float32),
                                  np.array([0.9], np.float32), np.array([1], np.int32)))
        return out


def frames(n: int, fps: float = 30.0, start: int = 0):
    for i in range(start, start + n):
        img = np.zeros((720, 640, 3), np.uint8)
        img[0, 0, 0], img[0, 0, 1] = i % 256, i // 256
        yield Frame(image=img, index=i, ts=1000.0 + i / fps, media_ts=i / fps)


def config(**kw) -> CameraConfig:
    # The scripted object draws no pixels, so adaptive detection's motion gate could not see it:
    # these tests are about the full-rate and fixed-rate paths (tests/unit/test_adaptive.py: adaptive).
    kw.setdefault("detect", "every")
    return CameraConfig(camera_id="cam", source="synthetic://", lines=[CountingLine.parse("mid:0,400,640,400")],
                        zones=[Zone.parse("z:0,0,640,0,640,300,0,300")], **kw)


def test_every_frame_is_detected_when_asked_and_the_crossing_is_reported_once():
    det = ScriptedDetector()
    pipe = CameraPipeline(config(detect="every"), det, fps=30.0)
    results = [pipe.process(f) for f in frames(60)]
    assert det.calls == list(range(60)) and all(r.detected for r in results)
    crossings = [c for r in results for c in r.crossings]
    assert len(crossings) == 1
    c = crossings[0]
    # the centre passes y=400 at frame 30; the dead band (a fifth of the box) delays the decision a little
    assert (c.line, c.direction, c.class_name, c.track_id) == ("mid", "in", "car", 1)
    assert 30 <= c.frame_index <= 32 and c.ts == 1000.0 + c.frame_index / 30.0
    assert results[-1].counts == {"mid": LineCounts(1, 0, {"car": {"in": 1, "out": 0}})}


def test_detect_fps_runs_the_detector_on_fixed_media_time_slots():
    det = ScriptedDetector()
    pipe = CameraPipeline(config(detect_fps=10.0), det, fps=30.0)
    results = [pipe.process(f) for f in frames(30)]
    assert det.calls == list(range(0, 30, 3))
    assert [r.detected for r in results[:6]] == [True, False, False, True, False, False]
    # frames without detection repeat the last tracks for previews
    assert results[4].tracks and results[4].tracks[0].track_id == results[3].tracks[0].track_id
    # a pipeline that starts mid-file (failover) detects on the very same frames
    det2 = ScriptedDetector()
    pipe2 = CameraPipeline(config(detect_fps=10.0), det2, fps=30.0)
    for f in frames(14, start=16):
        pipe2.process(f)
    assert det2.calls == [16, 18, 21, 24, 27]
    assert det2.calls[1:] == [i for i in det.calls if i >= 18]


def test_crossings_before_count_from_frame_are_not_counted():
    det = ScriptedDetector()
    pipe = CameraPipeline(config(), det, fps=30.0, count_from_frame=40)
    crossings = [c for f in frames(60) for c in pipe.process(f).crossings]
    assert crossings == [] and pipe.counts()["mid"].in_total == 0
    pipe = CameraPipeline(config(), ScriptedDetector(), fps=30.0, count_from_frame=25)
    assert len([c for f in frames(60) for c in pipe.process(f).crossings]) == 1


def test_zone_state_in_results_and_dwell_at_the_end():
    pipe = CameraPipeline(config(), ScriptedDetector(), fps=30.0)
    results = [pipe.process(f) for f in frames(60)]
    assert results[5].zones["z"].total == 1  # centre at y 150: inside
    assert results[40].zones["z"].total == 0 and results[40].zones["z"].peak == 1
    pipe.finish()
    d = pipe.zones[0].state.to_dict()
    assert d["entries"] == 1 and 5.0 / 30 < d["max_dwell_s"] < 25.0 / 30


def test_results_are_snapshots_the_tracker_does_not_change_later():
    pipe = CameraPipeline(config(), ScriptedDetector(), fps=30.0)
    gen = frames(10)
    first = pipe.process(next(gen))
    box = first.tracks[0].box.copy()
    for f in gen:
        pipe.process(f)
    np.testing.assert_array_equal(first.tracks[0].box, box)


class SubmittingDetector(ScriptedDetector):
    """The scripted object again, through the preprocess / submit / postprocess split ONNX detectors offer."""

    def preprocess(self, image):
        return image[None], None

    def submit(self, blob):
        from concurrent.futures import Future
        fut = Future()
        fut.set_result([blob[0]])
        return fut

    def postprocess(self, raw, box, min_score=None):
        return self.detect([raw])[0]


def test_process_stream_gives_the_same_results_as_process_in_order():
    plain = CameraPipeline(config(detect_fps=10.0), ScriptedDetector(), fps=30.0)
    expected = [plain.process(f) for f in frames(60)]
    streamed = CameraPipeline(config(detect_fps=10.0), SubmittingDetector(), fps=30.0)
    got = list(streamed.process_stream(frames(60), depth=3))
    assert [f.index for f, _ in got] == list(range(60))
    assert [r.frame_index for _, r in got] == list(range(60))
    assert [(r.detected, [c.frame_index for c in r.crossings]) for _, r in got] == \
        [(r.detected, [c.frame_index for c in r.crossings]) for r in expected]
    assert streamed.counts() == plain.counts()


def test_stream_fps_sets_how_long_a_hidden_object_keeps_its_id():
    from campool_worker.camera import CameraConfig
    from campool_worker.pipeline.camera_pipeline import LOST_SECONDS, CameraPipeline, load_detector

    every_frame = CameraPipeline(CameraConfig("c", "x.mp4"), load_detector(None))
    every_frame.set_stream_fps(12.5)
    assert every_frame.tracker.cfg.lost_frames == round(LOST_SECONDS * 12.5)
    throttled = CameraPipeline(CameraConfig("c", "x.mp4", detect_fps=5), load_detector(None))
    before = throttled.tracker.cfg.lost_frames
    throttled.set_stream_fps(50)  # the tracker runs at the detect rate: the stream's rate does not matter
    assert throttled.tracker.cfg.lost_frames == before
