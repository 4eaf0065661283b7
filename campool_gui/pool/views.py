"""What the outside world (the Qt layer, the headless log, tests) sees of the pool.

Everything here is a frozen copy taken on the pool thread: safe to hand to another
thread and keep. `PoolSnapshot` is the whole picture; the `*Changed` events are the
deltas a subscriber receives (on a pool thread: bridge them to the UI thread).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent, LineCounts

from .alerts import Alert
from .models import WorkerMetrics, WorkerState

ONLINE_STATES = frozenset({WorkerState.ONLINE, WorkerState.BUSY, WorkerState.DEGRADED, WorkerState.DRAINING})


@dataclass(frozen=True)
class MasterView:
    """A master (control center) a worker serves, as the worker reports it."""

    key: str                        # its CURVE public key (Z85)
    name: str                       # the name it gave when it paired ("" for a key from the worker's settings)
    adopted_at: float | None        # worker wall time of the pairing; None for a key from the settings
    this_master: bool               # the key is this control center's own

    @property
    def fingerprint(self) -> str:
        """The first characters of its key (what `campool-worker masters --remove` accepts)."""
        return self.key[:8]


@dataclass(frozen=True)
class StandbyView:
    """Where a camera's standby is (issue #12): the same shape on the camera and on the worker."""

    camera_id: str
    worker_id: str | None           # None: it should have one but none could be placed (reason says why)
    mode: str                       # hot | warm
    state: str                      # assigning | running | reconnecting | failed | waiting (and the worker's states)
    reason: str = ""                # why it waits, or the worker's error
    buffered_s: float = 0.0         # a warm standby: seconds of frames it holds
    held: int = 0                   # its events the master holds (the primary may not have counted them)
    epoch: int = 0                  # its lease's epoch (0: none placed)


@dataclass(frozen=True)
class WorkerView:
    worker_id: str
    name: str
    address: str
    state: WorkerState
    capacity: int
    gpu: str                        # GPU name, "" when none
    site: str
    cameras: tuple[str, ...]        # cameras whose lease it holds
    metrics: WorkerMetrics | None
    history: tuple[WorkerMetrics, ...]   # last ~10 min, one sample per heartbeat
    last_seen: float | None         # wall time of its last heartbeat
    key_fingerprint: str            # first characters of its pinned public key
    public_key: str                 # the whole pinned key (Z85), for the operator to compare on adoption
    key_conflict: str               # non-empty: another key claimed this name (not trusted)
    overloaded: bool
    draining: bool
    version: str
    last_error: str
    adopted: bool = False
    latency_ms: float | None = None  # mean latency of its running cameras
    started_at: float | None = None  # wall time the worker started (from its uptime); None while offline
    jobs_ok: int = 0                 # camera leases that reached running here and did not fail
    jobs_failed: int = 0             # camera leases that failed here
    events: tuple[tuple[float, str], ...] = ()   # (wall time, what happened), oldest first
    storage: p.StorageStatus | None = None  # its outbox's storage (ok / low / failing); None while offline
    masters: tuple[MasterView, ...] = ()         # every master it serves (this one marked), oldest first
    standbys: tuple[StandbyView, ...] = ()       # the cameras it is the standby for

    @property
    def online(self) -> bool:
        """Heartbeating and adopted, whatever its load (online, busy, degraded or draining)."""
        return self.adopted and self.state in ONLINE_STATES

    @property
    def success_rate(self) -> float | None:
        """Share of its finished or running leases that did not fail; None before the first."""
        total = self.jobs_ok + self.jobs_failed
        return None if total == 0 else self.jobs_ok / total

    def uptime_s(self, now: float) -> float | None:
        """Seconds it has been up at wall time `now`; None while offline."""
        return None if self.started_at is None else max(0.0, now - self.started_at)


@dataclass(frozen=True)
class CameraView:
    camera_id: str
    config: CameraConfig
    pin: str | None                 # operator pin (None = auto)
    pin_return: bool
    worker_id: str | None           # who holds its lease now
    epoch: int
    state: str                      # unassigned | assigning | starting | running | reconnecting |
                                    # failed | retrying | dead_letter | waiting
    reason: str                     # why it is not running, or the last move's reason
    status: p.CameraTelemetry | None  # as the worker last reported it
    counts: dict[str, LineCounts]   # line -> totals stored so far
    fenced: int
    errors: dict[str, str]          # worker -> last error there (breakers, dead letter)
    target_fps: float | None
    preview: bool
    standby: StandbyView | None = None   # its standby, when it has (or should have) one
    standby_mode: str = "none"           # effective: none | warm | hot (its setting, or hot for critical)
    standby_pin: str | None = None       # the operator's standby worker (None = auto)
    shadowed: int = 0                    # its standby's events the primary had counted (acked, not counted)

    @property
    def name(self) -> str:
        return self.config.name or self.camera_id

    @property
    def running(self) -> bool:
        return self.state == "running" and self.status is not None

    @property
    def fps(self) -> float | None:
        """Processing fps while it runs; None otherwise (an old figure would mislead)."""
        return self.status.fps if self.running and self.status is not None else None

    @property
    def latency_ms(self) -> float | None:
        return self.status.latency_ms if self.running and self.status is not None else None

    @property
    def detect_lowered(self) -> str:
        """Why its worker runs its detection below the camera's own budget ("" when it does not)."""
        return self.status.detect_budget_reason if self.running and self.status is not None else ""

    @property
    def error(self) -> str:
        """What the operator reads as its problem: the worker's error, else why it is not running;
        "" while it runs."""
        if self.state == "running":
            return ""
        if self.status is not None and self.status.last_error:
            return self.status.last_error
        return self.reason

    @property
    def zones(self) -> dict[str, int]:
        """zone -> objects in it, as its worker last reported."""
        return dict(self.status.zones) if self.status is not None else {}

    @property
    def counts_in(self) -> int:
        return sum(c.in_total for c in self.counts.values())

    @property
    def counts_out(self) -> int:
        return sum(c.out_total for c in self.counts.values())

    @property
    def counts_total(self) -> int:
        return self.counts_in + self.counts_out


FAILING_STATES = frozenset({"failed", "reconnecting"})


@dataclass(frozen=True)
class PoolTotals:
    """The pool's headline figures; `pool_totals` computes them from the views."""

    workers_total: int = 0           # adopted
    workers_online: int = 0          # adopted and heartbeating (WorkerView.online)
    workers_offline: int = 0         # adopted, not heard from
    workers_discovered: int = 0      # seen, not adopted (or being adopted)
    cameras_total: int = 0
    cameras_running: int = 0
    cameras_failing: int = 0         # failed or reconnecting
    throughput_per_min: float = 0.0  # count events stored per minute, pool-wide
    fps_total: float = 0.0           # of the running cameras
    avg_latency_ms: float | None = None
    error_rate: float | None = None  # failing cameras / cameras with a worker
    cpu_avg: float | None = None     # over online workers
    mem_avg: float | None = None
    gpu_avg: float | None = None
    events_stored: int = 0
    events_fenced: int = 0
    events_shadowed: int = 0         # standby events acked but not counted (the primary covered them)
    counts_in: int = 0               # over the cameras shown
    counts_out: int = 0
    # headroom: camera slots free on the online workers, and cameras whose worker lowered their
    # detection because it could not keep up (saturation by priority)
    slots_total: int = 0
    slots_free: int = 0
    cameras_lowered: int = 0


def _mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def pool_totals(workers: Iterable[WorkerView], cameras: Iterable[CameraView], *, events_stored: int = 0,
                events_fenced: int = 0, throughput_per_min: float = 0.0, events_shadowed: int = 0) -> PoolTotals:
    """The headline figures of these views (pure: the snapshot and the UI compute them the same way)."""
    cams = list(cameras)
    seen = list(workers)
    adopted = [w for w in seen if w.adopted]
    online = [w for w in adopted if w.online]
    running = [c for c in cams if c.state == "running"]
    failing = [c for c in cams if c.state in FAILING_STATES]
    assigned = [c for c in cams if c.worker_id]
    metrics = [w.metrics for w in online if w.metrics is not None]
    return PoolTotals(
        workers_total=len(adopted), workers_online=len(online),
        workers_offline=sum(1 for w in adopted if w.state is WorkerState.OFFLINE),
        workers_discovered=len(seen) - len(adopted),
        cameras_total=len(cams), cameras_running=len(running), cameras_failing=len(failing),
        throughput_per_min=throughput_per_min,
        fps_total=sum(c.fps or 0.0 for c in running),
        avg_latency_ms=_mean(c.latency_ms for c in running),
        error_rate=len(failing) / len(assigned) if assigned else None,
        cpu_avg=_mean(m.cpu_pct for m in metrics), mem_avg=_mean(m.mem_pct for m in metrics),
        gpu_avg=_mean(m.gpu_pct for m in metrics),
        events_stored=events_stored, events_fenced=events_fenced, events_shadowed=events_shadowed,
        counts_in=sum(c.counts_in for c in cams), counts_out=sum(c.counts_out for c in cams),
        slots_total=sum(w.capacity for w in online),
        slots_free=sum(max(0, w.capacity - len(w.cameras)) for w in online),
        cameras_lowered=sum(1 for c in running if c.detect_lowered))


@dataclass(frozen=True)
class PoolSnapshot:
    ts: float
    policy: str
    workers: tuple[WorkerView, ...]
    cameras: tuple[CameraView, ...]
    alerts: tuple[Alert, ...]        # open ones first, then the latest resolved
    dead_letters: tuple[str, ...]
    totals: PoolTotals


# ----------------------------------------------------------------- events (deltas)

@dataclass(frozen=True)
class WorkerChanged:
    worker: WorkerView


@dataclass(frozen=True)
class WorkerRemoved:
    worker_id: str


@dataclass(frozen=True)
class CameraChanged:
    camera: CameraView


@dataclass(frozen=True)
class CameraRemoved:
    camera_id: str


@dataclass(frozen=True)
class CountsChanged:
    camera_id: str
    counts: dict[str, LineCounts]            # line -> stored totals after these events (copies)
    events: tuple[CountEvent, ...] = field(default_factory=tuple)  # the newly stored ones


@dataclass(frozen=True)
class AlertChanged:
    alert: Alert


# Previews reach subscribers as the wire message itself (campool_worker.protocol.PreviewFrame).
PoolEvent = (WorkerChanged | WorkerRemoved | CameraChanged | CameraRemoved | CountsChanged | AlertChanged
             | p.PreviewFrame)
