"""Today's totals: counts since local midnight, by the event's own time, as the history counts days.

A day runs from local midnight to the next local midnight, so it lasts 23, 24 or 25 hours across
a daylight-saving change (and starts at the first instant of the date where midnight does not exist,
as in zones that move their clocks at 00:00). An event belongs to the day of its own timestamp
(the frame's time), exactly like the history's day buckets: a crossing made at 23:59 that reaches
the master after midnight (a worker's backlog) is yesterday's, not today's.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, tzinfo

Key = tuple[str, str, str, str]     # (camera, line, direction, class)


def day_bounds(ts: float, tz: tzinfo | None = None) -> tuple[float, float]:
    """[start, end) of the local day that holds ``ts``: its midnight and the next one.

    tz: a zone (zoneinfo.ZoneInfo); None = this machine's local time (the TZ environment)."""
    if tz is None:
        lt = time.localtime(ts)
        start = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
        end = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday + 1, 0, 0, 0, 0, 0, -1))
        return start, end
    day = datetime.fromtimestamp(ts, tz).date()
    nxt = day + timedelta(days=1)
    return (datetime(day.year, day.month, day.day, tzinfo=tz).timestamp(),
            datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp())


class DayTotals:
    """Counts per (camera, line, direction, class) of the local day in progress.

    `roll(now)` starts a new day at midnight (counts back to zero); an event of a later day rolls
    it too (a worker whose clock is a little ahead of the master's). Events of an earlier day are
    not today's and are left out."""

    def __init__(self, now: float, tz: tzinfo | None = None) -> None:
        self.tz = tz
        self.start, self.end = day_bounds(now, tz)
        self.counts: dict[Key, int] = {}

    def roll(self, now: float) -> bool:
        """A new day when ``now`` is past this one's end; True when it rolled."""
        if now < self.end:
            return False
        self.start, self.end = day_bounds(now, self.tz)
        self.counts = {}
        return True

    def load(self, counts: dict[Key, int]) -> None:
        """Today's counts so far, as the history has them."""
        self.counts = {k: n for k, n in counts.items() if n}

    def add(self, key: Key, ts: float, n: int = 1) -> bool:
        """Count an event of time ``ts``; False when it belongs to an earlier day."""
        if ts >= self.end:
            self.roll(ts)
        if ts < self.start:
            return False
        self.counts[key] = self.counts.get(key, 0) + n
        return True

    def get(self, key: Key) -> int:
        return self.counts.get(key, 0)

    def forget_camera(self, camera_id: str) -> None:
        self.counts = {k: n for k, n in self.counts.items() if k[0] != camera_id}
