"""The master's picture of the pool: what the pool core knows, in one object.

`PoolState` holds the facts (workers, cameras, leases and their epochs, dead letters, why a
camera waits, the counts stored so far); the pool core (core.py) is the only writer, the view
builders (snapshot.py) and the alert conditions (conditions.py) read it. It has no clock and no
queues: time is passed in, and what the core asks of the world goes through `effects.Effects`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from campool_worker import protocol as p
from campool_worker.camera import LineCounts

from .failover import DeadLetter, RetryQueue
from .fencing import EpochFence
from .models import Assignment, Camera, Worker, WorkerJournal
from .rates import RateWindow

THROUGHPUT_WINDOW_S = 60.0


@dataclass
class PoolState:
    workers: dict[str, Worker] = field(default_factory=dict)
    cameras: dict[str, Camera] = field(default_factory=dict)
    leases: dict[str, Assignment] = field(default_factory=dict)        # camera -> its lease
    standbys: dict[str, Assignment] = field(default_factory=dict)      # camera -> its standby lease (issue #12)
    standby_status: dict[str, p.CameraTelemetry] = field(default_factory=dict)  # as its standby last reported
    standby_waiting: dict[str, str] = field(default_factory=dict)      # camera -> why it has no standby
    fence: EpochFence = field(default_factory=EpochFence)
    retries: RetryQueue = field(default_factory=RetryQueue)             # cameras waiting for a backoff
    dead: dict[str, DeadLetter] = field(default_factory=dict)           # cameras that failed everywhere
    unplaced: dict[str, str] = field(default_factory=dict)              # camera -> why it has no worker
    reasons: dict[str, str] = field(default_factory=dict)               # camera -> why it went where it is
    preparing: dict[str, str] = field(default_factory=dict)             # camera -> what its assignment waits for
    previews: dict[str, tuple[int, float]] = field(default_factory=dict)   # camera -> (width, fps) asked for
    counts: dict[str, dict[str, LineCounts]] = field(default_factory=dict)  # camera -> line -> stored totals
    journals: dict[str, WorkerJournal] = field(default_factory=dict)    # worker -> its log and lease outcomes
    integrations: dict[str, str] = field(default_factory=dict)          # "mqtt", "metrics" -> its problem ("" = fine)
    events_stored: int = 0
    events_fenced: int = 0
    events_shadowed: int = 0        # standby events acked but not counted (the primary covered them)
    recently_stored: RateWindow = field(default_factory=lambda: RateWindow(THROUGHPUT_WINDOW_S))
    started: float = 0.0            # clock.now() when this master run started (or restored its state)

    def journal(self, worker_id: str) -> WorkerJournal:
        return self.journals.setdefault(worker_id, WorkerJournal())

    def live_lease(self, camera_id: str) -> Assignment | None:
        """The camera's lease unless it failed (a failed lease only waits for its retry or move)."""
        lease = self.leases.get(camera_id)
        return lease if lease is not None and lease.state != "failed" else None

    def placement(self) -> dict[str, str]:
        """camera -> worker holding its live lease."""
        return {cid: a.worker_id for cid, a in self.leases.items() if a.state != "failed"}

    def cameras_by_worker(self) -> dict[str, tuple[str, ...]]:
        """worker -> the cameras it holds a live lease for, sorted; one pass over the leases."""
        held: dict[str, list[str]] = {}
        for cid, lease in self.leases.items():
            if lease.state != "failed":
                held.setdefault(lease.worker_id, []).append(cid)
        return {wid: tuple(sorted(cids)) for wid, cids in held.items()}

    def standbys_by_worker(self) -> dict[str, tuple[str, ...]]:
        """worker -> the cameras it is the standby for, sorted."""
        held: dict[str, list[str]] = {}
        for cid, lease in self.standbys.items():
            if lease.state != "failed":
                held.setdefault(lease.worker_id, []).append(cid)
        return {wid: tuple(sorted(cids)) for wid, cids in held.items()}

    def worker_alive(self, worker_id: str) -> bool:
        w = self.workers.get(worker_id)
        return w is not None and w.alive
