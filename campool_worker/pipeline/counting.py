"""Directional counting lines and occupancy zones, fed with tracks.

Which point of a box counts
---------------------------
A track is placed by the centre of its (Kalman-smoothed) box by default. The centre
is the average of two box edges, so the noise of each edge is halved, and it is the
point an operator sees when drawing a line over the video. The alternative,
``anchor="bottom"`` (bottom-centre, where a vehicle touches the road), is there for
steep oblique views where a line painted on the ground should be crossed by the
wheels, not by the roof of a tall truck. On the shared highway clip both give the
exact by-eye count; the centre has less jitter on the smallest (farthest) boxes.

When a crossing counts
----------------------
Each track has a *confirmed side* per line, set only when its point is clearly away
from the line (more than a margin of 20 % of the box size, at least 2 px). It counts
when it is next seen clearly on the other side AND the path between those two
positions passes through the segment P1-P2 (not the infinite line through it). So:
an object that touches the line and turns back never reaches the other side's margin
and does not count; a box that jitters on the line stays in the dead band; an object
passing beyond the end of the segment changes side without counting. A track that
first appears already past the line has no origin side and does not count: its
crossing happened before we saw it.

Walking from P1 to P2, crossing from the left-hand side to the right-hand side is
"in" (image coordinates, y down). For a horizontal line drawn left to right, "left"
is above: an object moving down the image counts "in".
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from campool_worker.camera import CountingLine, Direction, LineCounts, Zone
from campool_worker.pipeline.tracking import Track

Anchor = Literal["center", "bottom"]
MARGIN_FRACTION = 0.2
MIN_MARGIN_PX = 2.0


def anchor_point(box: np.ndarray, anchor: Anchor) -> tuple[float, float]:
    x = (float(box[0]) + float(box[2])) / 2
    y = (float(box[1]) + float(box[3])) / 2 if anchor == "center" else float(box[3])
    return x, y


def margin_for(box: np.ndarray) -> float:
    """Dead band around a line for this object: a fifth of its size (geometric mean of w, h)."""
    w = max(float(box[2] - box[0]), 0.0)
    h = max(float(box[3] - box[1]), 0.0)
    return max(MIN_MARGIN_PX, MARGIN_FRACTION * math.sqrt(w * h))


@dataclass
class _Side:
    side: int  # -1 = left of P1->P2, +1 = right
    point: tuple[float, float]  # last position clearly on that side


class LineCounter:
    """Counts tracks crossing one directional line segment."""

    def __init__(self, line: CountingLine, anchor: Anchor = "center") -> None:
        self.line = line
        self.anchor = anchor
        self.p1 = np.asarray(line.p1, np.float64)
        self.d = np.asarray(line.p2, np.float64) - self.p1
        self.length = float(np.hypot(*self.d))
        self.count = LineCounts()
        self._sides: dict[int, _Side] = {}

    def signed_distance(self, p: tuple[float, float]) -> float:
        """Pixels from the line; negative on the left-hand side walking P1 -> P2 (the "in" origin)."""
        return float(self.d[0] * (p[1] - self.p1[1]) - self.d[1] * (p[0] - self.p1[0])) / self.length

    def _through_segment(self, a: tuple[float, float], b: tuple[float, float], sa: float, sb: float) -> bool:
        """Does the path a->b (on opposite sides) cross the line between P1 and P2?"""
        k = sa / (sa - sb)
        x = a[0] + (b[0] - a[0]) * k
        y = a[1] + (b[1] - a[1]) * k
        t = ((x - self.p1[0]) * self.d[0] + (y - self.p1[1]) * self.d[1]) / (self.length ** 2)
        return bool(0.0 <= t <= 1.0)

    def update(self, tracks: Iterable[Track], *, count: bool = True) -> list[tuple[Track, Direction]]:
        """Feed the tracks observed in this frame; return (track, "in"|"out") for each new crossing.

        count=False only learns which side each track is on (warm-up before a handover
        cut: the crossings there belong to the previous worker).
        """
        events: list[tuple[Track, Direction]] = []
        for t in tracks:
            p = anchor_point(t.box, self.anchor)
            s = self.signed_distance(p)
            if abs(s) <= margin_for(t.box):
                continue  # in the dead band: no decision either way
            side = -1 if s < 0 else 1
            prev = self._sides.get(t.track_id)
            if prev is not None and prev.side != side:
                if count and self._through_segment(prev.point, p, self.signed_distance(prev.point), s):
                    direction: Direction = "in" if prev.side < 0 else "out"
                    self.count.add(direction, t.class_name)
                    events.append((t, direction))
            self._sides[t.track_id] = _Side(side, p)
        return events

    def known_side(self, track_id: int) -> int | None:
        """The side (-1 left, +1 right) this track was last clearly seen on, None if never."""
        side = self._sides.get(track_id)
        return None if side is None else side.side

    def forget(self, alive: set[int]) -> None:
        """Drop the state of tracks the tracker has given up on."""
        for tid in [k for k in self._sides if k not in alive]:
            del self._sides[tid]


EDGE_FRACTION = 0.06  # a line this close to the frame edge (of the frame's shorter side) is "near the edge"


@dataclass(frozen=True)
class LineWarning:
    """Something about where a line is drawn that can lose counts; the UI words it (translated).

    kind "edge": `value` px from the frame edge: objects leave the picture before their centre
    clears the line's far side. kind "thin_band": the line's band (`value` px, the motion watch
    band of adaptive detection) is thinner than the `limit` px objects move between two
    detector runs at the camera's rate."""

    line: str
    kind: Literal["edge", "thin_band"]
    value: float
    limit: float


def line_warnings(line: CountingLine, width: int, height: int, *,
                  motion_per_run_px: float | None = None) -> list[LineWarning]:
    """What can lose counts on this line in a width x height frame. motion_per_run_px: how far
    the objects seen at this camera move between two detector runs (None: not known yet)."""
    out: list[LineWarning] = []
    limit = EDGE_FRACTION * min(width, height)
    # the distance from the edge that matters is across the line: a horizontal line near the top
    # or bottom, a vertical one near the left or right
    dx, dy = abs(line.p2[0] - line.p1[0]), abs(line.p2[1] - line.p1[1])
    ys, xs = (line.p1[1], line.p2[1]), (line.p1[0], line.p2[0])
    if dx >= dy:
        gap = min(min(ys), height - max(ys))
    else:
        gap = min(min(xs), width - max(xs))
    if gap < limit:
        out.append(LineWarning(line.name, "edge", round(max(gap, 0.0), 1), round(limit, 1)))
    if motion_per_run_px is not None:
        from campool_worker.pipeline.adaptive import MOTION_BAND_FRACTION

        band = MOTION_BAND_FRACTION * height
        if band < motion_per_run_px:
            out.append(LineWarning(line.name, "thin_band", round(band, 1), round(motion_per_run_px, 1)))
    return out


@dataclass
class ZoneState:
    """What a zone reports: who is in it now, the most there ever were, how long they stay."""

    name: str
    occupancy: dict[str, int] = field(default_factory=dict)
    total: int = 0
    peak: int = 0
    peak_by_class: dict[str, int] = field(default_factory=dict)
    entries: int = 0
    dwell_count: int = 0  # tracks that entered and left
    dwell_sum_s: float = 0.0
    dwell_max_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak": self.peak, "occupancy": self.total, "occupancy_by_class": dict(sorted(self.occupancy.items())),
            "peak_by_class": dict(sorted(self.peak_by_class.items())), "entries": self.entries,
            "mean_dwell_s": round(self.dwell_sum_s / self.dwell_count, 3) if self.dwell_count else 0.0,
            "max_dwell_s": round(self.dwell_max_s, 3),
        }


@dataclass
class _Visit:
    entered: float
    last_inside: float
    class_name: str


class ZoneCounter:
    """Occupancy per class, peak and dwell time of one polygon zone.

    Occupancy is what a person looking at the frame would say: the tracks whose point
    is inside the polygon now (a track hidden for up to `grace` frames keeps its last
    place, so a person passing behind another does not blink out of the count).
    Visits (entries, dwell) use a dead band instead: a track enters when its point is
    inside and leaves only when it is more than its margin outside or when the tracker
    drops it, so a person standing on the edge is one visit, not one per frame.
    """

    def __init__(self, zone: Zone, anchor: Anchor = "center", grace: int = 2) -> None:
        self.zone = zone
        self.anchor = anchor
        self.grace = grace
        self.polygon = np.asarray(zone.points, np.float32).reshape(-1, 1, 2)
        self.state = ZoneState(zone.name)
        self._inside: dict[int, _Visit] = {}

    def update(self, tracks: Iterable[Track], now: float) -> ZoneState:
        """Feed every live track (matched or briefly lost) with the media time of the frame."""
        occ: dict[str, int] = {}
        for t in tracks:
            if t.lost_time > self.grace:  # in frames (detection slots at a fixed rate), not runs
                continue
            p = anchor_point(t.box, self.anchor)
            dist = cv2.pointPolygonTest(self.polygon, p, True)  # > 0 inside, < 0 outside
            if dist >= 0:
                occ[t.class_name] = occ.get(t.class_name, 0) + 1
            if t.lost_for:
                continue  # a predicted position is good enough to occupy, not to enter or leave
            visit = self._inside.get(t.track_id)
            if visit is None and dist >= 0:
                self._inside[t.track_id] = _Visit(now, now, t.class_name)
                self.state.entries += 1
            elif visit is not None and dist < -margin_for(t.box):
                self._leave(t.track_id)
            elif visit is not None and dist >= 0:
                visit.last_inside = now
        st = self.state
        st.occupancy = occ
        st.total = sum(occ.values())
        st.peak = max(st.peak, st.total)
        for c, n in occ.items():
            st.peak_by_class[c] = max(st.peak_by_class.get(c, 0), n)
        return st

    def _leave(self, track_id: int) -> None:
        visit = self._inside.pop(track_id)
        dwell = visit.last_inside - visit.entered
        self.state.dwell_count += 1
        self.state.dwell_sum_s += dwell
        self.state.dwell_max_s = max(self.state.dwell_max_s, dwell)

    def forget(self, alive: set[int]) -> None:
        """Tracks the tracker dropped have left (at the last time they were seen inside)."""
        for tid in [k for k in self._inside if k not in alive]:
            self._leave(tid)

    def current_dwell(self, now: float) -> dict[int, float]:
        """Seconds each track now inside has been there."""
        return {tid: now - v.entered for tid, v in self._inside.items()}
