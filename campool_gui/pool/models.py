"""The master's picture of the pool: workers, cameras, assignments (leases with an epoch).

These are plain mutable dataclasses owned by the pool thread; the outside world (the Qt
layer, tests) sees frozen copies through `PoolSnapshot` (see views.py).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlparse

from campool_worker import protocol as p
from campool_worker.camera import PRIORITIES, CameraConfig

PRIORITY_RANK = {name: i for i, name in enumerate(PRIORITIES)}  # critical=0 ... low=3


class WorkerState(str, Enum):
    DISCOVERED = "discovered"  # seen on mDNS (or configured), not adopted yet
    ADOPTING = "adopting"      # pairing in progress
    ONLINE = "online"          # heartbeating, has room
    BUSY = "busy"              # heartbeating, at capacity
    DEGRADED = "degraded"      # heartbeating but overloaded (CPU, memory, fps, latency)
    OFFLINE = "offline"        # missed its heartbeats (or never heard since start)
    DRAINING = "draining"      # operator maintenance: cameras are moved off, none placed


@dataclass(frozen=True)
class WorkerCapabilities:
    """What a worker can run; the scheduler's hard and soft constraints come from here."""

    capacity: int = 4                        # max cameras
    gpu: bool = False
    gpu_name: str = ""
    models: frozenset[str] = frozenset()     # model ids it already holds (paths / sha256:...)
    source_kinds: frozenset[str] = frozenset({"file", "rtsp", "http", "usb", "synthetic"})
    site: str = ""
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WorkerMetrics:
    """One sample of a worker's load, taken from a heartbeat: what the charts and the balancer use."""

    ts: float                       # master wall time of the sample
    cpu_pct: float = 0.0
    mem_pct: float = 0.0
    gpu_pct: float | None = None
    gpu_temp_c: float | None = None
    disk_pct: float | None = None
    outbox_backlog: int = 0
    fps_total: float = 0.0

    @classmethod
    def of(cls, status: p.WorkerStatus, wall: float) -> WorkerMetrics:
        gpu = status.gpus[0] if status.gpus else None
        return cls(ts=wall, cpu_pct=status.system.cpu_percent, mem_pct=status.system.mem_percent,
                   gpu_pct=gpu.util_percent if gpu else None, gpu_temp_c=gpu.temp_c if gpu else None,
                   disk_pct=status.system.disk_percent, outbox_backlog=status.outbox_pending,
                   fps_total=sum(c.fps for c in status.cameras if c.state == "running"))


@dataclass
class Worker:
    worker_id: str
    name: str
    address: str = ""
    cmd_port: int = 0
    pub_port: int = 0
    pair_port: int = 0
    public_key: str = ""             # pinned CURVE public key (Z85)
    adopted: bool = False
    adopting: bool = False
    alive: bool = False
    draining: bool = False
    overloaded: bool = False
    key_conflict: str = ""           # non-empty: a record with this name but another key was seen
    capabilities: WorkerCapabilities = field(default_factory=WorkerCapabilities)
    metrics: WorkerMetrics | None = None
    history: deque[WorkerMetrics] = field(default_factory=lambda: deque(maxlen=600))
    last_heartbeat: float | None = None      # clock.now() of the last heartbeat
    clock_offset: float = 0.0                # worker wall clock minus master wall clock
    camera_status: dict[str, p.CameraTelemetry] = field(default_factory=dict)   # as it last reported them
    version: str = ""
    last_error: str = ""
    # non-empty: it speaks another protocol version; the line says which end to upgrade (protocol/compat.py)
    incompatible: str = ""
    heartbeat_s: float = p.HEARTBEAT_S_DEFAULT  # the period it declared; its liveness is judged by it
    known_since: float | None = None            # clock.now() when this master run first knew it adopted
    started_wall: float | None = None           # master wall time it started (from its declared uptime)
    storage: p.StorageStatus | None = None      # its outbox's storage as it last reported it
    masters: tuple[p.MasterInfo, ...] = ()      # every master it serves, as its last status said
    # The master keys this master knows it serves (the baseline of the "adopted by another master"
    # alert; kept in the store across restarts). None: not known yet; its first status sets it.
    masters_seen: frozenset[str] | None = None

    @property
    def dead_after_s(self) -> float:
        """Silence after which it is declared dead (protocol.liveness)."""
        return p.dead_after_s(self.heartbeat_s)

    @property
    def state(self) -> WorkerState:
        if not self.adopted:
            return WorkerState.ADOPTING if self.adopting else WorkerState.DISCOVERED
        if not self.alive:
            return WorkerState.OFFLINE
        if self.draining:
            return WorkerState.DRAINING
        if self.overloaded:
            return WorkerState.DEGRADED
        running = sum(1 for st in self.camera_status.values() if st.state not in ("fenced", "stopped"))
        if running >= self.capabilities.capacity:
            return WorkerState.BUSY
        return WorkerState.ONLINE

    @property
    def usable(self) -> bool:
        """May receive cameras (adopted, alive, not draining, key not in doubt)."""
        return self.adopted and self.alive and not self.draining and not self.key_conflict


@dataclass
class Camera:
    config: CameraConfig
    pin: str | None = None           # operator's manual placement; None = auto
    pin_return: bool = True          # move back to the pinned worker when it returns
    target_fps: float | None = None  # processing fps expected (fps-low alerts, overload)
    status: p.CameraTelemetry | None = None   # as its lease holder last reported it
    last_moved: float | None = None  # clock.now() of the last placement (rebalance dwell)
    fenced: int = 0                  # events acked but dropped by epoch fencing
    standby_pin: str | None = None   # operator's choice of standby worker; None = auto (issue #12)
    shadowed: int = 0                # standby events acked but not counted (the primary covered them)

    @property
    def camera_id(self) -> str:
        return self.config.camera_id

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[self.config.priority]

    @property
    def source_kind(self) -> str:
        return source_kind(self.config.source)

    @property
    def seekable(self) -> bool:
        """Files can be cut by frame index; live streams are cut by wall time."""
        return self.source_kind in ("file", "synthetic")


def source_kind(source: str) -> str:
    s = source.strip()
    if s.isdigit() or s.startswith("usb:"):
        return "usb"
    scheme = urlparse(s).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    if scheme == "synthetic":
        return "synthetic"
    return "file"


@dataclass
class Assignment:
    """A lease: camera on worker under epoch. The epoch grows on every (re)assignment.

    role "standby" (issue #12): a shadow lease beside the camera's primary, on another worker,
    under an epoch of its own; ``mode`` says what it runs (hot: the whole pipeline, warm: the
    stream and its last ``buffer_s`` seconds of frames). A promotion makes it the primary."""

    camera_id: str
    worker_id: str
    epoch: int
    since: float                     # clock.now() when issued
    start_frame: int | None = None
    count_from_frame: int | None = None
    count_from_ts: float | None = None   # live sources: the handover cut in this worker's clock
    state: str = "pending"           # pending (sent) | active (worker confirmed) | failed
    started_wall: float = 0.0        # master wall time when issued (stored history)
    ran: bool = False                # reached "running" in this master run (a job that ran on its worker)
    role: str = "primary"            # primary | standby
    mode: str = "hot"                # a standby: hot | warm
    buffer_s: float = 10.0           # a warm standby: seconds of recent frames it keeps


@dataclass(frozen=True)
class Cut:
    """Where epoch `epoch` of a camera ended: its events count only before this point."""

    camera_id: str
    epoch: int
    frame: int | None = None         # seekable sources: accept frame_index < frame
    ts: float | None = None          # live sources: accept worker ts < ts (the old worker's clock)
    wall: float | None = None        # master wall time when the cut was made (the lease's end)


JOURNAL_ENTRIES = 200   # per worker: about a day of an eventful worker's life


@dataclass
class WorkerJournal:
    """What the operator reads about one worker's life in this master run: its state changes,
    the cameras that came and went, the alerts about it, and how its camera leases ended.

    The pool core writes it where each of these happens (not by diffing views), so the UI
    shows the log and the success rate as they are, without keeping its own copy.
    """

    events: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=JOURNAL_ENTRIES))
    jobs_ok: int = 0                 # leases that reached running here (and did not fail later)
    jobs_failed: int = 0             # leases that failed here (refused, crashed, stream down)
    last_state: WorkerState | None = None
    _alert_states: dict[int, str] = field(default_factory=dict)   # open alert id -> last state logged

    def note(self, wall: float, text: str) -> None:
        self.events.append((wall, text))

    def saw_state(self, state: WorkerState, wall: float, error: str = "") -> bool:
        """Log a change of state; True when it changed."""
        if state is self.last_state:
            return False
        if self.last_state is None:
            self.note(wall, f"seen as {state.value}")
        else:
            self.note(wall, f"{self.last_state.value} → {state.value}" + (f": {error}" if error else ""))
        self.last_state = state
        return True

    def saw_alert(self, alert_id: int, state: str, message: str, wall: float) -> bool:
        """Log an alert about this worker when its state (raised, acknowledged, resolved) changed."""
        if self._alert_states.get(alert_id) == state:
            return False
        if state == "resolved":
            self._alert_states.pop(alert_id, None)
        else:
            self._alert_states[alert_id] = state
        self.note(wall, f"alert {state}: {message}")
        return True

    def lease_ran(self) -> None:
        self.jobs_ok += 1

    def lease_failed(self, ran: bool) -> None:
        """A lease failed here; one that had run counts as failed, not as both."""
        if ran:
            self.jobs_ok -= 1
        self.jobs_failed += 1
