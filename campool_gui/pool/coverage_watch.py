"""How much of the last hour each camera was watched, read from the store now and then for the
``coverage_low`` alert.

The pool thread never reads SQLite: `tick` (on the pool thread, every tick) starts a read on the
watch's own thread at most every ``every_s``; the fractions come back to the pool thread through
``post`` and go to `Conditions.coverage_seen`, which the next evaluation judges. The last
``tail_s`` seconds are left out: an open span is extended about once a second and a batch may be
on its way, so the newest seconds are not known yet (not a gap). The first read waits
``every_s`` after the start: a master that was down gets the spans of meanwhile from the workers'
outboxes after its hellos, and judging the hour before they are in would raise a false alert.
"""
from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterable

from .clock import Clock
from .store import Store

log = logging.getLogger(__name__)

COVERAGE_WINDOW_S = 3600.0
COVERAGE_EVERY_S = 60.0
COVERAGE_TAIL_S = 10.0


def watched_fractions(store: Store, camera_ids: Iterable[str], wall: float, *, window_s: float = COVERAGE_WINDOW_S,
                      tail_s: float = COVERAGE_TAIL_S) -> dict[str, float | None]:
    """Each camera's watched fraction of [wall - window_s, wall - tail_s) (None: no span data).
    Reads SQLite: off the pool and UI threads."""
    start, end = wall - window_s, wall - tail_s
    out: dict[str, float | None] = {}
    for cid in camera_ids:
        c = store.coverage(start, end, "minute", cid, now=end, clip=True)
        out[cid] = c.fraction
    return out


class CoverageWatch:
    def __init__(self, store: Store, clock: Clock, *, cameras: Callable[[], list[str]],
                 seen: Callable[[dict[str, float | None]], None], post: Callable[[Callable[[], None]], None],
                 every_s: float = COVERAGE_EVERY_S) -> None:
        self._store = store
        self._clock = clock
        self._cameras = cameras
        self._seen = seen
        self._post = post
        self.every_s = every_s
        self._last = clock.now()   # the first read one period after the start (the module docstring)
        self._running: concurrent.futures.Future[dict[str, float | None]] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="campool-coverage")

    def tick(self) -> None:
        """Pool thread: start a read when one is due and none is running."""
        now = self._clock.now()
        if now - self._last < self.every_s or (self._running is not None and not self._running.done()):
            return
        self._last = now
        ids, wall = self._cameras(), self._clock.wall()
        fut = self._pool.submit(watched_fractions, self._store, ids, wall)
        self._running = fut
        fut.add_done_callback(lambda f: self._post(lambda: self._done(f)))

    def _done(self, fut: concurrent.futures.Future[dict[str, float | None]]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("coverage of the last hour could not be read (%s); tried again in %.0f s", exc, self.every_s)
            return
        self._seen(fut.result())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
