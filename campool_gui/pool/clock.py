"""Time as a dependency: the pool core asks a `Clock`, tests hand it a `FakeClock`.

Every decision the master takes on time (a worker missed three heartbeats, a retry is
due, an alert held long enough) reads `clock.now()` instead of `time.monotonic()`, so the
unit tests drive time exactly and never sleep.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds: for durations, timeouts and deadlines."""
        ...

    def wall(self) -> float:
        """Wall-clock seconds since the epoch (time.time()): for stored timestamps."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when told to; wall() keeps a fixed offset from now()."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now
