"""Live standby on the master: which standby events count, and where the handover cut falls.

A camera with a standby has two workers watching one live stream: the primary, whose events are
stored, and the standby under its own epoch (protocol: "Live standby and the standby cut"). This
module owns, per camera, what that needs, all in master wall time (a worker's stamps are mapped
through its clock offset by the caller):

* the primary's watermark W: the ``frame_ts`` of its latest heartbeat whose events up to
  ``last_seq`` are all stored. A heartbeat is consistent (the worker notes frame_ts, commits every
  queued crossing, then reads last_seq), so the primary has counted everything up to W;
* the standby's events: those at or before W - MATCH_WINDOW_S are *shadowed* (acked, not counted:
  the primary has them); later ones are *held* (in memory, bounded; neither stored nor acked, so
  the worker keeps and resends them);
* the promotion: the cut C = W, M = MATCH_WINDOW_S. The standby's events after C - M are taken,
  except each one paired one to one with a stored primary event of the same line, direction and
  class within M of it. Primary events may already be stored beyond W (those of frames after the
  last fully stored heartbeat), so pairing runs up to the latest stored primary event plus M;
  after that the standby's events are taken as they are. Pairing starts earlier, at C - 2M: the
  standby's events of (C - 2M, C - M] are not taken, but each first pairs with its own twin, so
  that a primary crossing just before C - M whose twin fell before it cannot be paired with a
  later, different object instead (that lost one crossing in the live bench). Pairing goes in
  time order and takes the earliest free primary event in the window (for intervals on a line,
  earliest-first in time order pairs as many as can be). So a hot standby's events shadowed in
  the last 2M are remembered for the promotion, and a warm one is told to count from C - 2M (its
  clock): its replay reports those twins itself.

Held events the watermark passes later are released (`release`) and stored as shadowed at once,
so a standby's outbox keeps only its last moments.

Pure: no clock, no I/O; the pool core feeds it and asks it to judge.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from campool_worker.camera import CountEvent

from .fencing import Verdict
from .models import Camera, Worker
from .scheduler import can_run

log = logging.getLogger(__name__)

# Two workers decoding one RTSP stream stamp the same frame apart by their decode and network
# jitter plus the error of the clock-offset estimate (tens of ms on a LAN, ~100 ms on a loaded
# worker); their trackers may also report the crossing one or two detection frames apart (at 10
# detections per second, 0.1-0.2 s, the two workers sampling different frames of the stream).
# 0.5 s covers both with room. A wider window pairs more often two different objects of one class
# crossing one line in one direction close together: that keeps the count right as long as each
# object's own twin is there to be paired too, which is why a promoted standby reports from
# C - MATCH_WINDOW_S (see core._promote), and why the window is not wider than it must be.
MATCH_WINDOW_S = 0.5
HELD_MAX = 5000            # held standby events per camera (beyond it the oldest are left to a resend)
RECENT_PRIMARY = 2000      # stored primary events remembered per camera, for matching at a promotion
MARKS_MAX = 64             # heartbeats of the primary waiting for their events to be stored

EventKey = tuple[str, str, str]   # (line, direction, class)


def effective_standby(camera: Camera, workers: Iterable[Worker]) -> str:
    """none | warm | hot: the camera's own setting; unset: hot for a critical camera when a second
    worker that can run it exists (adopted, not draining, its key not in doubt), else none.

    Only a live stream has a standby: a file (or synthetic) source fails over exactly by seeking
    back to its cut, and two workers reading one file are at different places of it at one time,
    so the standby's cut by time would mean nothing."""
    if camera.seekable:
        return "none"
    mode = camera.config.standby
    if mode is not None:
        return mode
    if camera.config.priority != "critical":
        return "none"
    capable = [w for w in workers if w.adopted and not w.draining and not w.key_conflict and can_run(camera, w)]
    return "hot" if len(capable) >= 2 else "none"


@dataclass(frozen=True)
class _Mark:
    last_seq: int
    frame_ts: float          # master time


@dataclass
class Promotion:
    """A standby that became the primary: how its events are judged around the cut."""

    epoch: int
    cut: float                       # C, master time
    match_until: float               # after this, its events are taken as they are
    decided: dict[int, Verdict] = field(default_factory=dict)   # seq -> verdict (a resend is judged the same)
    consumed: set[tuple[int, int]] = field(default_factory=set)  # primary (epoch, seq) already matched


@dataclass
class _CameraShadow:
    primary_epoch: int = 0
    stored_hw: dict[int, int] = field(default_factory=dict)       # epoch -> every seq <= this is stored
    marks: deque[_Mark] = field(default_factory=lambda: deque(maxlen=MARKS_MAX))
    watermark: float | None = None
    recent: deque[tuple[float, EventKey, int, int]] = field(default_factory=lambda: deque(maxlen=RECENT_PRIMARY))
    standby_epoch: int | None = None
    held: dict[int, tuple[CountEvent, float]] = field(default_factory=dict)   # seq -> (event, master ts)
    # the standby's events shadowed lately (master ts, key, seq): at a promotion those of the last
    # 2M pair with their twins first (see the module docstring)
    shadowed: deque[tuple[float, EventKey, int]] = field(default_factory=lambda: deque(maxlen=RECENT_PRIMARY))
    promotion: Promotion | None = None


class Shadows:
    """The standby bookkeeping of every camera (see the module docstring)."""

    def __init__(self, match_window_s: float = MATCH_WINDOW_S, held_max: int = HELD_MAX) -> None:
        self.match_window_s = match_window_s
        self.held_max = held_max
        self._cams: dict[str, _CameraShadow] = {}

    def _cam(self, camera_id: str) -> _CameraShadow:
        return self._cams.setdefault(camera_id, _CameraShadow())

    def forget(self, camera_id: str) -> None:
        self._cams.pop(camera_id, None)

    # ------------------------------------------------------------- the primary

    def primary_is(self, camera_id: str, epoch: int) -> None:
        """The camera's primary epoch (a new lease or a promotion): its watermark starts again."""
        cs = self._cam(camera_id)
        if cs.primary_epoch == epoch:
            return
        cs.primary_epoch = epoch
        cs.marks.clear()
        cs.watermark = None
        if cs.promotion is not None and cs.promotion.epoch != epoch:
            cs.promotion = None

    def primary_heartbeat(self, camera_id: str, epoch: int, last_seq: int, frame_ts: float,
                          backlog: int | None = None) -> None:
        """The primary's heartbeat said: every crossing of frames up to frame_ts (master time) has
        seq <= last_seq, and ``backlog`` of its events are not acked yet (read after last_seq). A
        frame_ts of 0 (nothing processed yet, or a worker that does not say) tells nothing.

        backlog 0: everything it committed was acked, so stored; this holds after a master restart
        too, when the acks of this run have not yet covered what the last run stored."""
        cs = self._cams.get(camera_id)
        if cs is None or epoch != cs.primary_epoch or frame_ts <= 0.0:
            return
        if last_seq <= cs.stored_hw.get(epoch, 0) or backlog == 0:
            self._advance(cs, frame_ts)
        else:
            cs.marks.append(_Mark(last_seq, frame_ts))

    def acked(self, camera_id: str, epoch: int, up_to_seq: int) -> None:
        """Every event of (camera, epoch) with seq <= up_to_seq is stored (what the master acks)."""
        cs = self._cams.get(camera_id)
        if cs is None:
            return
        if up_to_seq > cs.stored_hw.get(epoch, 0):
            cs.stored_hw[epoch] = up_to_seq
        if epoch != cs.primary_epoch:
            return
        while cs.marks and cs.marks[0].last_seq <= up_to_seq:
            self._advance(cs, cs.marks.popleft().frame_ts)

    def _advance(self, cs: _CameraShadow, frame_ts: float) -> None:
        if cs.watermark is None or frame_ts > cs.watermark:
            cs.watermark = frame_ts

    def watermark(self, camera_id: str) -> float | None:
        """W: the primary has counted everything up to this master time (None: not known yet)."""
        cs = self._cams.get(camera_id)
        return cs.watermark if cs is not None else None

    def primary_stored(self, ev: CountEvent, ts: float) -> None:
        """A primary event was stored and counted (ts: master time); remembered for matching."""
        cs = self._cams.get(ev.camera_id)
        if cs is not None and ev.epoch == cs.primary_epoch:
            cs.recent.append((ts, (ev.line, ev.direction, ev.class_name), ev.epoch, ev.seq))

    def latest_primary(self, camera_id: str) -> float | None:
        """The master time of the primary's latest stored event (None: none remembered)."""
        cs = self._cams.get(camera_id)
        if cs is None:
            return None
        stamps = [r[0] for r in cs.recent if r[2] == cs.primary_epoch]
        return max(stamps) if stamps else None

    # ------------------------------------------------------------- the standby

    def standby_is(self, camera_id: str, epoch: int | None) -> None:
        """The camera's standby epoch now (None: no standby); held events of another epoch are dropped."""
        cs = self._cam(camera_id)
        if cs.standby_epoch != epoch:
            cs.standby_epoch = epoch
            cs.held.clear()
            cs.shadowed.clear()

    def held(self, camera_id: str) -> int:
        cs = self._cams.get(camera_id)
        return len(cs.held) if cs is not None else 0

    def release(self, camera_id: str) -> list[CountEvent]:
        """The held events the watermark has passed (at or before W - MATCH_WINDOW_S), out of memory:
        judged again now they are shadowed, so they are acked without waiting for the worker's resend."""
        cs = self._cams.get(camera_id)
        if cs is None or cs.watermark is None or not cs.held:
            return []
        limit = cs.watermark - self.match_window_s
        out = sorted((seq for seq, (_, ts) in cs.held.items() if ts <= limit))
        released = [cs.held.pop(seq) for seq in out]
        cs.shadowed.extend((ts, (ev.line, ev.direction, ev.class_name), ev.seq) for ev, ts in released)
        return [ev for ev, _ in released]

    def judge(self, ev: CountEvent, ts: float) -> Verdict | None:
        """The verdict on an event of a standby or a promoted standby (ts: master time); None when
        the event is not this module's business (the epoch fence judges it)."""
        cs = self._cams.get(ev.camera_id)
        if cs is None:
            return None
        if cs.standby_epoch is not None and ev.epoch == cs.standby_epoch:
            return self._shadow(cs, ev, ts)
        if cs.promotion is not None and ev.epoch == cs.promotion.epoch:
            return self._promoted(cs, cs.promotion, ev, ts)
        return None

    def _shadow(self, cs: _CameraShadow, ev: CountEvent, ts: float) -> Verdict:
        w = cs.watermark
        if w is not None and ts <= w - self.match_window_s:
            if cs.held.pop(ev.seq, None) is None:   # a resend of a released one is remembered once
                cs.shadowed.append((ts, (ev.line, ev.direction, ev.class_name), ev.seq))
            return Verdict.SHADOWED
        if ev.seq not in cs.held and len(cs.held) >= self.held_max:
            # the oldest leave memory, not the worker's outbox: the resend at a promotion brings them back
            del cs.held[min(cs.held)]
        cs.held[ev.seq] = (ev, ts)
        return Verdict.HELD

    # ------------------------------------------------------------- the promotion

    def promote(self, camera_id: str, epoch: int, cut: float) -> list[CountEvent]:
        """The standby at ``epoch`` becomes the primary with the cut ``cut`` (master time). Returns
        its held events, to be judged again (now by the promotion's rule) and stored."""
        cs = self._cam(camera_id)
        latest = self.latest_primary(camera_id)
        until = max(cut, latest if latest is not None else cut) + self.match_window_s
        ours = cs.standby_epoch == epoch
        held = [ev for ev, _ in sorted(cs.held.values(), key=lambda h: h[0].seq)] if ours else []
        # once each: a resend before the promotion (its ack not there yet) is shadowed again
        twins = sorted({t[2]: t for t in cs.shadowed if t[0] > cut - 2 * self.match_window_s}.values()) if ours else []
        cs.held.clear()
        cs.shadowed.clear()
        cs.standby_epoch = None
        prior = cs.primary_epoch
        pr = cs.promotion = Promotion(epoch, cut, until)
        self.primary_is(camera_id, epoch)   # the old primary's stored events stay in `recent` for matching
        # the standby's own twins of the primary's crossings shortly before the cut pair first;
        # decided by seq, so that their resend (asked for at a promotion) is not paired again
        for ts, key, seq in twins:
            self._pair(cs, pr, key, ts)
            pr.decided[seq] = Verdict.SHADOWED
        log.info("camera %s: standby epoch %d promoted over epoch %d; cut at %.3f, matching until %.3f, "
                 "%d held event(s) to take", camera_id, epoch, prior, cut, until, len(held))
        return held

    def _promoted(self, cs: _CameraShadow, pr: Promotion, ev: CountEvent, ts: float) -> Verdict:
        mw = self.match_window_s
        if ts > pr.match_until:
            return Verdict.ACCEPT
        if ts <= pr.cut - 2 * mw:
            return Verdict.SHADOWED
        known = pr.decided.get(ev.seq)
        if known is not None:
            return known
        if self._pair(cs, pr, (ev.line, ev.direction, ev.class_name), ts) or ts <= pr.cut - mw:
            verdict = Verdict.SHADOWED      # the same object, already counted by the old primary
        else:
            verdict = Verdict.ACCEPT
        pr.decided[ev.seq] = verdict
        return verdict

    def _pair(self, cs: _CameraShadow, pr: Promotion, key: EventKey, ts: float) -> bool:
        """Pair a standby crossing at ``ts`` with the earliest free stored primary crossing of the
        same key within the window; False when there is none."""
        best: tuple[float, int, int] | None = None
        for pts, pkey, pep, pseq in cs.recent:
            if pep == pr.epoch or pkey != key or (pep, pseq) in pr.consumed or abs(pts - ts) > self.match_window_s:
                continue
            if best is None or pts < best[0]:
                best = (pts, pep, pseq)
        if best is None:
            return False
        pr.consumed.add((best[1], best[2]))
        return True
