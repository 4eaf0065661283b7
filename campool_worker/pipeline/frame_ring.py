"""A warm standby's recent frames: the last seconds of a camera, small and compressed, in order.

A warm standby keeps its camera's stream connected without running the detector; on promotion
it counts what it kept from the cut on, faster than real time (runner.py). `FrameRing` holds
those frames in the form chosen by measurement (figures on the 2-core box, highway.mp4 1280x720,
per frame; the H.264 decode itself costs 2.2 ms whatever is kept):

=====================================  ==========  ==========  =========================
form                                   keep (ms)   KiB         replay: decode+resize (ms)
=====================================  ==========  ==========  =========================
decoded, full size                     4.0 (copy)  2700        0
decoded, 640 px long side              0.7         675         0.8
JPEG q85, full size                    2.2         ~110        2.4
JPEG q85, 640 px long side (chosen)    0.9         ~39         1.5
JPEG q85, 416 px long side             0.7-3.6     ~21         1.1
=====================================  ==========  ==========  =========================

So a frame is scaled to `RING_LONG_SIDE` pixels on its long side (no more than a 640-input
detector sees of it; YOLOX-nano sees 416) and kept as a JPEG: 10 s at 30 fps is ~12 MB
instead of 830 MB decoded, for 0.9 ms a frame. Only frames the pipeline would run its detector
on are kept (the first frame of each ``1/detect_fps`` slot of media time, the same rule as
`CameraPipeline.should_detect`): the frames between them change nothing the pipeline counts,
so at 10 detections a second on a 30 fps camera a third of the frames is kept, a third of the
memory and of the replay. On replay a frame is decoded and scaled back to its source size, so
lines and zones (in source pixels) apply unchanged.

harness/standby_bench.py measures these forms again on a live stream (``ring_forms``); on the
2-core box under other engineers' load (load average 2.5): JPEG q85 at 640 px keeps a frame in
1.9 ms, holds 38.8 KiB and gives it back in 3.3 ms; decoded at 640 px 0.6 ms, 675 KiB, 1.8 ms.
So JPEG costs ~1 % of a core more per camera at 10 detections a second and holds 17 times less
(10 s: 3.8 MB a camera instead of 66 MB). Keeping the compressed H.264 packets instead would
save the decode itself (most of what a warm standby costs, see protocol.WARM_STANDBY_COST),
but needs a demuxer and a decoder fed packet by packet (PyAV), which OpenCV does not offer and
the worker does not ship.

Not thread-safe: the camera's loop thread owns its ring.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from campool_worker.pipeline.camera_pipeline import detect_slot
from campool_worker.pipeline.sources import Frame

log = logging.getLogger(__name__)

RING_LONG_SIDE = 640
RING_JPEG_QUALITY = 85
# While a promotion is counted, nothing is trimmed by age (every frame from the cut on is
# counted); only a camera counted slower than it streams grows past this, and then loses its
# oldest frames, as a live stream would.
CATCH_UP_LIMIT_S = 120.0


@dataclass(frozen=True, slots=True)
class _Kept:
    index: int
    ts: float
    media_ts: float
    width: int  # the source frame's size, restored on replay
    height: int
    jpeg: bytes


class FrameRing:
    """The last ``seconds`` of a camera's frames (by their capture time), small and compressed."""

    def __init__(self, seconds: float, detect_fps: float | None = None, *, long_side: int = RING_LONG_SIDE,
                 quality: int = RING_JPEG_QUALITY) -> None:
        if not seconds > 0:
            raise ValueError(f"a frame ring keeps a positive number of seconds, not {seconds}")
        self.seconds_kept = seconds
        self.detect_fps = detect_fps
        self.long_side = long_side
        self.quality = quality
        self._frames: deque[_Kept] = deque()
        self._last_slot: int | None = None
        self._trim_by_age = True
        self._peeked: Frame | None = None
        self.nbytes = 0
        self.dropped = 0  # frames lost at the catch-up limit
        self.skipped = 0  # frames the detector would not have run on (not kept)
        self.keep_ms = 0.0  # time spent keeping frames (scale + JPEG), for the cost figures
        self.kept = 0  # frames kept since it was made (the cost figures' denominator)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def seconds(self) -> float:
        """Seconds of video held, from the oldest frame to the newest."""
        if len(self._frames) < 2:
            return 0.0
        return self._frames[-1].ts - self._frames[0].ts

    @property
    def newest_ts(self) -> float | None:
        return self._frames[-1].ts if self._frames else None

    @property
    def oldest_ts(self) -> float | None:
        return self._frames[0].ts if self._frames else None

    def push(self, frame: Frame) -> bool:
        """Keep a frame (the newest). False when it was not kept: no detection would run on it."""
        if self.detect_fps:
            slot = detect_slot(frame.media_ts, self.detect_fps)
            if slot == self._last_slot:
                self.skipped += 1
                return False
            self._last_slot = slot
        t0 = time.perf_counter()
        img = frame.image
        h, w = img.shape[:2]
        scale = min(1.0, self.long_side / max(w, h, 1))
        small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else img
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding of a buffered frame failed")
        data = jpeg.tobytes()
        self._frames.append(_Kept(frame.index, frame.ts, frame.media_ts, w, h, data))
        self.nbytes += len(data)
        self.keep_ms += (time.perf_counter() - t0) * 1000.0
        self.kept += 1
        self._trim()
        return True

    def hold_from(self, ts: float) -> None:
        """Keep every frame from ``ts`` on, whatever its age (a promotion is about to count them);
        frames before it may go."""
        self._trim_by_age = False
        self.drop_before(ts)

    def drop_before(self, ts: float) -> int:
        """Forget the frames captured before ``ts``; returns how many went."""
        n = 0
        while self._frames and self._frames[0].ts < ts:
            self._pop_oldest()
            n += 1
        return n

    def peek(self) -> Frame | None:
        """The oldest frame, decoded and at its source size; None when the ring is empty."""
        if self._peeked is None and self._frames:
            kept = self._frames[0]
            img = cv2.imdecode(np.frombuffer(kept.jpeg, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise RuntimeError(f"buffered frame {kept.index} could not be decoded")
            if (img.shape[1], img.shape[0]) != (kept.width, kept.height):
                img = cv2.resize(img, (kept.width, kept.height), interpolation=cv2.INTER_LINEAR)
            self._peeked = Frame(img, kept.index, kept.ts, kept.media_ts)
        return self._peeked

    def pop(self) -> None:
        """Done with the oldest frame."""
        if self._frames:
            self._pop_oldest()

    def clear(self) -> None:
        self._frames.clear()
        self._peeked = None
        self.nbytes = 0
        self._last_slot = None

    def _pop_oldest(self) -> None:
        kept = self._frames.popleft()
        self.nbytes -= len(kept.jpeg)
        self._peeked = None

    def _trim(self) -> None:
        newest = self._frames[-1].ts
        if self._trim_by_age:
            self.drop_before(newest - self.seconds_kept)
            return
        limit = max(CATCH_UP_LIMIT_S, 3 * self.seconds_kept)
        lost = self.drop_before(newest - limit)
        if lost:
            self.dropped += lost
            log.warning("a promoted camera is counted slower than it streams: %d buffered frame(s) older than "
                        "%g s dropped", lost, limit)
