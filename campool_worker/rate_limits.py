"""How often a thing may happen: a token bucket for requests, a budget for warning lines.

The pairing port is the one place any host may reach, so both live here for it (the relay in
pairing_relay.py and the guess throttle in security.py), with the clock injected so that tests
drive them without sleeping:

* `TokenBucket(rate, burst)`: at most ``burst`` at once, ``rate`` a second sustained;
  `take()` says whether one may go now, `wait_s()` how long until one may.
* `WarningSummary`: the first few warnings per subject (a key, an address) and per interval are
  logged one by one; the rest are only counted, and one summary line per interval says how many
  were held back and from how many subjects. A flood of 10,000 bad requests then writes a few
  dozen lines, not 10,000 (which took 1.9 MB of log in 1.3 s), and still says that it happened.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    def take(self) -> bool:
        """Take one token if there is one (True), else take nothing (False)."""
        if self._refill() >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until a token is there (0: now)."""
        return max(0.0, (1.0 - self._refill()) / self.rate)

    @property
    def full(self) -> bool:
        """No token taken that has not grown back (the bucket can be forgotten)."""
        return self._refill() >= self.burst


class WarningSummary:
    """Warnings about one kind of thing, logged one by one up to a budget, then summarised.

    Per ``interval_s``: at most ``per_subject`` lines for each subject and ``per_interval`` lines
    in all; what goes over is counted and told in one line when the interval is over (on the next
    `warn`, `held` or `tick`, whichever comes first; call `tick` from a loop so that the summary of
    a flood that stopped is written too). ``what`` names the events in the summary ("wrong pairing
    proofs or refused pairing requests")."""

    def __init__(self, logger: logging.Logger, what: str, *, per_subject: int = 3, per_interval: int = 20,
                 interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = logger
        self.what = what
        self.per_subject = per_subject
        self.per_interval = per_interval
        self.interval_s = interval_s
        self._clock = clock
        self._start = clock()
        self._lines = 0
        self._by_subject: dict[str, int] = {}  # lines written this interval, per subject
        self._held = 0
        self._held_subjects: set[str] = set()
        self._held_cap = 100_000  # subjects remembered for the summary's count (a bound on memory)

    def warn(self, subject: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` as a warning if the budget allows (True), else count it (False)."""
        self.tick()
        n = self._by_subject.get(subject, 0)
        if n < self.per_subject and self._lines < self.per_interval:
            self._by_subject[subject] = n + 1
            self._lines += 1
            self.log.warning(msg, *args)
            return True
        self._count(subject)
        return False

    def held(self, subject: str) -> None:
        """Count an event that is never worth a line of its own (it shows in the summary)."""
        self.tick()
        self._count(subject)

    def _count(self, subject: str) -> None:
        self._held += 1
        if len(self._held_subjects) < self._held_cap:
            self._held_subjects.add(subject)

    def tick(self) -> None:
        """Close the interval when it is over: one summary line if anything was held back."""
        now = self._clock()
        if now - self._start < self.interval_s:
            return
        if self._held:
            self.log.warning("%d more %s from %d source(s) in the last %.0f s were not logged one by one",
                             self._held, self.what, len(self._held_subjects), now - self._start)
        self._start, self._lines, self._held = now, 0, 0
        self._by_subject.clear()
        self._held_subjects.clear()
