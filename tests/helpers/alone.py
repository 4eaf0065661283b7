"""A readers-writer lock across the suite's test processes, on two lock files (flock).

Every test holds the room shared; a test marked `alone` holds it exclusive. A writer first takes
the turnstile and keeps it while it waits for the room, so the other process cannot slip one
shared test after another past it (flock alone gives a waiting writer no priority).
"""
from __future__ import annotations

import contextlib
import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path


class RunAlone:
    def __init__(self, run_id: str) -> None:
        base = Path(tempfile.gettempdir()) / f"campool-pytest-{run_id}"
        base.mkdir(exist_ok=True)
        self.turnstile = base / "turnstile.lock"
        self.room = base / "room.lock"

    @contextlib.contextmanager
    def hold(self, *, exclusive: bool) -> Iterator[None]:
        with open(self.turnstile, "a") as gate, open(self.room, "a") as room:
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(room, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
            try:
                yield
            finally:
                fcntl.flock(room, fcntl.LOCK_UN)
