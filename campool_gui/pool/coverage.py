"""Coverage: which stretches of time a camera was watched, from the workers' coverage spans.

A worker tells, per (camera, epoch), the spans of its own clock in which frames arrived and were
processed (`CoverageSpan`, see "Live standby" in the protocol package). Not every span counts:

* a span of a superseded epoch counts only before that epoch's cut (`cut_ts`, the old worker's
  clock: its events after the cut were fenced, so its watching after it counted for nothing);
  an epoch cut by frame (a file) or never cut by time ends at the lease's end (``ended_wall``);
* a standby's span counts only from its promotion's cut (``promoted_from_ts``, the standby's clock):
  before it the standby's events were shadowed, not stored; a standby never promoted never counts.

What counts is mapped to master time (a worker clock minus the offset the master estimated when the
span arrived) and merged across epochs and workers: time that no counted span covers was not
watched (the stream down on every holder, a worker dead before the takeover, no worker, fenced).
The master being down is not such a gap: the spans wait in the worker's outbox and arrive later.

Pure functions on plain dataclasses (no SQLite here: the store gathers the rows, see
`Store.counted_spans`), so the rules are tested with exact figures.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

Interval = tuple[float, float]


@dataclass(frozen=True)
class StoredSpan:
    """A coverage span as the master stored it, with what decides how much of it counts."""

    camera_id: str
    epoch: int
    seq: int
    start_ts: float               # worker clock
    end_ts: float
    role: str                     # primary | standby (the role it was watched in)
    clock_offset: float           # worker clock minus master clock, as estimated when it arrived
    cut_ts: float | None = None   # the epoch's live cut (same worker's clock): nothing counts after it
    ended_wall: float | None = None  # master time the epoch's lease ended (any cut)
    promoted_from_ts: float | None = None  # a promoted standby epoch: counts from here (its clock)

    def counted(self) -> Interval | None:
        """The part of this span that counts as watched, in master time; None if none of it does."""
        lo, hi = self.start_ts, self.end_ts
        if self.promoted_from_ts is not None:
            lo = max(lo, self.promoted_from_ts)
        elif self.role == "standby":
            return None   # a standby's watching is stored only from a promotion
        if self.cut_ts is not None:
            hi = min(hi, self.cut_ts)
        elif self.ended_wall is not None:
            hi = min(hi, self.ended_wall + self.clock_offset)
        if hi <= lo:
            return None
        return lo - self.clock_offset, hi - self.clock_offset


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals as sorted, disjoint intervals (touching ones join)."""
    out: list[list[float]] = []
    for lo, hi in sorted(i for i in intervals if i[1] > i[0]):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def overlap(merged: Sequence[Interval], lo: float, hi: float) -> float:
    """Seconds of [lo, hi) covered by `merged` (sorted, disjoint)."""
    total = 0.0
    # the first interval that ends after lo: a month of minute spans has tens of thousands
    for i in range(bisect.bisect_right(merged, lo, key=lambda iv: iv[1]), len(merged)):
        a, b = merged[i]
        if a >= hi:
            break
        total += min(b, hi) - max(a, lo)
    return total


def gaps(merged: Sequence[Interval], lo: float, hi: float) -> list[Interval]:
    """The stretches of [lo, hi) that `merged` (sorted, disjoint) does not cover."""
    out: list[Interval] = []
    at = lo
    for a, b in merged:
        if b <= at:
            continue
        if a >= hi:
            break
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < hi:
        out.append((at, hi))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Where two sorted, disjoint interval lists both hold."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


@dataclass(frozen=True)
class Lease:
    """A camera's epoch as the master recorded it (master time), for telling why a gap was not watched."""

    epoch: int
    worker_id: str
    started: float
    ended: float | None          # None: still held
    watched_after_cut: bool      # it went on watching after its cut (its watching was fenced)


def gap_reason(gap: Interval, leases: Sequence[Lease], tolerance_s: float = 2.0) -> str:
    """Why nobody watched ``gap``, in the operator's words, from the leases around it.

    * a lease ended about then and the next one began by its end (a takeover): the old worker had
      stopped watching before it ("worker lost before the takeover"), or went on but was cut off
      ("fenced"); the gap lasts until the new holder's first frame;
    * a lease held the camera all along: its worker had no frames ("stream down");
    * no lease held it: "no worker"."""
    a, b = gap
    for ls in leases:
        if ls.ended is None or not a - tolerance_s <= ls.ended <= b + tolerance_s:
            continue
        if any(nx.epoch > ls.epoch and nx.started <= b + tolerance_s for nx in leases):
            if ls.watched_after_cut:
                return f"fenced: worker {ls.worker_id} was cut off (its later watching does not count)"
            return f"worker {ls.worker_id} lost before the takeover"
    held = [ls for ls in leases if ls.started < b and (ls.ended is None or ls.ended > a)]
    if not held:
        return "no worker"
    return f"stream down on {', '.join(sorted({ls.worker_id for ls in held}))}"


@dataclass(frozen=True)
class BucketCoverage:
    """One history bucket: of its ``known_s`` seconds (those after the camera's first span and
    before now), ``watched_s`` were watched."""

    bucket_ts: float
    watched_s: float
    known_s: float

    @property
    def fraction(self) -> float | None:
        """Watched / known; None when nothing of the bucket is known (older than the coverage data)."""
        return self.watched_s / self.known_s if self.known_s > 0 else None

    @property
    def unwatched(self) -> bool:
        """Known and nothing of it watched: a gap, not a zero."""
        return self.known_s > 0 and self.watched_s <= 0


@dataclass(frozen=True)
class Coverage:
    """Coverage of one camera (or of all cameras together: camera-seconds) over a range."""

    camera_id: str | None
    since: float | None                # master time of the first span known; None: no span data
    buckets: tuple[BucketCoverage, ...]
    gaps: tuple[Interval, ...]         # master time; nobody watched (all cameras: none was watched)

    @property
    def watched_s(self) -> float:
        return sum(b.watched_s for b in self.buckets)

    @property
    def known_s(self) -> float:
        return sum(b.known_s for b in self.buckets)

    @property
    def fraction(self) -> float | None:
        return self.watched_s / self.known_s if self.known_s > 0 else None

    def of(self, bucket_ts: float) -> BucketCoverage | None:
        return self._by_bucket.get(bucket_ts)

    @cached_property
    def _by_bucket(self) -> dict[float, BucketCoverage]:
        # built once: a table of thousands of rows asks for its bucket row by row
        return {b.bucket_ts: b for b in self.buckets}


def bucket_starts(start: float, end: float, size: float, tz_offset_s: float = 0.0) -> list[float]:
    """The starts of the buckets of ``size`` seconds that overlap [start, end); day buckets start at
    local midnight (``tz_offset_s`` east of UTC), like the count rollups' buckets."""
    first = math.floor((start + tz_offset_s) / size) * size - tz_offset_s
    out = []
    b = first
    while b < end:
        out.append(b)
        b += size
    return out


def camera_coverage(camera_id: str | None, spans: Iterable[StoredSpan], since: float | None, start: float,
                    end: float, now: float, buckets: Sequence[float], size: float) -> Coverage:
    """Coverage of one camera over [start, end) in buckets (their starts, ``size`` seconds each).

    Time before ``since`` (the camera's first span ever) and after ``now`` is not known: it is
    neither watched nor a gap. With no span data at all (``since`` None) nothing is known."""
    watched = merge(i for i in (s.counted() for s in spans) if i is not None)
    return _coverage(camera_id, watched, since, start, end, now, buckets, size)


def _coverage(camera_id: str | None, watched: Sequence[Interval], since: float | None, start: float, end: float,
              now: float, buckets: Sequence[float], size: float) -> Coverage:
    if since is None:
        return Coverage(camera_id, None, tuple(BucketCoverage(b, 0.0, 0.0) for b in buckets), ())
    out = []
    for b in buckets:
        lo, hi = max(b, since, start), min(b + size, now, end)
        if hi <= lo:
            out.append(BucketCoverage(b, 0.0, 0.0))
        else:
            out.append(BucketCoverage(b, overlap(watched, lo, hi), hi - lo))
    lo, hi = max(start, since), min(end, now)
    return Coverage(camera_id, since, tuple(out), tuple(gaps(watched, lo, hi)) if hi > lo else ())


def pool_coverage(per_camera: Sequence[Coverage]) -> Coverage:
    """All cameras together: per bucket the camera-seconds watched of those known (cameras without
    span data do not count); the gaps are where none of the known cameras was watched."""
    known = [c for c in per_camera if c.since is not None]
    if not known:
        base = per_camera[0].buckets if per_camera else ()
        return Coverage(None, None, tuple(BucketCoverage(b.bucket_ts, 0.0, 0.0) for b in base), ())
    buckets = []
    for i, b in enumerate(known[0].buckets):
        buckets.append(BucketCoverage(b.bucket_ts, sum(c.buckets[i].watched_s for c in known),
                                      sum(c.buckets[i].known_s for c in known)))
    since = min(c.since for c in known if c.since is not None)
    nobody: list[Interval] | None = None
    for c in known:
        nobody = list(c.gaps) if nobody is None else intersect(nobody, c.gaps)
    return Coverage(None, since, tuple(buckets), tuple(nobody or ()))
