"""The cameras this worker runs: one `CameraSlot` per assigned camera, kept across restarts.

`Assignments` is the only owner of the running slots. It keeps, through the outbox (SQLite),
what must survive a restart: each assignment, the highest epoch seen per camera (the fencing
rule refuses an epoch at or below it, see protocol/messages.py), and whether the worker is
draining. After a restart `resume` runs what ran before, from where its committed counts end.

A camera's URL may carry a password: the stored assignment keeps it masked and the secret goes
to `CameraSecrets` (a 0600 file, see camera_secrets.py); the running slot has the full URL, in
memory only. An assignment stored by an older worker with its password in the URL is moved
to that form when it is resumed.

A standby (issue #12) is a slot like any other, with its role kept in the stored assignment, so
a restarted worker resumes a standby as a standby, and a promoted one as the primary. It takes
what it really costs of the capacity: a primary or a hot standby one camera, a warm standby
`WARM_STANDBY_COST` (the stream and its ring, no detector; see harness/standby_bench.py). Each slot's
`CoverageTracker` is drained by the service loop (`coverage_updates`), the last spans of a
stopped slot included.

It decides nothing about the wire: the command handler (command_handler.py) applies the fencing rule
and answers the master; this object carries out what was decided. It runs on the service loop
thread, like the outbox it writes.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig
from campool_worker.camera_secrets import FILE_NAME, CameraSecrets
from campool_worker.camera_slot import TEST_SCHEME, CameraSlot
from campool_worker.coverage import SpanUpdate
from campool_worker.detect_governor import DetectGovernor, GovernedCamera
from campool_worker.outbox import Outbox, StoredAssignment
from campool_worker.pipeline.runner import WARMUP_FRAMES
from campool_worker.pipeline.sources import parse_source, redact_url
from campool_worker.protocol import CameraTelemetry
from campool_worker.url_secrets import MissingSecret

log = logging.getLogger(__name__)

SlotFactory = Callable[[StoredAssignment], CameraSlot]
SpanKey = tuple[str, int]  # (camera_id, epoch)


def cost_of(a: StoredAssignment) -> float:
    """What one assignment takes of the capacity (in cameras)."""
    return p.WARM_STANDBY_COST if a.warm else 1.0


class Assignments:
    def __init__(self, outbox: Outbox, capacity: int, make_slot: SlotFactory,
                 secrets: CameraSecrets | None = None) -> None:
        self._outbox = outbox
        self._secrets = secrets or CameraSecrets(Path(outbox.path).parent / FILE_NAME)
        self.capacity = capacity
        self._make_slot = make_slot
        self._slots: dict[str, CameraSlot] = {}
        self._draining = outbox.get_meta("draining") == "1"
        # The last spans of slots stopped since the last drain (their trackers are gone with them).
        self._retired: list[tuple[str, int, SpanUpdate]] = []
        self._governor = DetectGovernor()

    # ------------------------------------------------------------------ reading

    def get(self, camera_id: str) -> CameraSlot | None:
        return self._slots.get(camera_id)

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def full(self) -> bool:
        """No room for one more camera."""
        return not self.has_room(1.0)

    @property
    def load(self) -> float:
        """What the running slots take of the capacity, in cameras (a warm standby less than one)."""
        return sum(cost_of(slot.assignment) for slot in self._slots.values())

    def has_room(self, cost: float, replacing: str | None = None) -> bool:
        """Whether an assignment of this cost fits (in place of camera ``replacing``'s slot)."""
        load = self.load
        if replacing is not None and replacing in self._slots:
            load -= cost_of(self._slots[replacing].assignment)
        return load + cost <= self.capacity + 1e-9

    @property
    def draining(self) -> bool:
        return self._draining

    def epoch_seen(self, camera_id: str) -> int:
        """The highest epoch of this camera this worker has run or been told of; -1 if none."""
        value = self._outbox.get_meta(f"epoch:{camera_id}")
        seen = int(value) if value is not None else -1
        slot = self._slots.get(camera_id)
        return max(seen, slot.epoch) if slot is not None else seen

    def states(self) -> dict[str, str]:
        """Each running camera's runner state."""
        return {cid: slot.runner_status().state for cid, slot in list(self._slots.items())}

    def telemetry(self, commit_queued: Callable[[], Mapping[SpanKey, float]] | None = None) -> list[CameraTelemetry]:
        """Every camera's line in the heartbeat, by camera id, consistent per camera (see Live
        standby in protocol/): each runner's status (its ``frame_ts``) is noted first, then
        ``commit_queued`` commits every crossing the cameras have handed over (a runner hands a
        frame's crossings over before its status shows the frame), and only then is ``last_seq``
        read. ``commit_queued`` returns, per (camera, epoch), the time of the oldest crossing the
        outbox could not take (a full disk): frame_ts stays before it, those frames are not committed."""
        slots = sorted(self._slots.items())
        noted = [slot.runner_status() for _, slot in slots]
        held_from = commit_queued() if commit_queued is not None else {}
        backlog = self._outbox.backlog()
        out = []
        for (cid, slot), st in zip(slots, noted, strict=True):
            held = held_from.get((cid, slot.epoch))
            if held is not None and st.frame_ts >= held:
                st = replace(st, frame_ts=math.nextafter(held, -math.inf))
            out.append(slot.telemetry(self._outbox.last_seq(cid, slot.epoch), backlog.get(cid, 0), st))
        return out

    def govern(self, now: float) -> None:
        """Saturation by priority, once a heartbeat: lower or give back adaptive cameras' detector
        budgets from the frames the cameras dropped (detect_governor.py)."""
        slots = sorted(self._slots.items())
        cams = []
        for cid, slot in slots:
            st = slot.runner_status()
            cfg = slot.camera
            # adaptive by its settings, running or not yet: a camera still starting gives way in its
            # priority's turn (its runner takes the budget at its first frame)
            priority = "standby" if slot.role == "standby" else cfg.priority
            cams.append(GovernedCamera(cid, priority, cfg.detect_budget, cfg.detect_floor, int(st.dropped),
                                       cfg.detect_fps is None and cfg.detect == "adaptive"))
        allowed = self._governor.step(cams, now)
        for cid, slot in slots:
            slot.set_detect_allowance(allowed.get(cid))

    def coverage_updates(self) -> list[tuple[str, int, SpanUpdate]]:
        """What every camera watched since the last call (stopped ones' last spans first), for the
        outbox's spans. The caller must store them or hand them back (`coverage_retry`)."""
        out, self._retired = self._retired, []
        for cid, slot in sorted(self._slots.items()):
            out.extend((cid, slot.epoch, u) for u in slot.coverage.drain())
        return out

    def coverage_retry(self, updates: list[tuple[str, int, SpanUpdate]]) -> None:
        """Updates the outbox could not store (a full disk): told again, before newer ones, next time."""
        self._retired = updates + self._retired

    # ------------------------------------------------------------------ changing

    def note_epoch(self, camera_id: str, epoch: int) -> None:
        """Remember that this epoch of the camera exists (it only ever grows)."""
        value = self._outbox.get_meta(f"epoch:{camera_id}")
        seen = int(value) if value is not None else -1
        self._outbox.set_meta(f"epoch:{camera_id}", str(max(epoch, seen)))

    def start(self, assignment: StoredAssignment) -> CameraSlot:
        """Run a new assignment and keep it (a camera already running must be stopped first)."""
        camera_id = assignment.camera.camera_id
        if camera_id in self._slots:
            raise ValueError(f"camera {camera_id} already runs epoch {self._slots[camera_id].epoch}; stop it first")
        self._save(assignment)
        self.note_epoch(camera_id, assignment.epoch)
        return self._run(assignment)

    def _save(self, a: StoredAssignment) -> None:
        """Keep an assignment for a restart, its URL's secrets apart (camera_secrets.py)."""
        self._outbox.save_assignment(replace(a, camera=self._secrets.keep(a.camera)))

    def update(self, camera: CameraConfig) -> CameraSlot:
        """New settings for a running camera under its epoch."""
        slot = self._slots[camera.camera_id]
        slot.update(camera)
        self._save(slot.assignment)
        log.info("%s: settings updated", slot.ctx)
        return slot

    def promote(self, camera_id: str, count_from_ts: float) -> bool:
        """The standby of this camera becomes its epoch's primary, kept so a restart resumes it as
        the primary. False when it was the primary already (nothing changes)."""
        slot = self._slots[camera_id]
        if not slot.promote(count_from_ts):
            return False
        self._save(slot.assignment)
        return True

    def set_preview(self, camera_id: str, enabled: bool, width: int, fps: float) -> bool:
        """False when the camera does not run here."""
        slot = self._slots.get(camera_id)
        if slot is None:
            return False
        slot.set_preview(enabled, width, fps)
        return True

    def stop(self, camera_id: str, forget: bool = False) -> None:
        """Stop a camera; ``forget``: it is not ours any more (not resumed after a restart)."""
        slot = self._slots.pop(camera_id)
        slot.stop()
        self._retired.extend((camera_id, slot.epoch, u) for u in slot.coverage.drain())
        if forget:
            self._outbox.delete_assignment(camera_id)
            self._secrets.forget(camera_id)
        log.info("%s: stopped", slot.ctx)

    def set_draining(self, enabled: bool) -> int:
        """Drain (stop every camera, take no new one) or take assignments again. Returns how
        many cameras were stopped."""
        self._draining = enabled
        self._outbox.set_meta("draining", "1" if enabled else "0")
        if not enabled:
            return 0
        stopped = list(self._slots)
        for camera_id in stopped:
            self.stop(camera_id, forget=True)
        return len(stopped)

    def close(self) -> None:
        """The worker stops: stop every camera, keeping the assignments for the next start."""
        for slot in list(self._slots.values()):
            slot.stop()

    def resume(self) -> None:
        """After a restart: run what we ran, from where the last committed event left off (files),
        so no frame is counted twice under the same epoch."""
        for a in self._outbox.assignments():
            try:
                full = self._secrets.restore(a.camera)
            except MissingSecret as exc:
                log.error("camera %s: cannot resume epoch %d: %s (the worker's %s lost it); the master assigns "
                          "it again", a.camera.camera_id, a.epoch, exc, FILE_NAME)
                continue
            if full.source == a.camera.source and self._secrets.keep(full) != full:
                self._save(a)  # stored by an older worker with its password in the URL: keep it apart now
            a = replace(a, camera=full)
            last = self._outbox.last_frame(a.camera.camera_id, a.epoch)
            try:
                kind = parse_source(a.camera.source)[0]
            except Exception:  # noqa: BLE001 - test:// and invalid sources: the slot reports them
                kind = "file" if a.camera.source.startswith(TEST_SCHEME) else "other"
            # replace(): the role (a standby, hot or warm, or a promoted one) is resumed as it was.
            if kind == "file" and last is not None:
                count_from = max(last + 1, a.count_from_frame or 0)
                a = replace(a, start_frame=max(a.start_frame or 0, count_from - WARMUP_FRAMES),
                            count_from_frame=count_from)
            elif kind != "file":  # a live stream restarts where it is now; the time cut still holds
                a = replace(a, start_frame=None, count_from_frame=None)
            log.info("resuming camera %s at epoch %d%s", a.camera.camera_id, a.epoch,
                     f" as a {a.standby} standby" if a.role == "standby" else "")
            self._run(a)

    def _run(self, a: StoredAssignment) -> CameraSlot:
        slot = self._make_slot(a)
        self._slots[a.camera.camera_id] = slot
        log.info("%s: starting (source %s, start frame %s, count from %s)", slot.ctx, redact_url(a.camera.source),
                 a.start_frame, a.count_from_frame)
        slot.start()
        return slot
