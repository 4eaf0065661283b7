"""Drawing results on frames: boxes, track ids, lines with their "in" arrow, running counts.

Used by `campool-worker count --annotate` (so a person can check a count by eye) and
by previews. Drawing happens in place on the image it is given.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from campool_worker.camera import CountingLine, Zone
from campool_worker.errors import CampoolError
from campool_worker.pipeline.camera_pipeline import FrameResult

log = logging.getLogger(__name__)

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LINE_COLOUR = (0, 215, 255)
_FLASH_COLOUR = (0, 255, 0)
_ZONE_COLOUR = (255, 160, 0)


def _colour(track_id: int) -> tuple[int, int, int]:
    # a fixed, well spread colour per id (golden-ratio hue steps)
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.array([[[hue, 200, 255]]], np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _label(img: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int], scale: float = 0.5) -> None:
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = org
    y = max(y, h + 2)
    cv2.rectangle(img, (x, y - h - 3), (x + w + 2, y + base - 1), colour, -1)
    cv2.putText(img, text, (x + 1, y - 2), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def in_arrow(line: CountingLine, length: float = 40.0) -> tuple[tuple[int, int], tuple[int, int]]:
    """Start and end of an arrow at the line's middle pointing to the side "in" crosses into."""
    (x1, y1), (x2, y2) = line.p1, line.p2
    dx, dy = x2 - x1, y2 - y1
    n = np.hypot(dx, dy)
    nx, ny = -dy / n, dx / n  # right-hand normal walking p1 -> p2 (image y points down)
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    return ((int(mx - nx * length / 2), int(my - ny * length / 2)),
            (int(mx + nx * length / 2), int(my + ny * length / 2)))


def draw(img: np.ndarray, result: FrameResult, lines: Sequence[CountingLine], zones: Sequence[Zone]) -> np.ndarray:
    """Draw one frame's result in place and return the image."""
    crossed = {c.line for c in result.crossings}
    for z in zones:
        pts = np.asarray(z.points, np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, _ZONE_COLOUR, 2, cv2.LINE_AA)
        st = result.zones.get(z.name)
        if st is not None:
            _label(img, f"{z.name}: {st.total} now, peak {st.peak}", tuple(pts[0, 0]), _ZONE_COLOUR)
    for ln in lines:
        colour = _FLASH_COLOUR if ln.name in crossed else _LINE_COLOUR
        p1 = (int(ln.p1[0]), int(ln.p1[1]))
        p2 = (int(ln.p2[0]), int(ln.p2[1]))
        cv2.line(img, p1, p2, colour, 3 if ln.name in crossed else 2, cv2.LINE_AA)
        a, b = in_arrow(ln)
        cv2.arrowedLine(img, a, b, colour, 2, cv2.LINE_AA, tipLength=0.4)
        cv2.putText(img, "in", (b[0] + 4, b[1] + 4), _FONT, 0.5, colour, 1, cv2.LINE_AA)
    for t in result.tracks:
        x1, y1, x2, y2 = (int(v) for v in t.box)
        c = _colour(t.track_id)
        cv2.rectangle(img, (x1, y1), (x2, y2), c, 2)
        cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
        cv2.circle(img, (cx, cy), 3, c, -1)
        _label(img, f"#{t.track_id} {t.class_name} {t.score:.2f}", (x1, y1), c, 0.45)
    y = 24
    for name, cnt in result.counts.items():
        per = " ".join(f"{k}:{v.get('in', 0)}/{v.get('out', 0)}" for k, v in sorted(cnt.by_class.items()))
        _label(img, f"{name}  in {cnt.in_total}  out {cnt.out_total}  {per}", (8, y), (255, 255, 255), 0.6)
        y += 26
    _label(img, f"frame {result.frame_index}", (8, img.shape[0] - 10), (200, 200, 200), 0.5)
    return img


class AnnotatedVideo:
    """An mp4 file the annotated frames are written to."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise CampoolError(f"cannot write {str(self.path)!r}: folder {str(self.path.parent)!r} does not exist")
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), fps or 25.0,
                                       (width, height))
        if not self._writer.isOpened():
            raise CampoolError(f"cannot write video {str(self.path)!r}: OpenCV could not open an mp4 writer "
                               f"there; check the name ends in .mp4 and the folder is writable")
        self.frames = 0

    def write(self, img: np.ndarray) -> None:
        self._writer.write(img)
        self.frames += 1

    def close(self) -> None:
        self._writer.release()
        log.info("annotated video %s: %d frames", self.path, self.frames)
