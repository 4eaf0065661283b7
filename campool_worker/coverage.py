"""What a worker watched: the coverage spans of one (camera, epoch), from its camera thread to the outbox.

A span is a stretch of the worker's clock in which frames of the camera arrived and were
processed (a warm standby: buffered), under one role. The camera's thread tells its
`CoverageTracker` of every such frame (`frame`) and of every loss of the stream (`lost`); the
service loop takes what changed four times a second (`drain`, `SPAN_EXTEND_S`), commits it to the
outbox (its ``spans`` table, a seq per (camera, epoch)) and only then sends it in a
`CountBatch.spans`, like the counts.

A span ends, and the next frame opens a new one (a new seq):

* when the stream is lost, the camera stops or its loop is restarted (`lost`);
* when two frames are more than ``max_gap_s`` apart (a worker that was stopped, SIGSTOP, or a
  loop stuck for a while: the time between was not watched, whatever the camera sent meanwhile);
* when the role changes (a standby promoted: what it watched as standby and as primary are
  told apart);
* after `SPAN_MAX_S` (the next span starts at that same frame, so the coverage is unbroken).

An open span is sent again, with a later end, each time it is extended; a SIGKILL leaves it in
the outbox as last committed (its end is the last commit, at most `SPAN_EXTEND_S` short), and the
next start closes it. So the master sees, per (camera, epoch), the time it was watched; what no
span covers was not.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

Role = Literal["primary", "standby"]

# An open span is committed and sent this often. A SIGKILL loses at most this much of the end of
# what the worker watched, so the gap the master records after one is this much too long at
# worst: at 1 s it was 0.9 s too long in the live bench, half of the 1 s the recorded gap may be
# off. The cost is one small transaction and one message per worker (all its cameras) each time.
SPAN_EXTEND_S = 0.25
SPAN_MAX_S = 60.0  # a span is closed after this long, and the next one goes on from its end
SPAN_GAP_S = 2.0  # frames further apart than this are two spans (the time between was not watched)


@dataclass(frozen=True, slots=True)
class SpanUpdate:
    """A span as it stands: new, extended or closed. Spans of one tracker are told in the order
    they began; one that is neither new nor changed is not told again."""

    start_ts: float
    end_ts: float
    role: Role
    closed: bool


class CoverageTracker:
    """The spans of one (camera, epoch). `frame` and `lost` come from the camera's thread (or any
    thread), `drain` from the service loop; all of it under one lock."""

    def __init__(self, role: Role, *, max_span_s: float = SPAN_MAX_S, max_gap_s: float = SPAN_GAP_S) -> None:
        self._lock = threading.Lock()
        self._role: Role = role
        self.max_span_s = max_span_s
        self.max_gap_s = max_gap_s
        self._open: list[float] | None = None  # [start_ts, end_ts] of the open span
        self._open_role: Role = role
        self._changed = False  # the open span changed since the last drain
        self._closed: list[SpanUpdate] = []  # closed since the last drain, in order

    @property
    def role(self) -> Role:
        with self._lock:
            return self._role

    def set_gap(self, seconds: float) -> None:
        """Frames this far apart are still one span (a slow camera; a detector that runs rarely)."""
        with self._lock:
            self.max_gap_s = max(SPAN_GAP_S, seconds)

    def frame(self, ts: float) -> None:
        """A frame captured at ``ts`` (worker clock) was processed (a warm standby: buffered)."""
        with self._lock:
            span = self._open
            if span is not None:
                if ts < span[1]:
                    return  # an older frame than one already told: nothing new was watched
                if ts - span[1] > self.max_gap_s:
                    self._close()
                elif ts - span[0] >= self.max_span_s:
                    span[1] = ts
                    self._close()
                else:
                    span[1] = ts
                    self._changed = True
                    return
            self._open = [ts, ts]
            self._open_role = self._role
            self._changed = True

    def lost(self) -> None:
        """The stream was lost, or the camera stopped: the open span ends at its last frame."""
        with self._lock:
            self._close()

    def set_role(self, role: Role) -> None:
        """From now on frames are watched in this role (a promotion): the open span ends."""
        with self._lock:
            if role != self._role:
                self._close()
                self._role = role

    def drain(self) -> list[SpanUpdate]:
        """What changed since the last drain: spans closed meanwhile, then the open one (if it is new
        or longer)."""
        with self._lock:
            out, self._closed = self._closed, []
            if self._open is not None and self._changed:
                out.append(SpanUpdate(self._open[0], self._open[1], self._open_role, False))
            self._changed = False
            return out

    def _close(self) -> None:
        if self._open is not None:
            self._closed.append(SpanUpdate(self._open[0], self._open[1], self._open_role, True))
            self._open = None
            self._changed = False
