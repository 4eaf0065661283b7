"""Compare what the master stored for a live camera with the crossings the stream showed.

A live stream cannot be recounted, but the test camera plays a file in a loop: an offline
count of the file gives its crossings by frame, and the camera reports when each loop started
going out (`RtspCamera.loop_starts`), so crossing f of loop k was on the stream at
``loop_starts[k] + f / fps``. Frame indices mean nothing here (each worker numbers the frames
of its own connection), so the comparison is by time: stored events carry the wall-clock time
of their frame (`CountEvent.ts`; workers and camera share this machine's clock).

`match_crossings` pairs each expected crossing with at most one stored event of the same line,
direction and class within a tolerance, after removing the camera-to-worker latency (the median
residual: about 70 ms of RTSP and decoding on loopback). Over a window [start, end] that both
sides share: an expected crossing in it without a partner is lost, a stored event in it
without one is duplicated. Partners are looked for a tolerance beyond the window's edges, so a
crossing just inside on one side and just outside on the other is neither.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from campool_gui.harness.audit import Crossing


@dataclass(frozen=True)
class TimedCrossing:
    """One crossing at a wall-clock time: expected from the reference, or stored by the master."""

    ts: float
    line: str
    direction: str
    class_name: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.line, self.direction, self.class_name)


@dataclass
class MatchResult:
    expected: int                     # reference crossings inside the window
    stored: int                       # stored events that count in the window: the partners of the
                                      # expected ones (one may lie just outside) and the duplicated
    matched: int                      # expected ones with a stored partner
    lost: int                         # expected ones without
    duplicated: int                   # stored ones inside the window without a partner
    reclassified: int                 # lost/duplicated pairs of the same line and direction within
                                      # the tolerance: one vehicle, two class verdicts
    offset_s: float                   # the latency removed: median(stored - expected) of first partners
    residuals_s: list[float] = field(default_factory=list)   # stored - expected - offset of each pair
    expected_ts: list[float] = field(default_factory=list)   # the expected crossings inside the window
    lost_ts: list[float] = field(default_factory=list)
    duplicated_ts: list[float] = field(default_factory=list)


def loop_crossings(reference: Sequence[Crossing], loop_frames: int) -> list[Crossing]:
    """The crossings of one loop in steady state, by frame of the file (0 .. loop_frames - 1).

    `reference` is an uninterrupted offline count of at least two loops: the second one starts
    with the tracker state the end of the file leaves, as every loop of a live stream after
    the first does, so its crossings are the ones every later loop shows."""
    return [Crossing(c.frame_index - loop_frames, c.line, c.direction, c.class_name)
            for c in reference if loop_frames <= c.frame_index < 2 * loop_frames]


def map_to_stream(per_loop: Iterable[Crossing], loop_starts: Sequence[float], fps: float,
                  until: float) -> list[TimedCrossing]:
    """Place one loop's crossings on the stream's timeline: frame f of loop k at
    loop_starts[k] + f / fps, for as long as loop k lasted (the next start, or `until`)."""
    crossings = sorted(per_loop, key=lambda c: c.frame_index)
    out: list[TimedCrossing] = []
    for k, start in enumerate(loop_starts):
        end = loop_starts[k + 1] if k + 1 < len(loop_starts) else until
        for c in crossings:
            ts = start + c.frame_index / fps
            if ts >= end:
                break
            out.append(TimedCrossing(ts, c.line, c.direction, c.class_name))
    return out


def _pair(expected: list[float], stored: list[float], tolerance: float) -> tuple[list[tuple[int, int]], set[int],
                                                                                    set[int]]:
    """Largest one-to-one pairing of two sorted time lists within `tolerance`: walking both in
    order and pairing the earliest compatible two is optimal for equal windows on a line."""
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < len(expected) and j < len(stored):
        d = stored[j] - expected[i]
        if abs(d) <= tolerance:
            pairs.append((i, j))
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    done_e = {p[0] for p in pairs}
    done_s = {p[1] for p in pairs}
    return pairs, set(range(len(expected))) - done_e, set(range(len(stored))) - done_s


#: How far apart a stored event and a reference crossing may be when the latency is estimated.
OFFSET_SEARCH_S = 1.0


def estimate_offset(expected: Sequence[TimedCrossing], stored: Sequence[TimedCrossing],
                    tolerance: float = OFFSET_SEARCH_S) -> float:
    """The camera-to-worker latency: the median of stored - expected over the pairs found without it."""
    diffs: list[float] = []
    by_key = _by_key(expected, stored, 0.0)
    for e_ts, s_ts in by_key.values():
        pairs, _, _ = _pair(e_ts, s_ts, tolerance)
        diffs.extend(s_ts[j] - e_ts[i] for i, j in pairs)
    return statistics.median(diffs) if diffs else 0.0


def _by_key(expected: Iterable[TimedCrossing], stored: Iterable[TimedCrossing],
            offset: float) -> dict[tuple[str, str, str], tuple[list[float], list[float]]]:
    keyed: dict[tuple[str, str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for e in expected:
        keyed[e.key][0].append(e.ts)
    for s in stored:
        keyed[s.key][1].append(s.ts - offset)
    for e_ts, s_ts in keyed.values():
        e_ts.sort()
        s_ts.sort()
    return keyed


def match_crossings(expected: Sequence[TimedCrossing], stored: Sequence[TimedCrossing], start: float, end: float,
                    tolerance: float = 0.5, offset: float | None = None) -> MatchResult:
    """Lost and duplicated crossings over [start, end] (see the module doc). offset: the latency
    to remove from stored times; None estimates it from the data."""
    if offset is None:
        offset = estimate_offset(expected, stored, max(OFFSET_SEARCH_S, tolerance))
    lo, hi = start - tolerance, end + tolerance
    near_e = [e for e in expected if lo <= e.ts <= hi]
    near_s = [s for s in stored if lo <= s.ts - offset <= hi]
    res = MatchResult(expected=sum(start <= e.ts <= end for e in near_e), stored=0,
                      matched=0, lost=0, duplicated=0, reclassified=0, offset_s=offset,
                      expected_ts=sorted(e.ts for e in near_e if start <= e.ts <= end))
    left: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for (line, direction, _cls), (e_ts, s_ts) in _by_key(near_e, near_s, offset).items():
        pairs, lost, extra = _pair(e_ts, s_ts, tolerance)
        for i, j in pairs:
            if start <= e_ts[i] <= end:
                res.matched += 1
                res.residuals_s.append(s_ts[j] - e_ts[i])
        res.lost_ts.extend(e_ts[i] for i in lost if start <= e_ts[i] <= end)
        res.duplicated_ts.extend(s_ts[j] for j in extra if start <= s_ts[j] <= end)
        left[(line, direction)][0].extend(e_ts[i] for i in lost if start <= e_ts[i] <= end)
        left[(line, direction)][1].extend(s_ts[j] for j in extra if start <= s_ts[j] <= end)
    res.lost_ts.sort()
    res.duplicated_ts.sort()
    res.lost, res.duplicated = len(res.lost_ts), len(res.duplicated_ts)
    res.stored = res.matched + res.duplicated
    for e_ts, s_ts in left.values():
        res.reclassified += len(_pair(sorted(e_ts), sorted(s_ts), tolerance)[0])
    return res


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
