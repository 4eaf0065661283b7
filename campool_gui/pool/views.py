"""What the outside world (the Qt layer, the headless log, tests) sees of the pool.

Everything here is a frozen copy taken on the pool thread: safe to hand to another
thread and keep. `PoolSnapshot` is the whole picture; the `*Changed` events are the
deltas a subscriber receives (on a pool thread: bridge them to the UI thread).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent

from .alerts import Alert
from .models import WorkerMetrics, WorkerState


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
    counts: dict[str, dict[str, int]]   # line -> {"in": n, "out": n} stored so far
    fenced: int
    errors: dict[str, str]          # worker -> last error there (breakers, dead letter)
    target_fps: float | None
    preview: bool


@dataclass(frozen=True)
class PoolTotals:
    workers_online: int
    workers_total: int
    cameras_running: int
    cameras_total: int
    events_stored: int
    events_fenced: int
    counts_in: int
    counts_out: int


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
    counts: dict[str, dict[str, int]]        # line -> {"in", "out"} totals after these events
    events: tuple[CountEvent, ...] = field(default_factory=tuple)  # the newly stored ones


@dataclass(frozen=True)
class AlertChanged:
    alert: Alert


@dataclass(frozen=True)
class PreviewFrame:
    camera_id: str
    worker_id: str
    epoch: int
    frame_index: int
    ts: float
    width: int
    height: int
    jpeg: bytes
    tracks: tuple[tuple[int, str, float, tuple[float, float, float, float]], ...]  # id, class, score, box
    counts: dict[str, dict[str, int]]        # line -> {"in", "out"} as the worker sees it
    zones: dict[str, dict[str, int]]         # zone -> class -> occupancy
    source_width: int = 0                    # the camera's frame size: lines and zones are in these pixels
    source_height: int = 0


PoolEvent = WorkerChanged | WorkerRemoved | CameraChanged | CameraRemoved | CountsChanged | AlertChanged | PreviewFrame
