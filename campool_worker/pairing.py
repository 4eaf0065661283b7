"""Who may pair, and when: the worker's answer to each `PairRequest` on its pairing port.

A pairing request carries ``proof = pair_proof(code, master_key, worker_key, "master")``; CURVE
has proven that the sender holds the secret of ``master_key`` (the ZAP handler hands it over as
the peer's User-Id). Judging a proof costs one scrypt per valid code (about 30 ms), and every
judged wrong proof is one guess at a 40-bit code. So `Pairing` answers in this order, cheapest
first, and judges only what it must:

1. The key is locked out (it sent ``lock_after`` wrong proofs): refused, not judged, with
   ``retry_after_s`` = the rest of its lock. A lock grows (10 s, 20 s, 40 s ... up to the 600 s a
   code lives, `supervision.Backoff`) with every wrong proof sent after the last one ended.
2. No code is valid: refused ("none is active"), not judged, not counted: a stray guess while no
   code exists can no longer count against the next code `campool-worker pair` makes.
3. The worker-wide ceiling on judged proofs (a `TokenBucket`, ``judged_per_s``) is spent:
   refused, not judged, with ``retry_after_s`` = when the next proof can be judged. Masters
   (`pair_with_worker`) ask again after that long, until their own timeout.
4. Judged: a right proof adds the key to the allow-list and ends every code (security.py:
   `PairingCodes.verify`); a wrong one counts against that key only.

What this holds:

* A flood from one key cannot stop a legitimate master: after ``lock_after`` wrong proofs it
  locks only itself out and never touches the ceiling. One host with many keys cannot either:
  each key needs its own connection and the relay lets one address open 0.5 a second
  (pairing_relay.py), so one host sustains at most 0.5 x ``lock_after`` = 1.5 judged proofs a
  second, half the ceiling. Nothing a stranger does ends a code, so the code the operator reads
  off the worker stays good for its 600 s.
* A flood from many keys on many hosts can spend the ceiling; a legitimate master then waits for
  a judged slot (it is told when the next one comes) instead of being refused: slowed, not
  stopped.
* Guessing: at most ``judged_per_s`` x 600 s = 1,800 guesses against one code's 2^40 values,
  ~1.6e-9 per code (and a single key gets ``lock_after`` guesses, then one per growing lock).
* Logs: a few lines per key and per minute, then one summary line a minute
  (`WarningSummary`); 10,000 wrong proofs no longer write 10,000 lines.
"""
from __future__ import annotations

import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from campool_worker import protocol as p
from campool_worker.rate_limits import TokenBucket, WarningSummary
from campool_worker.security import DEFAULT_CODE_TTL_S, AllowList, PairingCodes, pair_proof
from campool_worker.supervision import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottleSettings:
    lock_after: int = 3            # wrong proofs from one key before it is locked out
    lock_s: float = 10.0           # its first lock; each lock after that doubles ...
    lock_cap_s: float = float(DEFAULT_CODE_TTL_S)   # ... up to the life of a code
    forget_after_s: float = 3600.0  # a key quiet this long starts afresh
    max_keys: int = 4096           # keys remembered (the oldest is forgotten first): a bound on memory
    judged_per_s: float = 3.0      # the worker-wide ceiling on judged proofs ...
    judged_burst: int = 6          # ... and how many may be judged at once after a quiet spell


@dataclass
class _KeyRecord:
    backoff: Backoff
    wrong: int = 0
    locked_until: float = 0.0
    last: float = 0.0


@dataclass(frozen=True)
class Admission:
    """Whether a request may be judged now: ``wait_s`` 0 (yes; a judged slot was taken) or the
    seconds to ask again after, and why (``locked``: this key; ``busy``: the worker-wide ceiling)."""

    wait_s: float
    reason: str = ""


class GuessThrottle:
    """Per-key lockout and a worker-wide ceiling on judged proofs (see the module docstring)."""

    def __init__(self, settings: ThrottleSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or ThrottleSettings()
        self._clock = clock
        self._keys: OrderedDict[str, _KeyRecord] = OrderedDict()
        self._ceiling = TokenBucket(self.settings.judged_per_s, self.settings.judged_burst, clock=clock)

    def locked_for(self, key: str) -> float:
        """Seconds this key stays locked out (0: not locked)."""
        rec = self._keys.get(key)
        return 0.0 if rec is None else max(0.0, rec.locked_until - self._clock())

    def admit(self, key: str) -> Admission:
        """May this key's proof be judged now? Takes a judged slot when it may."""
        locked = self.locked_for(key)
        if locked > 0:
            return Admission(locked, "locked")
        if not self._ceiling.take():
            return Admission(max(0.05, self._ceiling.wait_s()), "busy")
        return Admission(0.0)

    def wrong(self, key: str) -> float:
        """A judged wrong proof from this key: the seconds it is now locked out for (0: not yet)."""
        s = self.settings
        now = self._clock()
        rec = self._keys.get(key)
        if rec is None or now - rec.last > s.forget_after_s:
            rec = _KeyRecord(Backoff(s.lock_s, s.lock_cap_s, clock=self._clock))
        self._keys[key] = rec
        self._keys.move_to_end(key)
        while len(self._keys) > s.max_keys:
            self._keys.popitem(last=False)
        rec.last = now
        rec.wrong += 1
        if rec.wrong < s.lock_after:
            return 0.0
        lock = rec.backoff.failed()
        rec.locked_until = now + lock
        rec.wrong = s.lock_after - 1   # after the lock, the next wrong proof locks it again, for longer
        return lock

    def right(self, key: str) -> None:
        """This key paired: it starts afresh."""
        self._keys.pop(key, None)


REFUSED = "wrong or expired pairing code"
NEW_CODE = "run `campool-worker pair` on the worker for a new one"
_PROOF = re.compile(r"[0-9a-f]{64}")


class Pairing:
    """Answers `PairRequest`s for one worker; the service calls `handle` on its loop thread and
    `tick` on every turn of it (so a flood's summary line is written when the flood stops)."""

    def __init__(self, codes: PairingCodes, allow: AllowList, worker_key: str, worker_id: str, *,
                 throttle: GuessThrottle | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.codes = codes
        self.allow = allow
        self.worker_key = worker_key
        self.worker_id = worker_id
        self.throttle = throttle or GuessThrottle(clock=clock)
        self.judged = 0
        self.not_judged = 0
        self._warn = WarningSummary(log, "wrong pairing proofs and pairing requests that were not judged",
                                    clock=clock)

    def tick(self) -> None:
        self._warn.tick()

    def handle(self, msg: p.PairRequest, master_key: str) -> p.PairReply:
        name = msg.master_name[:40]
        locked = self.throttle.locked_for(master_key)
        if locked > 0:
            self.not_judged += 1
            self._warn.held(master_key)
            return self._refuse(f"too many wrong pairing codes from this master key: locked out for {locked:.0f} s "
                                f"more; check the code on the worker, or {NEW_CODE}", locked)
        if not self.codes.active():
            self.not_judged += 1
            self._warn.warn(master_key, "pairing request from %r (key %s) while no pairing code is active",
                            name, master_key)
            return self._refuse(f"{REFUSED}: none is active on this worker (a code ends when any master pairs); "
                                f"{NEW_CODE}")
        admission = self.throttle.admit(master_key)
        if admission.wait_s > 0:
            self.not_judged += 1
            self._warn.held(master_key)
            return self._refuse(f"the worker is judging many pairing attempts; ask again in "
                                f"{admission.wait_s:.1f} s", admission.wait_s)
        self.judged += 1
        # (a proof that is not 64 hex digits is wrong without a scrypt; compare_digest also refuses non-ASCII)
        code = self.codes.verify(msg.proof, master_key, self.worker_key) if _PROOF.fullmatch(msg.proof) else None
        if code is None:
            lock = self.throttle.wrong(master_key)
            if lock:
                self._warn.warn(master_key, "pairing: master key %s (%r) sent %d wrong codes: locked out for %.0f s",
                                master_key, name, self.throttle.settings.lock_after, lock)
            else:
                self._warn.warn(master_key, "pairing attempt by %r (key %s) with a wrong or expired code",
                                name, master_key)
            return self._refuse(f"{REFUSED}; {NEW_CODE}")
        self.throttle.right(master_key)
        self.allow.add(master_key, msg.master_name[:100])
        return p.PairReply(True, self.worker_id, pair_proof(code, master_key, self.worker_key, "worker"), "paired")

    def _refuse(self, message: str, retry_after_s: float = 0.0) -> p.PairReply:
        # rounded up to the millisecond: a master that waits what it is told must not come back early
        return p.PairReply(False, self.worker_id, "", message, retry_after_s=math.ceil(retry_after_s * 1000) / 1000)
