"""What the worker does for each command: assignments with epoch fencing, acks, drain, models.

A mixin of `service.WorkerService`, run on its loop thread (so it may use the outbox freely).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from campool_worker import __version__
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig
from campool_worker.cameras import WARMUP_FRAMES, CameraSlot
from campool_worker.outbox import StoredAssignment

if TYPE_CHECKING:
    from campool_worker.service import WorkerService

log = logging.getLogger(__name__)



class CommandHandlers:
    def _handle_command(self: "WorkerService", msg: p.Message, master_key: str) -> p.Message:
        # ZAP checks a key only at the handshake, so a master revoked while connected keeps its
        # session: ask the allow-list again for every command (it rereads masters.json on change).
        if master_key not in self.allow:
            return self._unauthorized(msg, master_key)
        self._refused_keys.discard(master_key)  # adopted again: a later revocation is news again
        handler = getattr(self, "_on_" + msg.TYPE)
        return handler(msg, master_key)

    def _unauthorized(self: "WorkerService", msg: p.Message, master_key: str) -> p.Message:
        if master_key not in self._refused_keys:  # once per key: a revoked master may retry forever
            if len(self._refused_keys) < 1000:
                self._refused_keys.add(master_key)
            log.warning("refused %s from master key %s: it is no longer trusted (revoked with `campool-worker "
                        "masters --remove` or removed from masters.json); its further commands are refused "
                        "without a log line each", msg.TYPE, master_key)
        return p.Error("unauthorized", "this master's key is no longer trusted by the worker (it was revoked); "
                       "adopt the worker again with a pairing code from `campool-worker pair`")

    # ------------------------------------------------------------------ session

    def _on_hello(self: "WorkerService", msg: p.Hello, master_key: str) -> p.Message:
        log.info("master %r (%s, key %s) says hello; resending %d unacked event(s)", msg.master_name[:40],
                 msg.master_id[:40], master_key[:8], self.outbox.counts()[0])
        self.start_resend(None)
        return p.HelloReply(p.PROTOCOL_VERSION, self.pub_port, self.status())

    def _on_status(self: "WorkerService", msg: p.GetStatus, master_key: str) -> p.Message:
        return p.StatusReply(self.status())

    # ------------------------------------------------------------------ assignments

    def _epoch_seen(self: "WorkerService", camera_id: str) -> int:
        value = self.outbox.get_meta(f"epoch:{camera_id}")
        return int(value) if value is not None else -1

    def _on_assign(self: "WorkerService", msg: p.AssignCamera, master_key: str) -> p.Message:
        cam = msg.camera
        slot = self.slots.get(cam.camera_id)
        seen = max(self._epoch_seen(cam.camera_id), slot.epoch if slot else -1)
        if slot is not None and msg.epoch == slot.epoch:
            if cam == slot.camera:
                return p.Ok("already running at this epoch")
            return self._update(slot, cam)
        if msg.epoch < seen or (slot is None and msg.epoch == seen):
            log.warning("camera %s: refused assignment at epoch %d, this worker has seen epoch %d", cam.camera_id,
                        msg.epoch, seen)
            return p.Fenced(cam.camera_id, msg.epoch, seen)
        if self.draining:
            return p.Error("draining", "this worker is draining; send Drain(enabled=False) first")
        if slot is None and len(self.slots) >= self.capacity:
            return p.Error("capacity", f"this worker runs {len(self.slots)} camera(s), its capacity")
        refused = self._check_model(cam)
        if refused:
            return refused
        if slot is not None:
            log.info("camera %s: epoch %d replaces epoch %d", cam.camera_id, msg.epoch, slot.epoch)
            self._stop_slot(cam.camera_id)
        self._start_slot(StoredAssignment(cam, msg.epoch, msg.start_frame, msg.count_from_frame, msg.count_from_ts),
                         persist=True)
        return p.Ok(f"camera {cam.camera_id} assigned at epoch {msg.epoch}")

    def _on_update(self: "WorkerService", msg: p.UpdateCamera, master_key: str) -> p.Message:
        slot = self.slots.get(msg.camera.camera_id)
        if slot is None:
            return p.Error("unknown_camera", f"camera {msg.camera.camera_id} is not assigned to this worker")
        if msg.epoch < slot.epoch:
            return p.Fenced(msg.camera.camera_id, msg.epoch, slot.epoch)
        if msg.epoch > slot.epoch:
            return p.Error("invalid", f"camera {msg.camera.camera_id} runs epoch {slot.epoch}; a new epoch needs "
                           "an assign, not an update")
        if msg.camera == slot.camera:
            return p.Ok("no change")
        return self._update(slot, msg.camera)

    def _update(self: "WorkerService", slot: CameraSlot, camera: CameraConfig) -> p.Message:
        """A config change under the same epoch: the runner applies it between two frames, so
        nothing is counted twice and the seqs simply go on."""
        refused = self._check_model(camera)
        if refused:
            return refused
        slot.update(camera)
        self.outbox.save_assignment(StoredAssignment(camera, slot.epoch, slot.start_frame, slot.count_from_frame,
                                                     slot.count_from_ts))
        log.info("%s: settings updated", slot.ctx)
        return p.Ok(f"camera {camera.camera_id} updated")

    def _on_unassign(self: "WorkerService", msg: p.UnassignCamera, master_key: str) -> p.Message:
        slot = self.slots.get(msg.camera_id)
        if slot is None:
            return p.Ok("not running here")
        if msg.epoch < slot.epoch:
            return p.Fenced(msg.camera_id, msg.epoch, slot.epoch)
        self._stop_slot(msg.camera_id, forget=True)
        return p.Ok(f"camera {msg.camera_id} stopped; {self.outbox.backlog().get(msg.camera_id, 0)} event(s) "
                    "still to ack")

    def _on_fence(self: "WorkerService", msg: p.FenceCamera, master_key: str) -> p.Message:
        self.outbox.set_meta(f"epoch:{msg.camera_id}", str(max(msg.current_epoch, self._epoch_seen(msg.camera_id))))
        slot = self.slots.get(msg.camera_id)
        if slot is None:
            return p.Ok("not running here")
        if slot.epoch > msg.epoch:
            return p.Fenced(msg.camera_id, msg.epoch, slot.epoch)
        log.warning("camera %s epoch %d: fenced by the master (now epoch %d elsewhere); stopping it", msg.camera_id,
                    slot.epoch, msg.current_epoch)
        self._stop_slot(msg.camera_id, forget=True)
        self.alert("warning", "camera_fenced", f"camera {msg.camera_id}: epoch {slot.epoch} is stale (the master "
                   f"moved it to epoch {msg.current_epoch}); stopped here", msg.camera_id)
        return p.Ok("stopped")

    def _start_slot(self: "WorkerService", a: StoredAssignment, persist: bool) -> CameraSlot:
        if persist:
            self.outbox.save_assignment(a)
            self.outbox.set_meta(f"epoch:{a.camera.camera_id}",
                                 str(max(a.epoch, self._epoch_seen(a.camera.camera_id))))
        slot = CameraSlot(a.camera, a.epoch, start_frame=a.start_frame, count_from_frame=a.count_from_frame,
                          count_from_ts=a.count_from_ts, worker_id=self.worker_id, models_dir=self.models_dir, sink=self,
                          test_hooks=self.settings.test_hooks,
                          detector_options={"intra_op_threads": self.settings.intra_op_threads or None,
                                            "inference_workers": self.settings.inference_workers})
        self.slots[a.camera.camera_id] = slot
        log.info("%s: starting (source %s, start frame %s, count from %s)", slot.ctx, _redact(a.camera.source),
                 a.start_frame, a.count_from_frame)
        slot.start()
        return slot

    def _stop_slot(self: "WorkerService", camera_id: str, forget: bool = False) -> None:
        slot = self.slots.pop(camera_id)
        slot.stop()
        if forget:
            self.outbox.delete_assignment(camera_id)
        log.info("%s: stopped", slot.ctx)

    def _resume_assignments(self: "WorkerService") -> None:
        """After a restart: run what we ran, from where the last committed event left off (files),
        so no frame is counted twice under the same epoch."""
        from campool_worker.pipeline.sources import parse_source

        for a in self.outbox.assignments():
            last = self.outbox.last_frame(a.camera.camera_id, a.epoch)
            try:
                kind = parse_source(a.camera.source)[0]
            except Exception:  # noqa: BLE001 - test:// and invalid sources: the slot reports them
                kind = "file" if a.camera.source.startswith("test://") else "other"
            if kind == "file" and last is not None:
                count_from = max(last + 1, a.count_from_frame or 0)
                a = StoredAssignment(a.camera, a.epoch, max(a.start_frame or 0, count_from - WARMUP_FRAMES), count_from,
                                     a.count_from_ts)
            elif kind != "file":  # a live stream restarts where it is now; the time cut still holds
                a = StoredAssignment(a.camera, a.epoch, None, None, a.count_from_ts)
            log.info("resuming camera %s at epoch %d", a.camera.camera_id, a.epoch)
            self._start_slot(a, persist=False)

    # ------------------------------------------------------------------ the rest

    def _on_set_preview(self: "WorkerService", msg: p.SetPreview, master_key: str) -> p.Message:
        slot = self.slots.get(msg.camera_id)
        if slot is None:
            return p.Error("unknown_camera", f"camera {msg.camera_id} is not assigned to this worker")
        slot.preview.enabled, slot.preview.width, slot.preview.fps = msg.enabled, msg.width, msg.fps
        return p.Ok()

    def _on_ack(self: "WorkerService", msg: p.AckCounts, master_key: str) -> p.Message:
        deleted = self.outbox.ack(msg.camera_id, msg.epoch, msg.up_to_seq)
        return p.AckReply(msg.camera_id, msg.epoch, msg.up_to_seq, deleted,
                          self.outbox.backlog().get(msg.camera_id, 0))

    def _on_resend(self: "WorkerService", msg: p.ResendCounts, master_key: str) -> p.Message:
        self.start_resend(msg.camera_id)
        return p.Ok()

    def _on_drain(self: "WorkerService", msg: p.Drain, master_key: str) -> p.Message:
        self.draining = msg.enabled
        self.outbox.set_meta("draining", "1" if msg.enabled else "0")
        self.state = "draining" if msg.enabled else "running"
        if not msg.enabled:
            return p.Ok("taking assignments again")
        stopped = list(self.slots)
        for camera_id in stopped:
            self._stop_slot(camera_id, forget=True)
        self._flush_crossings(force=True)
        log.info("draining: stopped %d camera(s)", len(stopped))
        return p.Ok(f"stopped {len(stopped)} camera(s)")

    def _check_model(self: "WorkerService", cam: CameraConfig) -> p.Message | None:
        if cam.model and cam.model.startswith("sha256:"):
            if not (self.models_dir / f"{cam.model[7:]}.onnx").exists():
                return p.Error("model", f"model {cam.model} is not on this worker; push it first")
        return None

    def _on_model_query(self: "WorkerService", msg: p.QueryModel, master_key: str) -> p.Message:
        return self._model_status(msg.sha256)

    def _model_status(self: "WorkerService", sha: str) -> p.ModelStatus:
        final = self.models_dir / f"{sha}.onnx"
        if final.exists():
            return p.ModelStatus(sha, final.stat().st_size, True, f"sha256:{sha}")
        part = self.models_dir / f"{sha}.part"
        return p.ModelStatus(sha, part.stat().st_size if part.exists() else 0, False, f"sha256:{sha}")

    def _on_model_chunk(self: "WorkerService", msg: p.PushModelChunk, master_key: str) -> p.Message:
        status = self._model_status(msg.sha256)
        if status.complete:
            return status
        if msg.offset != status.received:
            return p.Error("model", f"chunk at offset {msg.offset}, but the worker holds {status.received} bytes; "
                           "resume from there")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        part = self.models_dir / f"{msg.sha256}.part"
        with open(part, "ab") as fh:
            fh.write(msg.data)
        received = msg.offset + len(msg.data)
        if received < msg.size:
            return p.ModelStatus(msg.sha256, received, False, f"sha256:{msg.sha256}")
        digest = _sha256_file(part)
        if digest != msg.sha256:
            part.unlink()
            return p.Error("model", f"the model's sha256 is {digest}, not {msg.sha256}; it was dropped, send it again")
        os.replace(part, self.models_dir / f"{msg.sha256}.onnx")
        log.info("stored model sha256:%s (%d bytes)", msg.sha256, msg.size)
        return self._model_status(msg.sha256)


def _sha256_file(path: Any) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _redact(url: str) -> str:
    from campool_worker.pipeline.sources import redact_url

    return redact_url(url)
