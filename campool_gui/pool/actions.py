"""What the pool core asks for: commands to workers (actions) and facts to persist (records).

The core queues them; master.py sends the actions through the worker links and writes the
records to the store first (a new epoch is on disk before any worker hears of it).
"""
from __future__ import annotations

from dataclasses import dataclass

from campool_worker.camera import CameraConfig

from .alerts import Alert
from .models import Assignment, Camera, Cut, Worker

# ------------------------------------------------------------------ actions (to workers)

@dataclass(frozen=True)
class SendAssign:
    worker_id: str
    camera: CameraConfig
    epoch: int
    start_frame: int | None
    count_from_frame: int | None
    count_from_ts: float | None = None   # live sources: the cut in this worker's clock (see protocol)
    role: str = "primary"                # "standby": a shadow lease beside the primary (issue #12)
    standby: str = "hot"                 # a standby: hot | warm
    buffer_s: float = 10.0               # a warm standby: seconds of recent frames to keep


@dataclass(frozen=True)
class SendUnassign:
    worker_id: str
    camera_id: str
    epoch: int


@dataclass(frozen=True)
class SendFence:
    worker_id: str
    camera_id: str
    epoch: int
    current_epoch: int


@dataclass(frozen=True)
class SendUpdate:
    worker_id: str
    camera: CameraConfig
    epoch: int


@dataclass(frozen=True)
class SendPromote:
    """The standby at ``epoch`` becomes the camera's primary, counting from ``count_from_ts`` (its clock)."""

    worker_id: str
    camera_id: str
    epoch: int
    count_from_ts: float


@dataclass(frozen=True)
class SendResend:
    """Republish the camera's unacked count events now (a promoted standby's held ones)."""

    worker_id: str
    camera_id: str


@dataclass(frozen=True)
class SendDrain:
    worker_id: str
    enabled: bool


@dataclass(frozen=True)
class SendPreview:
    worker_id: str
    camera_id: str
    enabled: bool
    width: int
    fps: float


Action = SendAssign | SendUnassign | SendFence | SendUpdate | SendDrain | SendPreview | SendPromote | SendResend


# ------------------------------------------------------------------ records (to the store)

@dataclass(frozen=True)
class LeaseStarted:
    assignment: Assignment
    reason: str


@dataclass(frozen=True)
class LeaseEnded:
    camera_id: str
    epoch: int
    ended_wall: float
    cut: Cut


@dataclass(frozen=True)
class StandbyPromoted:
    """The standby epoch of a camera became its current epoch: its events (and its coverage) count
    from ``count_from_ts`` (the promotion's cut, in the standby worker's clock)."""

    camera_id: str
    epoch: int
    count_from_ts: float
    promoted_wall: float


@dataclass(frozen=True)
class CameraSaved:
    camera: Camera


@dataclass(frozen=True)
class CameraDeleted:
    camera_id: str


@dataclass(frozen=True)
class WorkerSaved:
    worker: Worker


@dataclass(frozen=True)
class WorkerDeleted:
    worker_id: str


@dataclass(frozen=True)
class SettingSaved:
    key: str          # e.g. "policy"
    value: str


@dataclass(frozen=True)
class AlertSaved:
    alert: Alert    # a copy the pool thread no longer changes


Record = (LeaseStarted | LeaseEnded | StandbyPromoted | CameraSaved | CameraDeleted | WorkerSaved | WorkerDeleted
          | SettingSaved | AlertSaved)
