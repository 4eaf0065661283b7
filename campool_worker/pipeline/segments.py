"""Count one stretch of a recorded file so that the stretches of a job join into one exact pass.

A job (issue #13) cuts a long recording into segments; each worker counts its own ones.
A `Segment` is a frame range [start, end) of one file with a warm-up before ``start``:
the pipeline seeks to ``start - warmup`` and runs detector, tracker and counters over
the warm-up without reporting (the same ``count_from_frame`` suppression a file-camera
handover uses), then reports the crossings whose frame lies in [start, end) and stops at
``end``. A crossing belongs to the segment that holds the frame on which the counter fires,
so every crossing of the file belongs to exactly one segment. A track still short of the
line at ``end`` is not this segment's business: the next segment's warm-up replays it and
that segment reports its crossing.

Why the joined result equals one pass: the detector is a pure function of the frame (and
the detector slot is fixed on the media timeline, `detect_slot`, because the source gives
frame i the media time i/fps after a seek too), so detections match frame for frame. The
tracker and the line sides are history; they match the single pass's at ``start`` once
every object visible at ``start`` has been in view for the whole warm-up (see
WARMUP_SECONDS for the figures that sized it). Track ids differ (numbering starts at the
warm-up) and are not part of what is compared or reported.

Only an object detector is exact this way. The built-in motion detector's background
model carries the whole history of the stream, so its boundaries are close, not exact.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from campool_worker.camera import CameraConfig, Direction
from campool_worker.pipeline.camera_pipeline import CameraPipeline, Crossing
from campool_worker.pipeline.detectors import Detector
from campool_worker.pipeline.offline import prefetch
from campool_worker.pipeline.sources import VideoFileSource

log = logging.getLogger(__name__)

# The tracker history a segment replays before its range. Measured with
# `python3 -m campool_worker.harness.segment_cuts` (YOLOX-nano, every frame detected; cut layouts:
# 6 even cuts, a cut on every crossing's frame, one frame after each, one before each):
#   highway.mp4 (29.97 fps, 24 crossings): 0 frames 0/4 layouts equal, 10 frames 2/4, 20 and more 4/4;
#   plaza.avi (25 fps, 12 crossings): 0 frames 0/4, 10 frames 1/4, 20 and more 4/4.
# So 0.8 s is the most either needed; 2 s leaves 2.5 times that for slower traffic and costs
# 2 s per boundary (1.1 % of a 3-minute segment).
WARMUP_SECONDS = 2.0


def warmup_frames(fps: float, seconds: float = WARMUP_SECONDS) -> int:
    return max(1, math.ceil(seconds * fps))


@dataclass(frozen=True, slots=True)
class Segment:
    """Frames [start, end) of one file, counted after `warmup` frames of tracker history."""

    path: str
    start: int
    end: int
    warmup: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end) or self.warmup < 0:
            raise ValueError(f"segment {self.start}..{self.end} (warm-up {self.warmup}) is not a frame range")

    @property
    def first_frame(self) -> int:
        """The frame the decoder seeks to: the warm-up's first."""
        return max(0, self.start - self.warmup)

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class SegmentCrossing:
    """One crossing a segment reports: what the job's result is built of (no worker ids, no track ids)."""

    frame_index: int
    media_ts: float
    line: str
    direction: Direction
    class_name: str

    @classmethod
    def of(cls, c: Crossing) -> SegmentCrossing:
        return cls(c.frame_index, round(c.media_ts, 3), c.line, c.direction, c.class_name)

    def to_list(self) -> list[object]:
        return [self.frame_index, self.media_ts, self.line, self.direction, self.class_name]

    @classmethod
    def from_list(cls, v: list[object]) -> SegmentCrossing:
        frame, ts, line, direction, cls_name = v
        if direction not in ("in", "out"):
            raise ValueError(f"crossing direction {direction!r} is not in/out")
        return cls(int(frame), float(ts), str(line), direction, str(cls_name))  # type: ignore[arg-type, call-overload]


@dataclass
class SegmentResult:
    """What counting a segment found: its crossings in frame order, and what could not be read."""

    crossings: list[SegmentCrossing] = field(default_factory=list)
    frames: int = 0  # frames of [start, end) decoded and counted
    warmup_frames: int = 0  # frames decoded before start
    skipped: int = 0  # undecodable frames the decoder skipped inside the segment
    ended_at: int | None = None  # the file ended before `end` at this frame (its true length)


class SegmentStopped(Exception):
    """The caller asked the segment to stop (the job was cancelled or the worker is shutting down)."""


def count_segment(config: CameraConfig, segment: Segment, detector: Detector, *,
                  progress: Callable[[int], None] | None = None,
                  stop: Callable[[], bool] | None = None) -> SegmentResult:
    """Count `segment` of the file with `config`'s lines and zones, exactly (see the module doc).

    progress(n) is called now and then with the frames of [start, end) done so far;
    stop() returning True ends the count with SegmentStopped. Raises SourceError when the
    file cannot be opened or sought. A segment past the end of the file is empty (ended_at says
    where the file ends): headers can overstate the length, so the master's cut may overshoot.
    """
    source = VideoFileSource(segment.path)
    result = SegmentResult()
    try:
        first = segment.first_frame
        if first:
            source.seek(first)
        pipeline = CameraPipeline(config, detector, fps=source.fps, count_from_frame=segment.start)
        skipped_before = source.skipped
        last = first - 1
        for frame, fr in pipeline.process_stream(prefetch(source, max_frames=segment.end - first)):
            last = frame.index
            if frame.index < segment.start:
                result.warmup_frames += 1
                skipped_before = source.skipped
                continue
            result.frames += 1
            result.crossings.extend(SegmentCrossing.of(c) for c in fr.crossings)
            if result.frames % 50 == 0:
                if progress is not None:
                    progress(result.frames)
                if stop is not None and stop():
                    raise SegmentStopped(f"segment {segment.start}..{segment.end} of {segment.path} stopped")
        result.skipped = source.skipped - skipped_before
        if last + 1 < segment.end:
            # The file is shorter than its header said: the segment ends with it (past its end it is
            # empty), and ended_at tells the master the true length.
            result.ended_at = source.frame_count if last < segment.start else last + 1
    finally:
        source.close()
    if progress is not None:
        progress(result.frames)
    return result
