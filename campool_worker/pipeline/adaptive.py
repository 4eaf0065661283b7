"""Adaptive detection: run the model on a frame only when counting needs it.

The detector is most of a camera's cost, and most frames change nothing that is
counted: an empty road, or cars far from the line whose next positions the tracker
predicts well. `DetectionPlanner.should_run` decides, per frame, from three things:

1. **Tracks near lines and zones.** After every run the planner reads the tracker's
   tracks (position, size, Kalman velocity in pixels per frame) and sets the latest
   frame by which the detector must look again:
   * a young track (unconfirmed, or found again after being hidden) near a line or
     zone is looked at again within `YOUNG_GAP` frames: its velocity is not known yet;
   * a track hidden now (lost) counts only while a crossing of it is to come, and is
     looked for every `LOST_MIN_GAP` frames at most often: looking more often does
     not show it sooner;
   * a track engaged with a line or zone (its point within reach of the dead band)
     is looked at before it moves more than `ASSOC_FRACTION` of its own size, so
     the tracker keeps its id across the line (a new id past the line has no origin
     side and is never counted);
   * a track approaching a line before its origin side is known is looked at before
     it reaches the dead band, so its side is recorded; and once more `CROSSING_LAG`
     frames after it should be clear of the dead band's far side, so the crossing is
     counted at about the frame it happens (as full-rate detection counts it);
   * a track farther away is looked at before it could reach the engaged region.
   A crossing is therefore never jumped over: the gap always shrinks with the speed
   toward the line compared with the band.
2. **Motion near the lines and zones.** Every frame is shrunk to a `MOTION_WIDTH`-pixel
   grey image and compared with the one of the last run; changed pixels inside bands
   around the lines and zones that no track's box explains (something new) trigger a
   run now. A change that turns out to hold nothing (shadow, leaves) backs off,
   doubling the gap up to the floor's.
3. **The floor.** An idle scene is still looked at `floor` times a second.

`budget` caps the runs in any second of media time; when counting needs more than
that, the run is refused and counted in `starved` (the worker reports it: a camera
running below its need is an alert, not a silent miss).

Every decision is a function of the frames and detections the planner has seen (frame
indices, pixel content), never of wall time or load, so a file gives the same counts on
every run; `reset()` forgets everything (a seek starts a fresh history).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from campool_worker.pipeline.counting import LineCounter, ZoneCounter, anchor_point, margin_for
from campool_worker.pipeline.tracking import Track

MOTION_WIDTH = 160  # px: the grey frame motion is measured on
MOTION_THRESHOLD = 24  # grey levels a pixel must change by since the last run
MOTION_MIN_PIXELS = 6  # changed small-frame pixels (each ~8x8 px of 720p) that mean "something moved"
MOTION_BAND_FRACTION = 0.22  # half-width of the watched band around a line, in frame heights
YOUNG_HITS = 2  # an unconfirmed track: seen once, velocity unknown
LOST_MIN_GAP = 4  # frames between looks for a track hidden now
YOUNG_GAP = 2
ASSOC_FRACTION = 0.6  # a track may move this much of its size between two runs while engaged
APPROACH_SAFETY = 0.8  # run when 80 % of the time to the band has passed
PENDING_FRACTION = 0.4  # the same for a track about to cross a line
CROSSING_LAG = 1  # frames after a predicted crossing the detector looks to count it
EXPLAIN_GROW = 0.25  # a track's box, grown this much on each side, explains the motion in it


@dataclass(frozen=True, slots=True)
class AdaptiveSettings:
    """A camera's adaptive detection settings: at most `budget` runs in any second of media
    time, at least `floor` runs a second when nothing moves."""

    budget: float = 10.0
    floor: float = 1.0


@dataclass(slots=True)
class _Plan:
    """What the tracker knew at the last run, for the frames until the next."""

    frame: int
    boxes: np.ndarray  # (N, 4) xyxy at that frame
    velocity: np.ndarray  # (N, 2) px per frame of the box centre
    deadline: int  # the latest frame the detector must look again
    reason: str  # the rule that set the deadline ("floor", or one of _track_gap's)


class DetectionPlanner:
    """Per-frame decision whether the detector runs (see the module docstring). One per camera."""

    def __init__(self, lines: Sequence[LineCounter], zones: Sequence[ZoneCounter], *,
                 settings: AdaptiveSettings | None = None, fps: float = 30.0) -> None:
        self.lines = list(lines)
        self.zones = list(zones)
        self.settings = settings or AdaptiveSettings()
        self.fps = fps if fps > 0 else 30.0
        self.runs = 0
        self.starved = 0  # runs counting needed that the budget refused
        self.reasons: dict[str, int] = {}  # why the detector ran: "start", "motion", "floor" or a track rule
        self.reset()

    def reset(self) -> None:
        """Forget everything seen (a seek, a restart): the next frame runs."""
        self._plan: _Plan | None = None
        self._reference: np.ndarray | None = None  # small grey frame of the last run
        self._band: np.ndarray | None = None
        self._scale = 1.0
        self._recent: deque[float] = deque()  # media times of the runs in the last second
        self._idle_gap = 1  # back-off for motion that held nothing

    @property
    def budget(self) -> float:
        return self.settings.budget

    def set_budget(self, budget: float) -> None:
        """Change the most runs a second (the worker lowers it for low-priority cameras when saturated)."""
        self.settings = AdaptiveSettings(budget=max(budget, self.settings.floor), floor=self.settings.floor)

    # -- the decision ---------------------------------------------------------------------------------

    def should_run(self, frame_index: int, media_ts: float, image: np.ndarray) -> bool:
        """True when the detector must look at this frame; call `ran()` after the run."""
        small = self._small(image)
        plan = self._plan
        if plan is None or self._reference is None:
            return self._admit(media_ts, "start")
        gap = frame_index - plan.frame
        if gap <= 0:
            return False
        if frame_index >= plan.deadline:
            return self._admit(media_ts, plan.reason)
        if gap >= self._idle_gap and self._unexplained_motion(small, plan, gap):
            return self._admit(media_ts, "motion")
        return False

    def _admit(self, media_ts: float, reason: str) -> bool:
        recent = self._recent
        while recent and recent[0] <= media_ts - 1.0 + 1e-6:
            recent.popleft()
        if len(recent) >= max(1, math.floor(self.settings.budget + 1e-6)):
            self.starved += 1
            return False
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        return True

    def ran(self, frame_index: int, media_ts: float, image: np.ndarray, tracks: Sequence[Track],
            new_tracks: int) -> None:
        """The detector ran on this frame and the tracker was updated: plan until the next run.

        tracks: every track the tracker keeps (tracked and lost, confirmed or not);
        new_tracks: how many tracks this run started (motion that held something)."""
        self.runs += 1
        self._recent.append(media_ts)
        prev = self._plan
        motion_run = prev is not None and frame_index < prev.deadline
        floor_gap = max(1, round(self.fps / max(self.settings.floor, 1e-3)))
        if motion_run and new_tracks == 0:
            self._idle_gap = min(self._idle_gap * 2, floor_gap)  # motion held nothing: look less often
        else:
            self._idle_gap = 1
        self._reference = self._small(image)
        n = len(tracks)
        boxes = np.stack([t.box for t in tracks]).astype(np.float64) if n else np.zeros((0, 4))
        velocity = np.zeros((n, 2))
        gap = float(floor_gap)
        reason = "floor"
        for i, t in enumerate(tracks):
            if t.mean is not None:
                velocity[i] = t.mean[4:6]
            need, rule = self._track_gap(t, boxes[i], velocity[i])
            if need < gap:
                gap, reason = need, rule
        self._plan = _Plan(frame_index, boxes, velocity, frame_index + max(1, math.floor(gap)), reason)

    def _track_gap(self, t: Track, box: np.ndarray, v: np.ndarray) -> tuple[float, str]:
        """The most frames this track may go unseen without risking its count, and which rule says so."""
        size = math.sqrt(max(float(box[2] - box[0]), 1.0) * max(float(box[3] - box[1]), 1.0))
        speed = float(np.hypot(*v))
        assoc = ASSOC_FRACTION * size / max(speed, 1e-3)
        lost = t.lost_for > 0
        # a velocity is trusted after two matches in a row: one from a start or from a stale
        # prediction (found again after being hidden) may be far from the object's speed
        young = not lost and (t.hits < YOUNG_HITS or not t.confirmed or t.streak < 2)
        best = (math.inf, "")

        def need(gap: float, rule: str) -> None:
            nonlocal best
            if gap < best[0]:
                best = (gap, rule)

        reach = speed * assoc + size  # "engaged": one look's travel and a body from the band
        for lc in self.lines:
            p = anchor_point(box, lc.anchor)
            d = lc.signed_distance(p)
            along = ((p[0] - lc.p1[0]) * lc.d[0] + (p[1] - lc.p1[1]) * lc.d[1]) / lc.length
            if along < -reach or along > lc.length + reach:
                continue  # beside the segment: it cannot cross this line soon
            band = margin_for(box)
            normal_speed = float(lc.d[0] * v[1] - lc.d[1] * v[0]) / lc.length  # d(signed distance)/frame
            heading = 1 if normal_speed > 0 else -1  # the side it is moving toward
            known = lc.known_side(t.track_id)
            # a crossing is to come unless it already sits, recorded, on the side it heads to
            pending = abs(normal_speed) > 1e-3 and known != heading
            if abs(d) <= band + reach:
                if young:
                    need(YOUNG_GAP, "young")
                elif pending or (not lost and abs(d) <= band):
                    # past the line and moving away it has been counted: its identity no longer matters
                    need(assoc, "near")
                if pending:
                    # identity must hold through the crossing: objects speed up and grow as they
                    # come nearer, which a constant-velocity prediction undershoots
                    need(PENDING_FRACTION * size / max(speed, 1e-3), "crossing")
                    if known is None and d * heading < -band:
                        # its origin side is not recorded yet: see it once more before the dead band
                        need(max(1.0, (abs(d) - band) / abs(normal_speed) * APPROACH_SAFETY), "origin")
                    # look again just after it should be clear of the far side of the dead band, so
                    # the crossing is counted within a frame or two of when it happens
                    exit_in = (heading * band - d) / normal_speed
                    if exit_in > 0:
                        need(math.ceil(exit_in) + CROSSING_LAG, "exit")
            elif pending and d * heading < 0:
                need(max(1.0, (abs(d) - band - reach) / abs(normal_speed) + assoc), "approach")
        for zc in self.zones:
            p = anchor_point(box, zc.anchor)
            dist = abs(cv2.pointPolygonTest(zc.polygon, p, True))
            if dist <= reach:
                if not lost:
                    need(YOUNG_GAP if young else assoc, "young" if young else "zone")
                continue
            ahead = (p[0] + float(v[0]), p[1] + float(v[1]))
            approach = dist - abs(cv2.pointPolygonTest(zc.polygon, ahead, True))
            if approach > 1e-3:
                need(max(1.0, dist / approach * APPROACH_SAFETY), "approach")
        if lost and best[0] < math.inf:
            # hidden now: looking more often does not show it sooner; keep its prediction in reach
            return max(LOST_MIN_GAP, best[0]), "lost"
        return best

    # -- motion ---------------------------------------------------------------------------------------

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        scale = min(1.0, MOTION_WIDTH / w)
        if self._band is None or self._band.shape != (max(1, round(h * scale)), max(1, round(w * scale))):
            self._scale = scale
            self._band = self._watch_band(w, h, scale)
        size = (self._band.shape[1], self._band.shape[0])
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(grey, (3, 3), 0)

    def _watch_band(self, w: int, h: int, scale: float) -> np.ndarray:
        """The small-frame pixels near a line or zone: motion elsewhere never counts."""
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        band = np.zeros((sh, sw), np.uint8)
        half = max(2, round(MOTION_BAND_FRACTION * h * scale))
        for lc in self.lines:
            p1 = (round(lc.line.p1[0] * scale), round(lc.line.p1[1] * scale))
            p2 = (round(lc.line.p2[0] * scale), round(lc.line.p2[1] * scale))
            cv2.line(band, p1, p2, 255, thickness=2 * half)
        for zc in self.zones:
            pts = np.round(zc.polygon.reshape(-1, 2) * scale).astype(np.int32)
            cv2.fillPoly(band, [pts], 255)
            cv2.polylines(band, [pts], True, 255, thickness=half)
        return band

    def _unexplained_motion(self, small: np.ndarray, plan: _Plan, gap: int) -> bool:
        assert self._reference is not None and self._band is not None
        changed = cv2.absdiff(small, self._reference) > MOTION_THRESHOLD
        changed &= self._band > 0
        if int(changed.sum()) < MOTION_MIN_PIXELS:
            return False
        if len(plan.boxes):
            # the boxes where each track was at the last run and where it is predicted now
            for box, v in zip(plan.boxes, plan.velocity):
                moved = box + np.array([v[0], v[1], v[0], v[1]]) * gap
                both = np.array([min(box[0], moved[0]), min(box[1], moved[1]),
                                 max(box[2], moved[2]), max(box[3], moved[3])])
                wh = both[2:] - both[:2]
                x0, y0 = ((both[:2] - wh * EXPLAIN_GROW) * self._scale).astype(int)
                x1, y1 = np.ceil((both[2:] + wh * EXPLAIN_GROW) * self._scale).astype(int)
                changed[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = False
        return int(changed.sum()) >= MOTION_MIN_PIXELS
