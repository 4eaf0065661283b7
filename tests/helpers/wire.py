"""Wire messages for tests that play a worker in memory: a camera's telemetry and a worker's status
with neutral values for everything a test does not care about."""
from __future__ import annotations

from collections.abc import Iterable

from campool_worker import protocol as p


def camera(camera_id: str, epoch: int, state: str = "running", *, fps: float = 0.0, latency_ms: float = 0.0,
           frame_index: int = -1, last_error: str | None = None, frames: int = 0, last_seq: int = 0,
           zones: dict[str, int] | None = None,
           zone_classes: dict[str, dict[str, int]] | None = None, role: str = "primary", frame_ts: float = 0.0,
           buffered_s: float = 0.0, backlog: int = 0, detect_starved: int = 0,
           detect_budget_reason: str = "") -> p.CameraTelemetry:
    return p.CameraTelemetry(camera_id, epoch, state, fps, latency_ms, frames, frame_index, last_error, last_seq,
                             backlog, False, "test", dict(zones or {}), dict(zone_classes or {}),
                             "standby" if role == "standby" else "primary", frame_ts, buffered_s,
                             detect_starved=detect_starved, detect_budget_reason=detect_budget_reason)


def status(worker_id: str, cameras: Iterable[p.CameraTelemetry] = (), *, clock: float = 0.0, cpu: float = 0.0,
           mem: float = 0.0, backlog: int = 0, capacity: int = 4, gpu: str = "", heartbeat_s: float = 1.0,
           boot_id: str = "boot", name: str = "", masters: Iterable[p.MasterInfo] = (),
           storage: p.StorageStatus | None = None) -> p.WorkerStatus:
    return p.WorkerStatus(
        worker_id=worker_id, name=name or worker_id, version="test", seq=1, boot_id=boot_id, clock=clock,
        uptime_s=1.0, state="running", capacity=capacity, gpu=gpu, cameras=list(cameras),
        system=p.SystemMetrics(cpu, 0.0, mem, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), gpus=[], outbox_pending=backlog,
        outbox_oldest_ts=None, rejected_messages=0, heartbeat_s=heartbeat_s, masters=list(masters),
        storage=storage or p.StorageStatus("ok", 1000.0, 0, ""))
