"""What the pool core's decisions ask of the world, queued until the caller takes them.

- actions: commands to send to workers (SendAssign, SendFence, ...);
- records: facts to persist *before* the actions go out (a new lease and its epoch, ...);
- events: what changed, for subscribers. Workers and cameras are not queued as views but
  marked dirty: many changes to one camera within a step become one CameraChanged, built
  from the state when the events are taken (core.take_events).
"""
from __future__ import annotations

from .actions import Action, Record, SendUnassign
from .views import PoolEvent


class Effects:
    def __init__(self) -> None:
        self._actions: list[Action] = []
        self._records: list[Record] = []
        self._events: list[PoolEvent] = []
        self._dirty_workers: set[str] = set()
        self._dirty_cameras: set[str] = set()

    def send(self, action: Action) -> None:
        self._actions.append(action)

    def record(self, record: Record) -> None:
        self._records.append(record)

    def emit(self, event: PoolEvent) -> None:
        self._events.append(event)

    def touch_worker(self, worker_id: str) -> None:
        self._dirty_workers.add(worker_id)

    def touch_camera(self, camera_id: str) -> None:
        self._dirty_cameras.add(camera_id)

    def withdraw_unassign(self, camera_id: str, epoch: int) -> None:
        """Drop a queued unassign of this epoch: a newer assignment to the same worker supersedes it there."""
        self._actions = [a for a in self._actions
                         if not (isinstance(a, SendUnassign) and a.camera_id == camera_id and a.epoch == epoch)]

    def take_actions(self) -> list[Action]:
        out, self._actions = self._actions, []
        return out

    def take_records(self) -> list[Record]:
        out, self._records = self._records, []
        return out

    def take_events(self) -> tuple[list[PoolEvent], list[str], list[str]]:
        """(queued events, dirty workers, dirty cameras), the ids sorted; all cleared."""
        out, self._events = self._events, []
        workers, cameras = sorted(self._dirty_workers), sorted(self._dirty_cameras)
        self._dirty_workers, self._dirty_cameras = set(), set()
        return out, workers, cameras
