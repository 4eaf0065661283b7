"""Failure handling per camera-and-worker pair: retries with backoff, circuit breakers, dead letters.

A failure is a pair's fault (the worker refused or timed out an assignment, or the camera
failed on it); a worker dying is not: its cameras just move. Per pair:
- after the n-th consecutive failure the camera is retried on the same worker after
  backoff[n-1] seconds (1 s, 2 s, 4 s by default);
- when those retries are spent the breaker opens and the camera goes to the next worker
  at once; after `reset_s` the breaker is half-open: one probe may run there; a success
  closes it, a failure opens it again for twice as long, up to `reset_max_s` (the one
  doubling backoff, campool_worker.supervision.Backoff, on the injected clock);
- a camera whose breakers are open on every worker that could run it is dead-lettered
  with the last error from each worker, until a probe succeeds or the operator retries.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from campool_worker.supervision import Backoff

from .clock import Clock

log = logging.getLogger(__name__)


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class RetrySettings:
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    reset_s: float = 60.0           # open -> half-open
    reset_max_s: float = 600.0

    def __post_init__(self) -> None:
        if self.reset_s <= 0:
            raise ValueError(f"a circuit breaker must stay open a while: reset_s is {self.reset_s}, give it > 0")


@dataclass
class Breaker:
    reopen: Backoff                 # how long it stays open each time it opens
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0               # consecutive
    opened_at: float = 0.0
    reset_s: float = 0.0            # how long it stays open this time
    last_error: str = ""

    def open(self, now: float) -> None:
        self.state, self.opened_at, self.reset_s = BreakerState.OPEN, now, self.reopen.failed()


@dataclass(frozen=True)
class DeadLetter:
    camera_id: str
    since: float                    # master wall time
    errors: dict[str, str]          # worker -> last error there


class BreakerBoard:
    def __init__(self, clock: Clock, settings: RetrySettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or RetrySettings()
        self._pairs: dict[tuple[str, str], Breaker] = {}

    def _new(self, last_error: str = "") -> Breaker:
        s = self.settings
        return Breaker(Backoff(s.reset_s, max(s.reset_s, s.reset_max_s), clock=self.clock.now), last_error=last_error)

    def _get(self, camera_id: str, worker_id: str) -> Breaker:
        b = self._pairs.get((camera_id, worker_id))
        if b is None:
            b = self._pairs[(camera_id, worker_id)] = self._new()
        return b

    def breaker(self, camera_id: str, worker_id: str) -> Breaker | None:
        """The pair's breaker, None while it never failed (for tests and diagnostics)."""
        return self._pairs.get((camera_id, worker_id))

    def state(self, camera_id: str, worker_id: str) -> BreakerState:
        b = self._pairs.get((camera_id, worker_id))
        if b is None:
            return BreakerState.CLOSED
        if b.state is BreakerState.OPEN and self.clock.now() >= b.opened_at + b.reset_s:
            b.state = BreakerState.HALF_OPEN
            log.info("camera %s on worker %s: breaker half-open, one probe allowed", camera_id, worker_id)
        return b.state

    def blocked(self, camera_id: str, worker_id: str) -> bool:
        return self.state(camera_id, worker_id) is BreakerState.OPEN

    def failure(self, camera_id: str, worker_id: str, error: str) -> float | None:
        """Record a failure; return the delay before retrying on this worker, or None when
        the breaker is now open (go to the next worker)."""
        b = self._get(camera_id, worker_id)
        now = self.clock.now()
        b.last_error = error
        if self.state(camera_id, worker_id) is BreakerState.HALF_OPEN:
            b.open(now)
            log.warning("camera %s on worker %s: probe failed (%s); breaker open for %.0f s",
                        camera_id, worker_id, error, b.reset_s)
            return None
        b.failures += 1
        if b.failures <= len(self.settings.backoff):
            delay = self.settings.backoff[b.failures - 1]
            log.warning("camera %s on worker %s: failure %d (%s); retrying in %.0f s",
                        camera_id, worker_id, b.failures, error, delay)
            return delay
        b.reopen.reset()   # opened by its own failures (not a probe's): the first reset time again
        b.open(now)
        log.warning("camera %s on worker %s: failed %d times (%s); breaker open, trying another worker",
                    camera_id, worker_id, b.failures, error)
        return None

    def success(self, camera_id: str, worker_id: str) -> None:
        b = self._pairs.get((camera_id, worker_id))
        if b is not None and (b.failures or b.state is not BreakerState.CLOSED):
            log.info("camera %s on worker %s: running again; breaker closed", camera_id, worker_id)
            self._pairs[(camera_id, worker_id)] = self._new(b.last_error)

    def errors(self, camera_id: str) -> dict[str, str]:
        return {w: b.last_error for (c, w), b in self._pairs.items() if c == camera_id and b.last_error}

    def reset(self, camera_id: str) -> None:
        """The operator asked to try this camera again everywhere."""
        for key in [k for k in self._pairs if k[0] == camera_id]:
            del self._pairs[key]

    def forget_worker(self, worker_id: str) -> None:
        for key in [k for k in self._pairs if k[1] == worker_id]:
            del self._pairs[key]


@dataclass
class RetryQueue:
    """Cameras waiting for their backoff before trying the same worker again."""

    due: dict[str, tuple[str, float]] = field(default_factory=dict)   # camera -> (worker, at)

    def hold(self, camera_id: str, worker_id: str, at: float) -> None:
        self.due[camera_id] = (worker_id, at)

    def ready(self, now: float) -> list[tuple[str, str]]:
        out = [(c, w) for c, (w, at) in self.due.items() if at <= now]
        for c, _ in out:
            del self.due[c]
        return sorted(out)

    def drop(self, camera_id: str) -> None:
        self.due.pop(camera_id, None)

    def held(self) -> set[str]:
        return set(self.due)
