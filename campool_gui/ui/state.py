"""The UI's read-only picture of the pool: plain dataclasses, no Qt.

The bridge (`ui/bridge.py`) turns the pool core's snapshot and events into these and
the widgets only read them. Keeping the widgets on their own small types means a
widget can be built and tested from a literal, and a change in the pool core's
shapes is absorbed in one adapter function instead of every widget.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from campool_worker.camera import CameraConfig

METRICS = ("cpu", "mem", "gpu", "fps")
HISTORY_POINTS = 120  # samples kept per metric for the sparklines (2 minutes at 1 Hz)


@dataclass
class WorkerView:
    worker_id: str
    name: str
    status: str  # online | busy | degraded | offline | discovered | adopting | draining
    address: str = ""
    adopted: bool = True
    fingerprint: str = ""  # of the worker's CURVE public key, shown before adoption
    gpu: str | None = None  # GPU model name, None when the box has none
    capacity: int = 0
    cameras: list[str] = field(default_factory=list)
    cpu: float | None = None  # percent
    mem: float | None = None  # percent
    gpu_util: float | None = None  # percent
    fps: float | None = None  # frames processed per second, all cameras
    latency_ms: float | None = None
    started_at: float | None = None  # worker clock; uptime = now - started_at
    last_seen: float | None = None
    jobs_ok: int = 0
    jobs_failed: int = 0
    version: str = ""
    history: dict[str, deque] = field(default_factory=lambda: {m: deque(maxlen=HISTORY_POINTS) for m in METRICS})
    events: tuple = ()  # ((ts, text), ...), oldest first

    @property
    def success_rate(self) -> float | None:
        total = self.jobs_ok + self.jobs_failed
        return None if total == 0 else self.jobs_ok / total

    def uptime_s(self, now: float | None = None) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (now or time.time()) - self.started_at)

    @property
    def online(self) -> bool:
        return self.adopted and self.status in ("online", "busy", "degraded", "draining")


@dataclass
class CameraView:
    config: CameraConfig
    state: str = "unassigned"  # unassigned | starting | running | reconnecting | failed | stopped
    worker_id: str | None = None  # where it runs now
    pinned_to: str | None = None  # None = the balancer chooses
    epoch: int = 0
    fps: float | None = None
    latency_ms: float | None = None
    last_error: str = ""
    counts: dict[str, dict] = field(default_factory=dict)  # line -> {"in", "out", "by_class"}
    zones: dict[str, dict] = field(default_factory=dict)  # zone -> {"occupancy": {cls: n}, ...}

    @property
    def camera_id(self) -> str:
        return self.config.camera_id

    @property
    def name(self) -> str:
        return self.config.name or self.config.camera_id

    def total_count(self) -> int:
        return sum(int(c.get("in", 0)) + int(c.get("out", 0)) for c in self.counts.values())


@dataclass
class AlertView:
    alert_id: int | str
    severity: str  # critical | warning | info
    ts: float
    source: str  # "worker:w1", "camera:gate-2", "pool"
    message: str
    state: str = "open"  # open | acknowledged | resolved
    kind: str = ""
    subject: str = ""  # the id the alert is about (worker id, camera id, "camera/zone")


@dataclass
class Track:
    track_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    class_name: str = ""


@dataclass
class PreviewOverlay:
    """What a preview tile draws over the frame (from the worker's preview message)."""

    frame_index: int = 0
    # The camera's own frame size, which lines and zones are drawn in. The worker scales
    # track boxes to the JPEG but lines stay in frame pixels; 0 = not told (then lines are
    # taken as JPEG pixels, right only when the worker did not scale the frame down).
    source_width: int = 0
    source_height: int = 0
    tracks: list[Track] = field(default_factory=list)
    counts: dict[str, dict] = field(default_factory=dict)
    zones: dict[str, dict] = field(default_factory=dict)


@dataclass
class Totals:
    """The overview's numbers, derived from the state (see `compute_totals`)."""

    workers_total: int = 0
    workers_active: int = 0
    workers_failed: int = 0
    workers_discovered: int = 0
    cameras_total: int = 0
    cameras_running: int = 0
    cameras_failing: int = 0
    throughput_per_min: float = 0.0  # count events per minute, pool-wide
    fps_total: float = 0.0
    avg_latency_ms: float | None = None
    error_rate: float | None = None  # failing cameras / assigned cameras
    cpu_avg: float | None = None
    mem_avg: float | None = None
    gpu_avg: float | None = None


def compute_totals(workers: dict[str, WorkerView], cameras: dict[str, CameraView],
                   throughput_per_min: float = 0.0) -> Totals:
    adopted = [w for w in workers.values() if w.adopted]
    active = [w for w in adopted if w.online]
    running = [c for c in cameras.values() if c.state == "running"]
    failing = [c for c in cameras.values() if c.state in ("failed", "reconnecting")]
    assigned = [c for c in cameras.values() if c.worker_id]
    lat = [c.latency_ms for c in running if c.latency_ms is not None]

    def avg(vals: list[float | None]) -> float | None:
        v = [x for x in vals if x is not None]
        return sum(v) / len(v) if v else None

    return Totals(
        workers_total=len(adopted),
        workers_active=len(active),
        workers_failed=sum(1 for w in adopted if w.status == "offline"),
        workers_discovered=sum(1 for w in workers.values() if not w.adopted),
        cameras_total=len(cameras),
        cameras_running=len(running),
        cameras_failing=len(failing),
        throughput_per_min=throughput_per_min,
        fps_total=sum(c.fps or 0.0 for c in running),
        avg_latency_ms=sum(lat) / len(lat) if lat else None,
        error_rate=(len(failing) / len(assigned)) if assigned else None,
        cpu_avg=avg([w.cpu for w in active]),
        mem_avg=avg([w.mem for w in active]),
        gpu_avg=avg([w.gpu_util for w in active]),
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def format_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"
