"""The built-in detector for cameras without a model: moving blobs by background subtraction.

It needs no model file and no GPU, so a new camera counts something out of the box,
but it counts *motion*, not objects: two people walking together are one blob, a
swaying tree is a blob, a car that stops fades into the background. Its class is
"motion" and its provider is "motion" so the UI and the JSON say so plainly.

One instance per camera: the background model is that camera's history.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from campool_worker.pipeline.detectors import Detections

log = logging.getLogger(__name__)

MOTION_CLASS = "motion"


class MotionDetector:
    """MOG2 background subtraction + morphology + contours -> boxes of moving regions."""

    name = "motion"
    provider = "motion"
    class_names = (MOTION_CLASS,)

    def __init__(self, *, work_width: int = 640, min_area_fraction: float = 0.0015, history: int = 300,
                 var_threshold: float = 25.0, warmup_frames: int = 15) -> None:
        # Subtraction runs on a downscaled copy: 4-9x cheaper and the noise averages out.
        self.work_width = work_width
        self.min_area_fraction = min_area_fraction
        self.warmup_frames = warmup_frames
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold,
                                                        detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        self.frames = 0

    def detect(self, images: Sequence[np.ndarray], *, min_score: float | None = None) -> list[Detections]:
        return [self._detect_one(img) for img in images]

    def _detect_one(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        scale = min(1.0, self.work_width / w)
        small = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else image
        mask = self._mog.apply(small)
        self.frames += 1
        if self.frames <= self.warmup_frames:
            return Detections.empty()  # the background model is still learning: everything "moves"
        # MOG2 marks shadows 127; counting a shadow as an object would double people in sunlight.
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = self.min_area_fraction * mask.shape[0] * mask.shape[1]
        boxes, scores = [], []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            area = cv2.contourArea(c)
            if bw * bh < min_area:
                continue
            boxes.append((x / scale, y / scale, (x + bw) / scale, (y + bh) / scale))
            # how solid the blob is: a compact blob is more likely one object than noise
            scores.append(0.5 + 0.5 * min(1.0, area / max(bw * bh, 1)))
        if not boxes:
            return Detections.empty()
        return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                          np.zeros(len(boxes), np.int32))
