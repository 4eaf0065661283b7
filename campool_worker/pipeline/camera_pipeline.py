"""One camera's per-frame pipeline: detector -> tracker -> lines and zones.

`CameraPipeline.process(frame)` is called by the camera runner (live) and by the
offline `count` command (files) for every decoded frame, in order. Whether the
detector runs on a frame is decided one of three ways (`CameraPipeline.mode`):

* "adaptive" (the default with a model): `adaptive.DetectionPlanner` runs it when
  counting needs it (tracks near lines and zones, new motion there, an idle floor),
  within the camera's `detect_budget`; the tracker predicts over the frames between.
* "fixed" (`detect_fps` set): on the first frame of each 1/detect_fps slot of MEDIA
  time, so a file gives the same counts whatever machine, load or start position
  (failover resumes mid-file): slots are fixed on the media timeline.
* "every": every frame (`detect = "every"`, and the motion detector, which needs every
  frame for its background model).
Both throttled modes decide only from what the pipeline has seen, so a file gives the
same counts on every run.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from campool_worker.camera import CameraConfig, Direction, LineCounts
from campool_worker.errors import CampoolError
from campool_worker.pipeline.adaptive import AdaptiveSettings, DetectionPlanner
from campool_worker.pipeline.counting import Anchor, LineCounter, ZoneCounter, ZoneState
from campool_worker.pipeline.detectors import (
    Detections,
    Detector,
    Letterbox,
    OnnxDetector,
    PipelinedDetector,
    read_labels,
    shared_model,
    shared_runner,
)
from campool_worker.pipeline.tracking import ByteTracker, Track, TrackerConfig

if TYPE_CHECKING:
    from campool_worker.pipeline.sources import Frame

log = logging.getLogger(__name__)

LOST_SECONDS = 1.0  # how long a hidden object keeps its id
LOW_SCORE = 0.1  # ByteTrack's second-stage boxes: only ever extend existing tracks

# A frame's detection on its way through the model: its raw output to come, and how it was letterboxed.
_InFlight = tuple[Future[np.ndarray], Letterbox]

__all__ = ["CameraPipeline", "Crossing", "Detections", "FrameResult", "Track", "detect_slot", "load_detector"]


def load_detector(model: str | None, *, labels: str | None = None, class_names: list[str] | None = None,
                  confidence: float = 0.3, classes: list[str] | None = None, intra_op_threads: int | None = None,
                  providers: list[str] | None = None, inference_workers: int = 1) -> Detector:
    """The detector for a camera: the shared ONNX model, or a fresh motion detector when model is None.

    labels: a labels file (one class name a line) or class_names: the names themselves, for a
    custom model; neither = COCO.
    intra_op_threads: threads per inference call (default: the cores minus a quarter);
    inference_workers: inference calls run at once for all cameras (see shared_runner).

    Raises ModelError (missing file, not ONNX, unknown output layout, unknown class name).
    """
    if not model:
        from campool_worker.pipeline.motion import MOTION_CLASS, MotionDetector

        if classes and MOTION_CLASS not in classes:
            log.warning("no model configured: counting motion blobs; the class filter %s does not apply",
                        ",".join(classes))
        return MotionDetector()
    names = list(class_names) if class_names else (read_labels(labels) if labels else None)
    onnx = shared_model(model, intra_op_threads=intra_op_threads, providers=providers,
                        num_labels=len(names) if names else None)
    return OnnxDetector(onnx, class_names=names, confidence=confidence, classes=classes,
                        runner=shared_runner(onnx, inference_workers))


def detect_slot(media_ts: float, detect_fps: float) -> int:
    """Which 1/detect_fps slot of media time a frame falls in: the detector runs on the first
    frame of each slot (`CameraPipeline.should_detect`; a warm standby keeps only those frames)."""
    return math.floor(media_ts * detect_fps + 1e-6)


@dataclass(frozen=True, slots=True)
class Crossing:
    """One track crossing one line, not yet counted: the outbox commits a frame's crossings under
    their camera and epoch, and only then is each a `CountEvent` with its seq."""

    line: str
    direction: Direction
    class_name: str
    track_id: int
    frame_index: int
    ts: float  # wall-clock time of the frame
    media_ts: float = 0.0


@dataclass
class FrameResult:
    frame_index: int
    ts: float
    media_ts: float
    detected: bool  # the detector ran on this frame (else tracks are the last ones seen)
    tracks: list[Track] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    zones: dict[str, ZoneState] = field(default_factory=dict)
    counts: dict[str, LineCounts] = field(default_factory=dict)


def _snapshot(t: Track) -> Track:
    # A copy without the filter and votes: results go to other threads (previews) while
    # the tracker keeps mutating its own objects.
    return Track(track_id=t.track_id, box=t.box.copy(), class_name=t.class_name, score=t.score, hits=t.hits,
                 age=t.age, lost_for=t.lost_for, lost_time=t.lost_time, confirmed=t.confirmed)


class CameraPipeline:
    """Detector + tracker + counters for one camera. Not thread-safe: one thread feeds it frames."""

    def __init__(self, config: CameraConfig, detector: Detector, *, fps: float | None = None,
                 anchor: Anchor = "center", count_from_frame: int = 0,
                 tracker_config: TrackerConfig | None = None) -> None:
        self.config = config
        self.detector = detector
        self.count_from_frame = count_from_frame
        self.detect_fps = config.detect_fps
        if config.detect_fps:
            self.mode = "fixed"
        elif config.detect == "every" or getattr(detector, "provider", "") == "motion":
            self.mode = "every"
        else:
            self.mode = "adaptive"
        # the tracker's step: a detection slot (fixed), else a frame of the stream
        rate = config.detect_fps or fps or 30.0
        if tracker_config is None:
            high = min(config.confidence, 0.9)
            tracker_config = TrackerConfig(high_score=high, low_score=min(LOW_SCORE, high),
                                           new_track_score=min(high + 0.1, 0.95),
                                           lost_frames=max(3, round(LOST_SECONDS * rate)))
        self.tracker = ByteTracker(list(detector.class_names), tracker_config)
        self.min_score = tracker_config.low_score
        self.lines = [LineCounter(ln, anchor) for ln in config.lines]
        self.zones = [ZoneCounter(z, anchor) for z in config.zones]
        self._last_slot: int | None = None
        self._last_run_index: int | None = None
        self._tracks: list[Track] = []
        self.planner = DetectionPlanner(
            self.lines, self.zones, fps=fps or 30.0,
            settings=AdaptiveSettings(budget=config.detect_budget, floor=config.detect_floor)) \
            if self.mode == "adaptive" else None
        self.frames = 0
        self.detections = 0

    @property
    def model_runs(self) -> int:
        """Frames the detector ran on (one image each; `detections` under its report name)."""
        return self.detections

    def set_stream_fps(self, fps: float) -> None:
        """The stream's real frame rate, known once it is open: a hidden object keeps its id for
        LOST_SECONDS of video whatever the rate (the tracker steps in frames unless fixed)."""
        if not self.detect_fps and fps > 0:
            self.tracker.cfg = replace(self.tracker.cfg, lost_frames=max(3, round(LOST_SECONDS * fps)))
            if self.planner is not None:
                self.planner.fps = fps

    def reset_detection_plan(self) -> None:
        """Forget when the detector last ran (a seek): the next frame is detected."""
        self._last_slot = None
        self._last_run_index = None
        if self.planner is not None:
            self.planner.reset()

    def should_detect(self, frame_index: int, media_ts: float, image: np.ndarray | None = None) -> bool:
        """Whether the detector runs on this frame (see the module docstring for the modes);
        the adaptive mode needs the frame's image for its motion check."""
        if self.planner is not None:
            if image is None:
                raise ValueError("adaptive detection needs the frame's image")
            return self.planner.should_run(frame_index, media_ts, image)
        if not self.detect_fps:
            return True
        slot = detect_slot(media_ts, self.detect_fps)
        if slot == self._last_slot:
            return False
        self._last_slot = slot
        return True

    def process(self, frame: Frame) -> FrameResult:
        self.frames += 1
        if not self.should_detect(frame.index, frame.media_ts, frame.image):
            return self._undetected(frame)
        dets = self.detector.detect([frame.image], min_score=self.min_score)[0]
        return self.process_detections(frame, dets)

    def process_stream(self, frames: Iterable[Frame],
                       depth: int = 3) -> Generator[tuple[Frame, FrameResult], None, None]:
        """process() for a sequence of frames, with up to `depth` frames in the detector at once.

        While the model works on frame t+1 (and t+2 waits in its queue), this thread
        post-processes, tracks and counts frame t, so the model never waits for Python
        between two frames of one camera (depth 2 left it idle when this thread was
        briefly descheduled; 3 keeps one frame of slack).
        (frame, result) pairs come out in frame order; the results are the same as
        process() gives.
        """
        detector = self.detector
        # Adaptive: whether frame t+1 is detected depends on the tracks after frame t, so the
        # frames go through one at a time (decoding still runs ahead in the caller's reader).
        if not isinstance(detector, PipelinedDetector) or depth < 2 or self.planner is not None:
            for frame in frames:
                yield frame, self.process(frame)
            return
        pending: deque[tuple[Frame, _InFlight | None]] = deque()  # None: a frame not detected on
        for frame in frames:
            self.frames += 1
            if self.should_detect(frame.index, frame.media_ts):
                blob, box = detector.preprocess(frame.image)
                pending.append((frame, (detector.submit(blob), box)))
            else:
                pending.append((frame, None))
            while len(pending) >= depth or (pending and pending[0][1] is None):
                yield self._finish(detector, *pending.popleft())
        while pending:
            yield self._finish(detector, *pending.popleft())

    def _finish(self, detector: PipelinedDetector, frame: Frame,
                in_flight: _InFlight | None) -> tuple[Frame, FrameResult]:
        if in_flight is None:
            return frame, self._undetected(frame)
        future, box = in_flight
        dets = detector.postprocess(future.result()[0], box, self.min_score)
        return frame, self.process_detections(frame, dets)

    def _undetected(self, frame: Frame) -> FrameResult:
        return FrameResult(frame.index, frame.ts, frame.media_ts, False, tracks=self._tracks,
                           zones={z.zone.name: _copy_zone(z.state) for z in self.zones}, counts=self.counts())

    def process_detections(self, frame: Frame, dets: Detections) -> FrameResult:
        """The tracking and counting half of process(), for callers that batch detection themselves."""
        self.detections += 1
        if self.mode == "fixed":
            dt = 1.0  # the tracker steps in detection slots
        else:
            last = self._last_run_index
            dt = float(min(max(frame.index - last, 1), 10 * 30)) if last is not None else 1.0
        self._last_run_index = frame.index
        visible = self.tracker.update(dets, dt)
        crossings: list[Crossing] = []
        counting = frame.index >= self.count_from_frame
        for lc in self.lines:
            for t, direction in lc.update(visible, count=counting):
                crossings.append(Crossing(lc.line.name, direction, t.class_name, t.track_id,
                                          frame.index, frame.ts, frame.media_ts))
                log.debug("camera %s: track %d (%s) crossed %s %s at frame %d", self.config.camera_id,
                          t.track_id, t.class_name, lc.line.name, direction, frame.index)
        alive = {t.track_id for t in self.tracker.tracks + self.tracker.lost}
        live = [t for t in self.tracker.tracks + self.tracker.lost if t.confirmed]
        for z in self.zones:
            z.update(live, frame.media_ts)
            z.forget(alive)
        for lc in self.lines:
            lc.forget(alive)
        if self.planner is not None:
            everyone = self.tracker.tracks + self.tracker.lost
            self.planner.ran(frame.index, frame.media_ts, frame.image, everyone,
                             new_tracks=sum(1 for t in self.tracker.tracks if t.age == 0))
        self._tracks = [_snapshot(t) for t in visible]
        return FrameResult(frame.index, frame.ts, frame.media_ts, True, tracks=self._tracks,
                           crossings=crossings, zones={z.zone.name: _copy_zone(z.state) for z in self.zones},
                           counts=self.counts())

    def finish(self) -> None:
        """End of the stream: everyone still in a zone leaves now (their dwell is final)."""
        for z in self.zones:
            z.forget(set())

    def counts(self) -> dict[str, LineCounts]:
        """A copy of every line's running totals (results go to other threads)."""
        return {lc.line.name: lc.count.copy() for lc in self.lines}


def _copy_zone(z: ZoneState) -> ZoneState:
    return replace(z, occupancy=dict(z.occupancy), peak_by_class=dict(z.peak_by_class))


def check_geometry(config: CameraConfig, width: int, height: int) -> None:
    """Refuse lines and zones that lie entirely outside the frame: they could never count."""
    for ln in config.lines:
        if ln.outside(width, height):
            raise CampoolError(
                f"line {ln.name!r} ({ln.p1[0]:g},{ln.p1[1]:g} -> {ln.p2[0]:g},{ln.p2[1]:g}) lies outside the "
                f"{width}x{height} frame; draw it inside the picture")
    for z in config.zones:
        if z.outside(width, height):
            raise CampoolError(
                f"zone {z.name!r} lies outside the {width}x{height} frame; draw it inside the picture")
