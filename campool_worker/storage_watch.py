"""How the worker's storage is doing, and the crossings the outbox could not take yet.

Two objects, both owned by the service loop thread (like the outbox):

* `HeldCrossings`: frames whose commit failed (the disk is full, an I/O error), oldest first, in
  memory. They are **not published**: a count is published only once it is committed, so a
  master never acks what a restart could lose. They are retried with the one `Backoff`
  (0.25 s doubling to 5 s); once a commit works again they are committed in their order (the
  seqs follow on without a gap, since a failed commit uses none) and only then published.
  The buffer is bounded by crossings (`MAX_HELD_CROSSINGS`, about 35 MB). At the bound the
  **newest frames are refused**, whole, and counted as dropped; what was taken in is kept.
  Refusing the newest rather than dropping the oldest means that a crossing once reported as
  buffered is never thrown away later, and that what is lost is one interval of time, from the
  moment the buffer filled until space came back: the `counts_dropped` alert says when it began,
  the status and the recovery alert say how many crossings it cost.
* `StorageWatch`: judges the storage ``ok``, ``low`` or ``failing`` (`StorageStatus` in every
  heartbeat) and says when that changes (one `AlertEvent` per change). ``failing``: a commit
  failed and crossings are held. ``low``: the free space is under a floor (64 MB, or a tenth of
  a small disk), or the outbox grows fast enough to fill the free space within an hour. The
  growth is the outbox's own (its database and WAL files, over the last two minutes), since that
  is what the operator can act on: let a master drain the backlog, or free space. Leaving
  ``low`` takes a margin (a quarter more room, twice the horizon), so a disk on the edge does not
  flap; and a recovery from ``failing`` is told once commits have worked for 10 s, since on a
  full disk one gets through now and then.

Time (the clock) and the disk (``disk_usage``) are injected, so the unit tests drive both.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from campool_worker import protocol as p
from campool_worker.outbox import FrameCrossings
from campool_worker.supervision import Backoff

log = logging.getLogger(__name__)

MAX_HELD_CROSSINGS = 100_000  # ~350 B each (measured): ~35 MB; at 50 crossings/s (16 busy cameras) half an hour
RETRY_FIRST_S = 0.25
RETRY_CAP_S = 5.0
LOW_HORIZON_S = 3600.0  # "low" when the outbox's growth fills the free space within this
LOW_FLOOR_MB = 64.0  # ... or when less than this is free
LOW_FLOOR_SHARE = 0.10  # ... of which a small disk needs only this share of its size
CLEAR_FLOOR_FACTOR = 1.25  # leaving "low" takes this much more room than the floor ...
CLEAR_HORIZON_FACTOR = 2.0  # ... and twice the horizon
RATE_WINDOW_S = 120.0  # the outbox's growth is measured over this window ...
RATE_MIN_SPAN_S = 10.0  # ... once it spans at least this much
RECOVERY_CONFIRM_S = 10.0  # commits must work this long before a recovery is told

StorageState = Literal["ok", "low", "failing"]
AlertLevel = Literal["info", "warning", "error"]


class HeldCrossings:
    """The frames the outbox could not take yet, oldest first (see the module docstring).
    ``committed`` and ``dropped`` count crossings since the worker started (they only grow);
    `StorageWatch` tells them per episode."""

    def __init__(self, limit: int = MAX_HELD_CROSSINGS, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("the held-crossings buffer needs room for at least one crossing")
        self.limit = limit
        self._clock = clock
        self._frames: deque[FrameCrossings] = deque()
        self.crossings = 0  # held now
        self.dropped = 0  # refused at the bound
        self.committed = 0  # committed from memory once a commit worked again
        self.reason = ""  # SQLite's words for the last failure; "" once a commit worked again
        self._backoff = Backoff(RETRY_FIRST_S, RETRY_CAP_S, clock=clock)
        self._retry_at = 0.0

    def __len__(self) -> int:
        return len(self._frames)

    def __bool__(self) -> bool:
        return bool(self._frames)

    @property
    def failing(self) -> bool:
        """The last commit failed (and no commit has worked since)."""
        return bool(self.reason)

    def hold(self, frames: Iterable[FrameCrossings]) -> int:
        """Keep these frames behind the held ones; at the bound a frame is refused whole. Returns
        the crossings refused."""
        refused = 0
        for frame in frames:
            n = len(frame.crossings)
            if self.crossings + n > self.limit:
                refused += n
                continue
            self._frames.append(frame)
            self.crossings += n
        self.dropped += refused
        return refused

    def failed(self, reason: str) -> float:
        """A commit failed: the held frames wait for a retry. Returns the seconds until it."""
        self.reason = reason or "unknown error"
        delay = self._backoff.failed()
        self._retry_at = self._clock() + delay
        return delay

    def due(self) -> bool:
        """Whether a commit may be tried now (always, once one worked again)."""
        return not self.failing or self._clock() >= self._retry_at

    def wait_s(self) -> float:
        """Seconds until the next try: 0 while frames wait that a working outbox can take now."""
        if not self._frames:
            return float("inf")
        if not self.failing:
            return 0.0
        return max(0.0, self._retry_at - self._clock())

    def front(self, max_crossings: int) -> list[FrameCrossings]:
        """The oldest frames, up to about ``max_crossings`` crossings (at least one frame)."""
        out: list[FrameCrossings] = []
        n = 0
        for frame in self._frames:
            if out and n + len(frame.crossings) > max_crossings:
                break
            out.append(frame)
            n += len(frame.crossings)
        return out

    def oldest(self) -> dict[tuple[str, int], tuple[float, int]]:
        """Per (camera, epoch), (ts, frame index) of its oldest held crossing: a heartbeat must not
        claim that camera's frames from there on as committed (see Live standby in protocol/)."""
        out: dict[tuple[str, int], tuple[float, int]] = {}
        for frame in self._frames:
            key = (frame.camera_id, frame.epoch)
            if key not in out and frame.crossings:
                first = frame.crossings[0]
                out[key] = (float(first.ts), int(first.frame_index))
        return out

    def committed_front(self, frames: int) -> int:
        """The oldest ``frames`` frames were committed: let them go. Returns their crossings."""
        n = 0
        for _ in range(frames):
            n += len(self._frames.popleft().crossings)
        self.crossings -= n
        self.committed += n
        self.reason = ""
        self._backoff.reset()
        return n


@dataclass(frozen=True)
class DiskSample:
    t: float  # clock time
    free: int  # bytes free where the outbox lives
    total: int  # bytes on that disk
    outbox: int  # bytes the outbox's files take


class StorageWatch:
    """The outbox's storage as the heartbeat reports it (see the module docstring). Call
    `sample` once a beat; `status` at any time; `note` tells a change of state once."""

    def __init__(self, folder: Path, files: Callable[[], Sequence[Path]], *, horizon_s: float = LOW_HORIZON_S,
                 floor_mb: float = LOW_FLOOR_MB, clock: Callable[[], float] = time.monotonic,
                 disk_usage: Callable[[Path], Any] = shutil.disk_usage) -> None:
        self.folder = Path(folder)
        self._files = files
        self.horizon_s = horizon_s
        self.floor_mb = floor_mb
        self._clock = clock
        self._disk_usage = disk_usage
        self._samples: deque[DiskSample] = deque()
        self._low: str | None = None  # why the last sample made it low
        self._told: StorageState = "ok"  # the state the last alert told
        self._calm_since: float | None = None  # commits work again since (while "failing" is still told)
        self._told_drop = False  # the counts_dropped alert of this episode went out
        # HeldCrossings' totals when the last episode was over: this one's figures are the difference
        self._base_committed = 0
        self._base_dropped = 0

    # ------------------------------------------------------------------ measuring

    def sample(self) -> DiskSample | None:
        """Measure the free space and the outbox's size now (two stats and a statvfs)."""
        try:
            du = self._disk_usage(self.folder)
        except OSError as exc:
            log.debug("cannot measure the free space of %s: %s", self.folder, exc)
            return None
        size = 0
        for f in self._files():
            try:
                size += os.stat(f).st_size
            except OSError:
                pass
        s = DiskSample(self._clock(), int(du.free), int(du.total), size)
        self._samples.append(s)
        while len(self._samples) > 2 and self._samples[1].t <= s.t - RATE_WINDOW_S:
            self._samples.popleft()
        self._low = self._low_message()
        return s

    def growth_bytes_s(self) -> float | None:
        """The outbox's growth in bytes a second over the window; None until it spans enough time."""
        if len(self._samples) < 2:
            return None
        first, last = self._samples[0], self._samples[-1]
        span = last.t - first.t
        if span < RATE_MIN_SPAN_S:
            return None
        return (last.outbox - first.outbox) / span

    @property
    def free_mb(self) -> float:
        return self._samples[-1].free / 1e6 if self._samples else 0.0

    # ------------------------------------------------------------------ judging

    def _low_message(self) -> str | None:
        """Why the storage is low after the last sample, or None; the margins apply while it is
        low already."""
        if not self._samples:
            return None
        s = self._samples[-1]
        floor = min(self.floor_mb * 1e6, LOW_FLOOR_SHARE * s.total)
        floor_f, horizon_f = (CLEAR_FLOOR_FACTOR, CLEAR_HORIZON_FACTOR) if self._low is not None else (1.0, 1.0)
        if s.free < floor * floor_f:
            return (f"only {s.free / 1e6:.1f} MB free on {self.folder} (the outbox takes {s.outbox / 1e6:.1f} MB); "
                    "free space there before commits fail")
        rate = self.growth_bytes_s()
        if rate is not None and rate > 0 and s.free / rate < self.horizon_s * horizon_f:
            return (f"{s.free / 1e6:.1f} MB free on {self.folder}: at the outbox's growth of {rate / 1e3:.1f} kB/s "
                    f"it is full in about {_duration(s.free / rate)}; free space there, or let a master take "
                    "the backlog")
        return None

    def status(self, held: HeldCrossings) -> p.StorageStatus:
        """The storage now, as the heartbeat carries it (the truth of this moment; the alerts
        wait for a recovery to last, see `note`)."""
        free = round(self.free_mb, 1)
        if held.failing or held:
            what = (f"the outbox cannot be written ({held.reason}), retrying" if held.failing
                    else "the outbox takes commits again")
            msg = (f"{what}: {held.crossings} crossing(s) held in memory, not sent yet (room for {held.limit}); "
                   f"free space on {self.folder} ({free} MB free)")
            lost = held.dropped - self._base_dropped
            if lost:
                msg += f"; {lost} crossing(s) lost since the buffer filled"
            return p.StorageStatus("failing", free, held.crossings, msg)
        if self._low is not None:
            return p.StorageStatus("low", free, 0, self._low)
        return p.StorageStatus("ok", free, 0, "")

    def note(self, status: p.StorageStatus, held: HeldCrossings) -> list[tuple[AlertLevel, str, str]]:
        """The alerts (level, code, message) for what changed since the last call: one per change of
        state, and ``counts_dropped`` once an episode starts losing crossings. An episode runs from
        the first failed commit until commits have worked for `RECOVERY_CONFIRM_S`: on a full disk
        a commit now and then gets through (a checkpoint gave back a little room), and that is no
        recovery to tell; its figures (held crossings committed, lost) are those of the whole episode."""
        if status.state == "failing":
            self._calm_since = None
            out: list[tuple[AlertLevel, str, str]] = []
            if self._told != "failing":
                self._told = "failing"
                out.append(("error", "storage_failing", status.message))
            if held.dropped > self._base_dropped and not self._told_drop:
                self._told_drop = True
                out.append(("error", "counts_dropped",
                            f"the outbox cannot be written and the {held.limit} crossings held in memory fill the "
                            f"buffer: newer crossings are lost from now until a commit works again; free space on "
                            f"{self.folder}"))
            return out
        if self._told == "failing":
            now = self._clock()
            if self._calm_since is None:
                self._calm_since = now
            if now - self._calm_since < RECOVERY_CONFIRM_S:
                return []
            committed, lost = held.committed - self._base_committed, held.dropped - self._base_dropped
            self._base_committed, self._base_dropped = held.committed, held.dropped
            self._calm_since, self._told_drop, self._told = None, False, status.state
            text = (f"the outbox takes commits again: {committed} held crossing(s) committed and sent; "
                    + (f"{lost} crossing(s) were lost while the buffer was full" if lost else "none lost"))
            if status.state == "low":
                return [("warning", "storage_low", f"{text}; but {status.message}")]
            return [("info", "storage_ok", text)]
        if status.state == self._told:
            return []
        self._told = status.state
        if status.state == "low":
            return [("warning", "storage_low", status.message)]
        return [("info", "storage_ok", f"storage is ok again ({status.free_mb} MB free on {self.folder})")]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
