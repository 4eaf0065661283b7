"""What the worker does for each command: assignments with epoch fencing, acks, drain, models.

`CommandHandler.handle` checks that the master is still trusted, then looks the message's type
up in one table (`CommandHandler.__init__`: ``p.AssignCamera -> assign`` ...) and answers with
a reply message. It runs on the service loop thread, so it may use the outbox freely. It
changes nothing itself: the cameras belong to `Assignments`, the models to `ModelStore`, the
counts to the `Outbox`, the sockets to the service (reached through `ServiceLoop`).

Live standby (issue #12, see protocol/): an `AssignCamera` with ``role="standby"`` runs a hot or
warm standby slot under its own epoch, fenced and replaced by a newer epoch like any assignment;
`PromoteCamera` makes it the primary of that epoch (a repeat is answered Ok and changes nothing).
"""
from __future__ import annotations

import errno
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from campool_worker import protocol as p
from campool_worker.assignments import Assignments, cost_of
from campool_worker.camera import CameraConfig
from campool_worker.camera_slot import CameraSlot
from campool_worker.errors import ModelError
from campool_worker.model_store import ModelPushError, ModelStore, StoredModel
from campool_worker.outbox import Outbox, OutboxWriteError, StoredAssignment
from campool_worker.security import AllowList
from campool_worker.segment_jobs import SegmentJobs

log = logging.getLogger(__name__)

MAX_REFUSED_KEYS = 1000  # revoked keys remembered for "log once"; past that they are refused unlogged
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})  # the disk refused a write
STORAGE_REFUSED_LOG_EVERY_S = 30.0  # commands refused for a full disk: one line at most this often
MAX_BUFFER_S = 120.0  # a warm standby's ring: ~0.4 MB of JPEGs a second at 10 detections/s


class ServiceLoop(Protocol):
    """What the commands need of the service loop (service.WorkerService)."""

    @property
    def pub_port(self) -> int: ...
    def status(self) -> p.WorkerStatus: ...
    def start_resend(self, camera_id: str | None) -> None: ...
    def commit_crossings(self) -> None: ...
    def alert(self, level: str, code: str, message: str, camera_id: str | None) -> None: ...
    def retell_notices(self) -> None: ...


Handler = Callable[[Any, str], p.Message]  # (the message, the master's key) -> the reply


class CommandHandler:
    def __init__(self, *, allow: AllowList, assignments: Assignments, models: ModelStore, outbox: Outbox,
                 service: ServiceLoop, segments: SegmentJobs | None = None) -> None:
        self._allow = allow
        self._segments = segments or SegmentJobs(models)
        self._assignments = assignments
        self._models = models
        self._outbox = outbox
        self._service = service
        self._refused_keys: set[str] = set()  # revoked masters whose commands were refused (logged once)
        self._storage_refusals = 0  # commands refused because the disk refused their write
        self._storage_refused_logged_at = -STORAGE_REFUSED_LOG_EVERY_S
        self._handlers: dict[type[p.Message], Handler] = {
            p.Hello: self.hello,
            p.GetStatus: self.status,
            p.AssignCamera: self.assign,
            p.PromoteCamera: self.promote,
            p.UpdateCamera: self.update,
            p.UnassignCamera: self.unassign,
            p.FenceCamera: self.fence,
            p.SetPreview: self.set_preview,
            p.AckCounts: self.ack,
            p.ResendCounts: self.resend,
            p.Drain: self.drain,
            p.QueryModel: self.query_model,
            p.PushModelChunk: self.push_model_chunk,
            p.RunSegment: self.run_segment,
            p.QuerySegment: self.query_segment,
            p.DropSegment: self.drop_segment,
        }

    def handle(self, msg: p.Message, master_key: str) -> p.Message:
        """The reply to one command from the master with this (CURVE) key."""
        # ZAP checks a key only at the handshake, so a master revoked while connected keeps its
        # session: ask the allow-list again for every command (it rereads masters.json on change).
        if master_key not in self._allow:
            return self._unauthorized(msg, master_key)
        self._refused_keys.discard(master_key)  # adopted again: a later revocation is news again
        handler = self._handlers.get(type(msg))
        if handler is None:
            return p.Error("unknown_type", f"this worker has no handler for {msg.TYPE!r} commands; "
                           "upgrade the worker to the master's version")
        try:
            return handler(msg, master_key)
        except OutboxWriteError as exc:  # a full disk refuses the command, not the worker
            return self._storage_refused(msg, exc)
        except OSError as exc:
            if exc.errno not in STORAGE_ERRNOS:
                raise
            return self._storage_refused(msg, exc)

    def _storage_refused(self, msg: p.Message, exc: OutboxWriteError | OSError) -> p.Message:
        """A command whose write the disk refused (an assignment, an epoch, an ack, a model chunk):
        a clear reply the master can act on (it retries, or places the camera elsewhere)."""
        reason = exc.reason if isinstance(exc, OutboxWriteError) else (exc.strerror or str(exc))
        where = getattr(exc, "filename", None) or "the worker's data folder"
        self._storage_refusals += 1
        now = time.monotonic()
        if now - self._storage_refused_logged_at >= STORAGE_REFUSED_LOG_EVERY_S:
            self._storage_refused_logged_at = now
            log.warning("refused %s: cannot write to %s (%s) [%d command(s) refused for the disk so far; the next "
                        "such line in %g s at the earliest]", msg.TYPE, where, reason, self._storage_refusals,
                        STORAGE_REFUSED_LOG_EVERY_S)
        return p.Error("storage", f"{msg.TYPE} failed: the worker cannot write to its disk ({reason}); free space "
                       "on the worker, then try again")

    def _unauthorized(self, msg: p.Message, master_key: str) -> p.Message:
        if master_key not in self._refused_keys:  # once per key: a revoked master may retry forever
            if len(self._refused_keys) < MAX_REFUSED_KEYS:
                self._refused_keys.add(master_key)
            log.warning("refused %s from master key %s: it is no longer trusted (revoked with `campool-worker "
                        "masters --remove` or removed from masters.json); its further commands are refused "
                        "without a log line each", msg.TYPE, master_key)
        return p.Error("unauthorized", "this master's key is no longer trusted by the worker (it was revoked); "
                       "adopt the worker again with a pairing code from `campool-worker pair`")

    # ------------------------------------------------------------------ session

    def hello(self, msg: p.Hello, master_key: str) -> p.Message:
        log.info("master %r (%s, key %s) says hello; resending %d unacked event(s)", msg.master_name[:40],
                 msg.master_id[:40], master_key[:8], self._outbox.counts()[0])
        self._service.start_resend(None)
        self._service.retell_notices()  # e.g. a damaged outbox at start, told before anyone listened
        return p.HelloReply(p.PROTOCOL_VERSION, self._service.pub_port, self._service.status())

    def status(self, msg: p.GetStatus, master_key: str) -> p.Message:
        return p.StatusReply(self._service.status())

    # ------------------------------------------------------------------ assignments

    def assign(self, msg: p.AssignCamera, master_key: str) -> p.Message:
        cam = msg.camera
        slot = self._assignments.get(cam.camera_id)
        seen = self._assignments.epoch_seen(cam.camera_id)
        wanted = StoredAssignment(cam, msg.epoch, msg.start_frame, msg.count_from_frame, msg.count_from_ts,
                                  msg.role, msg.standby, msg.buffer_s)
        if wanted.warm and not (math.isfinite(msg.buffer_s) and 0 < msg.buffer_s <= MAX_BUFFER_S):
            return p.Error("invalid", f"camera {cam.camera_id}: a warm standby keeps 0 < buffer_s <= {MAX_BUFFER_S:g} "
                           f"seconds of frames, not {msg.buffer_s}")
        if slot is not None and msg.epoch == slot.epoch:
            refused = self._same_epoch_role(slot, msg)
            if refused is not None:
                return refused
            if cam == slot.camera:
                return p.Ok("already running at this epoch")
            return self._update(slot, cam)
        if msg.epoch < seen or (slot is None and msg.epoch == seen):
            log.warning("camera %s: refused assignment at epoch %d, this worker has seen epoch %d", cam.camera_id,
                        msg.epoch, seen)
            return p.Fenced(cam.camera_id, msg.epoch, seen)
        if self._assignments.draining:
            return p.Error("draining", "this worker is draining; send Drain(enabled=False) first")
        if not self._assignments.has_room(cost_of(wanted), replacing=cam.camera_id):
            what = f"a {msg.standby} standby of camera" if msg.role == "standby" else "camera"
            return p.Error("capacity", f"this worker runs {self._assignments.load:g} camera(s), its capacity is "
                           f"{self._assignments.capacity} (a warm standby counts as a fraction); no room for "
                           f"{what} {cam.camera_id}")
        refused = self._check_model(cam)
        if refused:
            return refused
        if slot is not None:
            log.info("camera %s: epoch %d replaces epoch %d", cam.camera_id, msg.epoch, slot.epoch)
            self._assignments.stop(cam.camera_id)
        self._assignments.start(wanted)
        # Live cameras come first: segments that no longer fit beside it stop (the master reruns them).
        self._segments.make_room(self._assignments.capacity - self._assignments.load)
        role = f" as a {msg.standby} standby" if msg.role == "standby" else ""
        return p.Ok(f"camera {cam.camera_id} assigned at epoch {msg.epoch}{role}")

    def _same_epoch_role(self, slot: CameraSlot, msg: p.AssignCamera) -> p.Message | None:
        """An assignment under the epoch a slot already runs, in another role: a primary asserted
        over its standby is a promotion (a master re-asserting after a restart); anything else
        needs a new epoch. None: the roles agree, go on as for any same-epoch assignment."""
        a = slot.assignment
        if msg.role == a.role and (msg.role == "primary" or (msg.standby, msg.buffer_s) == (a.standby, a.buffer_s)):
            return None
        if msg.role == "primary" and a.role == "standby":
            self._assignments.promote(slot.camera.camera_id, msg.count_from_ts if msg.count_from_ts is not None
                                      else time.time())
            return p.Ok(f"camera {slot.camera.camera_id} epoch {slot.epoch}: promoted to primary")
        now = f"a {a.standby} standby" if a.role == "standby" else "the primary"
        return p.Error("invalid", f"camera {slot.camera.camera_id} runs epoch {slot.epoch} as {now}; another role or "
                       "standby mode needs a new epoch")

    def promote(self, msg: p.PromoteCamera, master_key: str) -> p.Message:
        """The standby at ``msg.epoch`` becomes the primary (see the module doc): Ok, also for a
        repeat; Fenced when this worker runs the camera under another epoch; Error otherwise."""
        slot = self._assignments.get(msg.camera_id)
        if slot is None:
            seen = self._assignments.epoch_seen(msg.camera_id)
            if msg.epoch < seen:
                return p.Fenced(msg.camera_id, msg.epoch, seen)
            return p.Error("unknown_camera", f"camera {msg.camera_id} is not assigned to this worker (no standby at "
                           f"epoch {msg.epoch} to promote); assign it first")
        if msg.epoch != slot.epoch:
            log.warning("%s: refused promotion of epoch %d", slot.ctx, msg.epoch)
            return p.Fenced(msg.camera_id, msg.epoch, slot.epoch)
        if not msg.count_from_ts > 0:
            return p.Error("invalid", f"camera {msg.camera_id}: count_from_ts must be a time on the worker's clock "
                           f"(seconds since 1970), not {msg.count_from_ts}")
        if slot.role == "primary":
            return p.Ok(f"camera {msg.camera_id} epoch {msg.epoch} is the primary already")
        warm = slot.assignment.warm
        self._assignments.promote(msg.camera_id, msg.count_from_ts)
        behind = time.time() - msg.count_from_ts
        return p.Ok(f"camera {msg.camera_id} epoch {msg.epoch} promoted to primary" + (
            f"; counting its buffered frames from {behind:.1f} s ago" if warm else ""))

    def update(self, msg: p.UpdateCamera, master_key: str) -> p.Message:
        slot = self._assignments.get(msg.camera.camera_id)
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

    def _update(self, slot: CameraSlot, camera: CameraConfig) -> p.Message:
        """A config change under the same epoch: the runner applies it between two frames, so
        nothing is counted twice and the seqs simply go on."""
        refused = self._check_model(camera)
        if refused:
            return refused
        self._assignments.update(camera)
        return p.Ok(f"camera {camera.camera_id} updated")

    def unassign(self, msg: p.UnassignCamera, master_key: str) -> p.Message:
        slot = self._assignments.get(msg.camera_id)
        if slot is None:
            return p.Ok("not running here")
        if msg.epoch < slot.epoch:
            return p.Fenced(msg.camera_id, msg.epoch, slot.epoch)
        self._assignments.stop(msg.camera_id, forget=True)
        return p.Ok(f"camera {msg.camera_id} stopped; {self._outbox.backlog().get(msg.camera_id, 0)} event(s) "
                    "still to ack")

    def fence(self, msg: p.FenceCamera, master_key: str) -> p.Message:
        self._assignments.note_epoch(msg.camera_id, msg.current_epoch)
        slot = self._assignments.get(msg.camera_id)
        if slot is None:
            return p.Ok("not running here")
        if slot.epoch > msg.epoch:
            return p.Fenced(msg.camera_id, msg.epoch, slot.epoch)
        log.warning("camera %s epoch %d: fenced by the master (now epoch %d elsewhere); stopping it", msg.camera_id,
                    slot.epoch, msg.current_epoch)
        self._assignments.stop(msg.camera_id, forget=True)
        self._service.alert("warning", "camera_fenced", f"camera {msg.camera_id}: epoch {slot.epoch} is stale (the "
                            f"master moved it to epoch {msg.current_epoch}); stopped here", msg.camera_id)
        return p.Ok("stopped")

    def drain(self, msg: p.Drain, master_key: str) -> p.Message:
        stopped = self._assignments.set_draining(msg.enabled)
        if not msg.enabled:
            return p.Ok("taking assignments again")
        self._service.commit_crossings()  # what the stopped cameras counted last is committed now
        log.info("draining: stopped %d camera(s)", stopped)
        return p.Ok(f"stopped {stopped} camera(s)")

    # ------------------------------------------------------------------ counts and previews

    def set_preview(self, msg: p.SetPreview, master_key: str) -> p.Message:
        if not self._assignments.set_preview(msg.camera_id, msg.enabled, msg.width, msg.fps):
            return p.Error("unknown_camera", f"camera {msg.camera_id} is not assigned to this worker")
        return p.Ok()

    def ack(self, msg: p.AckCounts, master_key: str) -> p.Message:
        deleted = self._outbox.ack(msg.camera_id, msg.epoch, msg.up_to_seq)
        if msg.spans_up_to > 0:  # the coverage spans go with the counts, acked with them
            self._outbox.ack_spans(msg.camera_id, msg.epoch, msg.spans_up_to)
        return p.AckReply(msg.camera_id, msg.epoch, msg.up_to_seq, deleted,
                          self._outbox.backlog().get(msg.camera_id, 0))

    def resend(self, msg: p.ResendCounts, master_key: str) -> p.Message:
        self._service.start_resend(msg.camera_id)
        return p.Ok()

    # ------------------------------------------------------------------ job segments

    def run_segment(self, msg: p.RunSegment, master_key: str) -> p.Message:
        """Count a stretch of a file this worker can read, with the slots the cameras leave free."""
        path = msg.camera.source
        if self._assignments.draining:
            return p.Error("draining", "this worker is draining; it takes no job segments")
        if path.startswith("sha256:"):  # a recording the master pushed here (stored like a model, by content)
            try:
                held = self._models.has(path)
            except ModelError as exc:
                return p.Error("invalid", f"job {msg.job_id}: {exc}")
            if not held:
                return p.Error("source", f"recording {path} is not on this worker; the master pushes it first")
        elif not os.path.isfile(path) or not os.access(path, os.R_OK):
            return p.Error("source", f"this worker cannot read {path!r}; the master sends the file's bytes instead")
        refused = self._check_model(msg.camera)
        if refused:
            return refused
        return self._segments.start(msg, self._assignments.capacity - self._assignments.load)

    def query_segment(self, msg: p.QuerySegment, master_key: str) -> p.Message:
        return self._segments.query(msg)

    def drop_segment(self, msg: p.DropSegment, master_key: str) -> p.Message:
        return self._segments.drop(msg)

    # ------------------------------------------------------------------ models

    def _check_model(self, cam: CameraConfig) -> p.Message | None:
        try:
            here = self._models.has(cam.model)
        except ModelError as exc:  # a malformed sha256: reference (the config check should have caught it)
            return p.Error("invalid", f"camera {cam.camera_id}: {exc}")
        if not here:
            return p.Error("model", f"model {cam.model} is not on this worker; push it first")
        return None

    def query_model(self, msg: p.QueryModel, master_key: str) -> p.Message:
        """Answered at once: a stored model not yet checked against its hash is checked on the model
        store's thread meanwhile, and the master is told to ask again (``busy``)."""
        return _model_reply(self._models.status(msg.sha256))

    def push_model_chunk(self, msg: p.PushModelChunk, master_key: str) -> p.Message:
        try:
            return _model_reply(self._models.append(msg.sha256, msg.size, msg.offset, msg.data))
        except ModelPushError as exc:
            return p.Error("model", str(exc))


def _model_reply(model: StoredModel) -> p.Message:
    if model.checking:
        return p.Error("busy", f"the worker is checking model sha256:{model.sha256} against its hash; "
                       "ask again (QueryModel) in a moment")
    return p.ModelStatus(model.sha256, model.received, model.complete, model.reference)
