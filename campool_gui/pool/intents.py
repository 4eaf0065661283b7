"""The operator's intents on the pool core (a mixin of PoolCore; runs on the pool thread).

Each intent validates its input (ValueError with an operator-readable line), changes the
core's state, and queues the records and actions that follow; placement itself happens on
the next tick.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from campool_worker.camera import CameraConfig

from .actions import CameraDeleted, CameraSaved, SendDrain, SendPreview, SendUpdate, SettingSaved, WorkerSaved
from .models import Camera
from .scheduler import make_policy
from .views import CameraRemoved

if TYPE_CHECKING:
    from .core import PoolCore

log = logging.getLogger(__name__)


class IntentsMixin:
    def add_camera(self: "PoolCore", config: CameraConfig, pin: str | None = None, *, pin_return: bool = True,
                   target_fps: float | None = None) -> None:
        if config.camera_id in self.cameras:
            raise ValueError(f"camera {config.camera_id!r} already exists; use update_camera to change it")
        cam = Camera(config, pin=pin, pin_return=pin_return, target_fps=target_fps)
        self.cameras[config.camera_id] = cam
        self._records.append(CameraSaved(replace(cam)))
        self._touch_camera(config.camera_id)

    def update_camera(self: "PoolCore", config: CameraConfig, *, target_fps: float | None = None) -> None:
        cid = config.camera_id
        cam = self._camera(cid)
        lease = self.leases.get(cid)
        if cam.config.source != config.source:
            # another stream: end the lease where the old one got to; the next starts afresh
            if lease is not None:
                del self.leases[cid]
                self._end_lease(cam, lease)
            self._fresh.add(cid)
            self.reasons[cid] = "source changed"
        elif lease is not None and lease.state != "failed":
            self._actions.append(SendUpdate(lease.worker_id, config, lease.epoch))
        cam.config = config
        if target_fps is not None:
            cam.target_fps = target_fps
        self._records.append(CameraSaved(replace(cam)))
        self._touch_camera(cid)

    def remove_camera(self: "PoolCore", camera_id: str) -> None:
        cam = self._camera(camera_id)
        lease = self.leases.pop(camera_id, None)
        if lease is not None:
            # the counts it made before the cut still arrive and are kept; the epoch counter
            # is kept too, so a camera re-added under this id never reuses (epoch, seq) keys
            self._end_lease(cam, lease)
        del self.cameras[camera_id]
        self.retries.drop(camera_id)
        self.breakers.reset(camera_id)
        self.dead.pop(camera_id, None)
        self.unplaced.pop(camera_id, None)
        self.previews.pop(camera_id, None)
        self.alerts.forget_subject(camera_id)
        self._records.append(CameraDeleted(camera_id))
        self._events.append(CameraRemoved(camera_id))

    def pin_camera(self: "PoolCore", camera_id: str, worker_id: str | None, *, pin_return: bool = True) -> None:
        cam = self._camera(camera_id)
        if worker_id is not None and worker_id not in self.workers:
            raise ValueError(f"no worker {worker_id!r}; pin to a known worker or None for auto")
        cam.pin, cam.pin_return = worker_id, pin_return
        self._records.append(CameraSaved(replace(cam)))
        self._touch_camera(camera_id)

    def drain(self: "PoolCore", worker_id: str, on: bool = True) -> None:
        w = self.workers.get(worker_id)
        if w is None:
            raise ValueError(f"no worker {worker_id!r} to drain")
        w.draining = on
        self._records.append(WorkerSaved(replace(w)))
        self._actions.append(SendDrain(worker_id, on))
        log.info("worker %s %s", worker_id, "draining: its cameras move elsewhere" if on else "back in service")
        self._touch_worker(worker_id)

    def set_policy(self: "PoolCore", name: str) -> None:
        self.policy = make_policy(name)
        self._records.append(SettingSaved("policy", name))
        log.info("placement policy is now %s", name)

    def retry_camera(self: "PoolCore", camera_id: str) -> None:
        """Operator: forget this camera's failures and try it everywhere again."""
        self._camera(camera_id)
        self.breakers.reset(camera_id)
        self.dead.pop(camera_id, None)
        self.retries.drop(camera_id)
        lease = self.leases.get(camera_id)
        if lease is not None and lease.state == "failed":
            self._release(lease, "retry")
        self._touch_camera(camera_id)

    def set_preview(self: "PoolCore", camera_id: str, on: bool, width: int = 320, fps: float = 2.0) -> None:
        self._camera(camera_id)
        if on:
            self.previews[camera_id] = (width, fps)
        else:
            self.previews.pop(camera_id, None)
        lease = self.leases.get(camera_id)
        if lease is not None:
            self._actions.append(SendPreview(lease.worker_id, camera_id, on, width, fps))
        self._touch_camera(camera_id)

    def _camera(self: "PoolCore", camera_id: str) -> Camera:
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise ValueError(f"no camera {camera_id!r}") from None
