"""Sliding-window rates on the injected clock: how many things happened in the last `window_s`.

The line-rate alert ("line L counted 40 in the last minute") and the pool's throughput (count
events stored per minute) are both counts over a trailing window; one type keeps both.
"""
from __future__ import annotations

from collections import deque


class RateWindow:
    """Occurrences within the last `window_s` seconds, as (clock.now(), how many) in time order."""

    def __init__(self, window_s: float = 60.0) -> None:
        if window_s <= 0:
            raise ValueError(f"a rate window needs a positive length, got {window_s}")
        self.window_s = window_s
        self._hits: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, now: float, n: int = 1) -> None:
        if n <= 0:
            return
        if self._hits and self._hits[-1][0] == now:
            self._hits[-1] = (now, self._hits[-1][1] + n)
        else:
            self._hits.append((now, n))
        self._total += n
        self._prune(now)

    def count(self, now: float) -> int:
        """Occurrences in [now - window_s, now]."""
        self._prune(now)
        return self._total

    def per_minute(self, now: float) -> float:
        return self.count(now) * 60.0 / self.window_s

    def _prune(self, now: float) -> None:
        while self._hits and self._hits[0][0] < now - self.window_s:
            self._total -= self._hits.popleft()[1]
