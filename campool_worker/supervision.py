"""The one supervision primitive: a doubling backoff, and a cap on how often a thing may restart.

Everything in CamPool that tries again uses these: a camera reconnecting to its stream or rebuilding
a pipeline whose model would not load, a master's link re-sending a command or its hello, a circuit
breaker re-opening after a failed probe.

`Backoff(initial, cap, reset_after, clock)` gives the delays ``initial, 2*initial, 4*initial ...``
up to ``cap``. When the supervised thing then runs for ``reset_after`` seconds (counted from
`started`), its next failure starts again from ``initial``: a camera that counted for an hour and
lost its stream retries at once, one that fails every second backs off.

`RestartBudget(max_restarts, window_s, clock)` is Frigate's watchdog rule: at most ``max_restarts``
restarts within ``window_s`` seconds; past that, the next restart waits until the oldest one has
left the window, so a camera that crashes in a loop cannot spin a core.

Both take the clock as a function (``time.monotonic`` by default; the pool core passes its
injected clock's ``now``), so tests drive them without sleeping.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Backoff:
    def __init__(self, initial: float, cap: float, *, reset_after: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < initial <= cap:
            raise ValueError(f"backoff needs 0 < initial <= cap, got initial={initial} cap={cap}")
        self.initial = initial
        self.cap = cap
        self.reset_after = reset_after
        self._clock = clock
        self._next = initial
        self._started: float | None = None

    @property
    def next_delay(self) -> float:
        """The delay the next failure will get (before any reset for having run long enough)."""
        return self._next

    def started(self) -> None:
        """The supervised thing (re)started now: a long enough run will earn a fresh backoff."""
        self._started = self._clock()

    def failed(self) -> float:
        """It failed: the seconds to wait before trying again; the one after doubles, up to the cap."""
        if (self.reset_after is not None and self._started is not None
                and self._clock() - self._started >= self.reset_after):
            self._next = self.initial
        self._started = None
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """It succeeded: the next failure waits `initial` again."""
        self._next = self.initial
        self._started = None


class RestartBudget:
    def __init__(self, max_restarts: int = 5, window_s: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_restarts < 1 or window_s <= 0:
            raise ValueError("a restart budget needs at least one restart in a positive window")
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def wait_s(self) -> float:
        """Seconds until a restart is within budget (0: now)."""
        now = self._clock()
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) < self.max_restarts:
            return 0.0
        return self._times[0] + self.window_s - now

    def restarted(self) -> None:
        self._times.append(self._clock())

    @property
    def recent(self) -> int:
        """Restarts within the window."""
        self.wait_s()
        return len(self._times)
