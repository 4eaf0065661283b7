"""The pool core: every decision the master takes, as a pure state machine.

No sockets, no threads, no sleeping: inputs are method calls (a heartbeat arrived, an
assignment was refused, the operator pinned a camera, time passed: `tick()`), outputs
are queued and taken by the caller:
- `take_actions()`: commands to send to workers (SendAssign, SendUnassign, SendFence, ...);
- `take_records()`: facts to persist *before* the actions go out (a new lease and its
  epoch, the cut of an old one, alerts);
- `take_events()`: what changed, for subscribers (the Qt layer, the headless log).
master.py runs it on one pool thread and wires the queues to links and the store; the
unit tests drive it with a FakeClock.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace

from campool_worker import protocol as p
from campool_worker.camera import CountEvent

from .alerts import AlertManager, AlertRule
from .balance import BalanceSettings, LoadWatch, rebalance
from .clock import Clock
from .conditions import evaluate_alerts
from .failover import BreakerBoard, DeadLetter, RetryQueue, RetrySettings
from .fencing import EpochFence, Verdict
from .intents import IntentsMixin
from .models import Assignment, Camera, Cut, Worker, WorkerCapabilities, WorkerMetrics
from .scheduler import DEFAULT_POLICY, Move, make_policy, plan
from .actions import (Action, AlertSaved, CameraDeleted, CameraSaved, LeaseEnded, LeaseStarted, SendAssign,
                      SendDrain, SendFence, SendPreview, SendUnassign, SendUpdate, SettingSaved, WorkerDeleted,
                      WorkerSaved)
from .views import AlertChanged, CameraChanged, CountsChanged, WorkerChanged, WorkerRemoved

__all__ = ["Action", "AlertSaved", "CameraDeleted", "CameraSaved", "CoreSettings", "LeaseEnded", "LeaseStarted",
           "PoolCore", "SendAssign", "SendDrain", "SendFence", "SendPreview", "SendUnassign", "SendUpdate",
           "SettingSaved", "WorkerDeleted", "WorkerSaved"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreSettings:
    # A worker's liveness is judged by the heartbeat period it declares (protocol.liveness).
    startup_grace_s: float = 5.0      # after a master start, wait for workers before re-placing
    confirm_grace_s: float = 10.0     # an assigned camera must show up in heartbeats by then
    warmup_frames: int = 60           # tracker history replayed before the cut on a handover
    stream_fail_s: float = 30.0       # reconnecting this long on one worker counts as a failure
    fence_resend_s: float = 5.0
    policy: str = DEFAULT_POLICY


@dataclass
class _Dirty:
    workers: set[str] = field(default_factory=set)
    cameras: set[str] = field(default_factory=set)


class PoolCore(IntentsMixin):
    def __init__(self, clock: Clock, settings: CoreSettings | None = None, *,
                 rules: dict[str, AlertRule] | None = None, retry: RetrySettings | None = None,
                 balance: BalanceSettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or CoreSettings()
        self.workers: dict[str, Worker] = {}
        self.cameras: dict[str, Camera] = {}
        self.leases: dict[str, Assignment] = {}
        self.fence = EpochFence()
        self.breakers = BreakerBoard(clock, retry)
        self.retries = RetryQueue()
        self.dead: dict[str, DeadLetter] = {}
        self.unplaced: dict[str, str] = {}
        self.reasons: dict[str, str] = {}           # camera -> why it went where it is
        self.preparing: dict[str, str] = {}         # camera -> what its pending assignment waits for
        self.alerts = AlertManager(clock, rules)
        self.watch = LoadWatch(balance or BalanceSettings())
        self.policy = make_policy(self.settings.policy)
        self.previews: dict[str, tuple[int, float]] = {}
        self.counts: dict[str, dict[str, dict[str, int]]] = {}
        self.events_stored = 0
        self.events_fenced = 0
        self.started = clock.now()
        # camera -> (epoch, frame index of the previous heartbeat, of the last one)
        self._progress: dict[str, tuple[int, int, int]] = {}
        self._reconnecting: dict[str, float] = {}                # camera -> since
        self._fence_sent: dict[tuple[str, str, int], float] = {}
        self._backlog: dict[str, deque[tuple[float, int]]] = {}
        self._line_hits: dict[tuple[str, str], deque[float]] = {}
        self._last_balance = self.started
        self._offset_seeded: set[str] = set()
        self._fresh: set[str] = set()                            # next lease starts from scratch
        self._actions: list[Action] = []
        self._records: list[object] = []
        self._events: list[object] = []
        self._dirty = _Dirty()

    # ------------------------------------------------------------- queues

    def take_actions(self) -> list[Action]:
        out, self._actions = self._actions, []
        return out

    def _flush_alerts(self) -> None:
        for a in self.alerts.take_changed():
            self._records.append(AlertSaved(a))
            self._events.append(AlertChanged(a))

    def take_records(self) -> list[object]:
        self._flush_alerts()
        out, self._records = self._records, []
        return out

    def take_events(self) -> list[object]:
        """Deltas since the last call; worker and camera changes are coalesced here."""
        from .snapshot import camera_view, cameras_by_worker, worker_view
        self._flush_alerts()
        out, self._events = self._events, []
        if self._dirty.workers:
            held = cameras_by_worker(self)
            out.extend(WorkerChanged(worker_view(self, wid, held)) for wid in sorted(self._dirty.workers)
                       if wid in self.workers)
        out.extend(CameraChanged(camera_view(self, cid)) for cid in sorted(self._dirty.cameras)
                   if cid in self.cameras)
        self._dirty = _Dirty()
        return out

    def _touch_worker(self, wid: str) -> None:
        self._dirty.workers.add(wid)

    def _touch_camera(self, cid: str) -> None:
        self._dirty.cameras.add(cid)

    # ------------------------------------------------------------- restore

    def restore(self, *, workers: list[Worker], cameras: list[Camera], leases: list[Assignment],
                epochs: dict[str, int], cuts: list[Cut], last_frames: dict[tuple[str, int], int],
                counts: dict[str, dict[str, dict[str, int]]], alerts: list | None = None,
                settings: dict[str, str] | None = None) -> None:
        """Load what the store remembers; workers start offline until they heartbeat."""
        for w in workers:
            w.alive = False
            self.workers[w.worker_id] = w
        for c in cameras:
            self.cameras[c.camera_id] = c
        self.fence.current.update(epochs)
        for cut in cuts:
            self.fence.close(cut)
        self.fence.last_frame.update(last_frames)
        for a in leases:
            self.leases[a.camera_id] = a
        self.counts = counts
        if alerts:
            self.alerts.load(alerts)
        policy = (settings or {}).get("policy")
        if policy:
            try:
                self.policy = make_policy(policy)
            except ValueError:
                log.warning("stored placement policy %r is unknown; using %s", policy, self.policy.name)
        self.started = self.clock.now()

    # ------------------------------------------------------------- workers

    def upsert_worker(self, worker: Worker) -> None:
        """A worker record from the registry (adopted, discovered, address or key changed)."""
        old = self.workers.get(worker.worker_id)
        if old is not None:
            worker.alive, worker.last_heartbeat = old.alive, old.last_heartbeat
            worker.metrics, worker.history = old.metrics, old.history
            worker.camera_status, worker.clock_offset = old.camera_status, old.clock_offset
            worker.overloaded, worker.draining = old.overloaded, old.draining or worker.draining
        self.workers[worker.worker_id] = worker
        if worker.adopted:
            self._records.append(WorkerSaved(replace(worker)))
        self._touch_worker(worker.worker_id)

    def remove_worker(self, worker_id: str) -> None:
        w = self.workers.pop(worker_id, None)
        if w is None:
            return
        self.breakers.forget_worker(worker_id)
        self.watch.forget(worker_id)
        for cam in self.cameras.values():
            if cam.pin == worker_id:
                cam.pin = None
                self._records.append(CameraSaved(replace(cam)))
        self.alerts.forget_subject(worker_id)
        if w.adopted:
            self._records.append(WorkerDeleted(worker_id))
        self._events.append(WorkerRemoved(worker_id))

    def worker_hello(self, worker_id: str, status: p.WorkerStatus) -> None:
        """A link (re)connected and the worker answered Hello with its status: its cameras."""
        w = self.workers.get(worker_id)
        if w is None or not w.adopted:
            return
        # A reply proves the command channel, not the telemetry one: liveness stays with the
        # heartbeats (marking it alive here made a restarted worker flap online/offline while
        # its telemetry socket was still reconnecting).
        self._clock_sample(w, status.clock)
        self._declared(w, status)
        self._reconcile(w, w.camera_status)

    def heartbeat(self, worker_id: str, status: p.WorkerStatus) -> None:
        """A heartbeat of `worker_id` (the link's id: the trusted one, not the message's)."""
        w = self.workers.get(worker_id)
        if w is None or not w.adopted or w.key_conflict:
            log.debug("heartbeat from worker %s ignored (not adopted)", worker_id)
            return
        self._alive(w, status.clock)
        metrics = WorkerMetrics.of(status, self.clock.wall())
        w.metrics = metrics
        w.history.append(metrics)
        self._declared(w, status)
        self._reconcile(w, w.camera_status)
        if self.watch.update(w, self._targets(w), self.clock.now()):
            self._touch_worker(w.worker_id)
        q = self._backlog.setdefault(w.worker_id, deque())
        q.append((self.clock.now(), metrics.outbox_backlog))
        while q and q[0][0] < self.clock.now() - 120:
            q.popleft()
        self._touch_worker(w.worker_id)

    def _declared(self, w: Worker, status: p.WorkerStatus) -> None:
        """What every status declares: its heartbeat period, capacity, GPU and cameras."""
        if status.heartbeat_s != w.heartbeat_s:
            log.info("worker %s beats every %g s: dead after %g s of silence", w.worker_id, status.heartbeat_s,
                     p.dead_after_s(status.heartbeat_s))
            w.heartbeat_s = status.heartbeat_s
        w.capabilities = _merge_caps(w.capabilities, status.capacity, status.gpu)
        w.camera_status = {c.camera_id: c for c in status.cameras}

    def _alive(self, w: Worker, worker_clock: float | None) -> None:
        if not w.alive:
            log.info("worker %s is online", w.worker_id)
        w.alive = True
        w.last_heartbeat = self.clock.now()
        if worker_clock is not None:
            self._clock_sample(w, worker_clock)
        self._touch_worker(w.worker_id)

    def _clock_sample(self, w: Worker, worker_clock: float) -> None:
        sample = worker_clock - self.clock.wall()
        # smooth out network jitter; the first sample sets it
        if w.worker_id in self._offset_seeded:
            w.clock_offset = 0.8 * w.clock_offset + 0.2 * sample
        else:
            w.clock_offset = sample
            self._offset_seeded.add(w.worker_id)

    def _targets(self, w: Worker) -> dict[str, float | None]:
        return {cid: self.cameras[cid].target_fps if cid in self.cameras else None for cid in w.camera_status}

    def _reconcile(self, w: Worker, statuses: dict[str, p.CameraTelemetry]) -> None:
        now = self.clock.now()
        for cid, st in statuses.items():
            lease = self.leases.get(cid)
            cam = self.cameras.get(cid)
            if cam is not None and lease is not None and lease.worker_id == w.worker_id and st.epoch == lease.epoch:
                if lease.state != "failed":
                    self._own_status(cam, lease, st, now)
                continue  # a failed lease is superseded by its retry or its move
            if st.state in ("fenced", "stopped", "draining"):
                continue
            if cam is None:
                self._fence(w.worker_id, cid, st.epoch, st.epoch, now, unassign=True)
                continue
            cur = self.fence.epoch_of(cid)
            if st.epoch > cur:
                # The worker holds an epoch the master never issued (its record was lost):
                # jump past it so the next lease outranks it, and fence this one.
                log.warning("camera %s: worker %s runs epoch %d, newer than the master's %d",
                            cid, w.worker_id, st.epoch, cur)
                self.fence.current[cid] = st.epoch
                if lease is not None:
                    self._release(lease, "epoch conflict")
                self._fence(w.worker_id, cid, st.epoch, st.epoch + 1, now)
                continue
            if lease is not None and lease.worker_id == w.worker_id and now - lease.since < self.settings.confirm_grace_s:
                continue  # our newer assignment is on its way to it
            self._fence(w.worker_id, cid, st.epoch, cur, now)
        for cid, lease in list(self.leases.items()):
            if lease.worker_id != w.worker_id or cid in statuses or lease.state == "failed":
                continue
            if now - lease.since >= self.settings.confirm_grace_s:
                self._lease_failed(lease, f"worker {w.worker_id} does not run camera {cid}")

    def _own_status(self, cam: Camera, lease: Assignment, st: p.CameraTelemetry, now: float) -> None:
        cid = cam.camera_id
        prev = cam.status
        cam.status = st
        if st.frame_index >= 0:
            prev = self._progress.get(cid)
            if prev is None or prev[0] != st.epoch:
                self._progress[cid] = (st.epoch, st.frame_index, st.frame_index)
            elif st.frame_index != prev[2]:
                self._progress[cid] = (st.epoch, prev[2], st.frame_index)
        if st.state == "running":
            if lease.state != "active":
                lease.state = "active"
                log.info("camera %s running on worker %s (epoch %d)", cid, lease.worker_id, lease.epoch)
            self.breakers.success(cid, lease.worker_id)
            if self.dead.pop(cid, None) is not None:
                log.info("camera %s left the dead-letter list", cid)
            self._reconnecting.pop(cid, None)
        elif st.state == "failed" and lease.state != "failed":
            self._lease_failed(lease, st.last_error or "camera failed on the worker")
        elif st.state == "reconnecting":
            since = self._reconnecting.setdefault(cid, now)
            if now - since >= self.settings.stream_fail_s and lease.state != "failed":
                self._reconnecting.pop(cid, None)
                self._lease_failed(lease, st.last_error or f"stream down for {now - since:.0f} s")
        if prev != st:
            self._touch_camera(cid)

    def _fence(self, wid: str, cid: str, epoch: int, current: int, now: float, *, unassign: bool = False) -> None:
        key = (wid, cid, epoch)
        if now - self._fence_sent.get(key, float("-inf")) < self.settings.fence_resend_s:
            return
        self._fence_sent[key] = now
        log.info("camera %s: worker %s runs stale epoch %d (current %d); fencing it", cid, wid, epoch, current)
        if unassign:
            self._actions.append(SendUnassign(wid, cid, epoch))
        else:
            self._actions.append(SendFence(wid, cid, epoch, current))

    # ------------------------------------------------------------- command results

    def assign_progress(self, camera_id: str, worker_id: str, epoch: int, note: str) -> None:
        """An assignment is still being prepared (its model is being copied to the worker): the
        worker cannot run the camera yet, so its confirm grace starts again, and the operator
        sees why it waits."""
        lease = self.leases.get(camera_id)
        if lease is None or lease.epoch != epoch or lease.worker_id != worker_id or lease.state != "pending":
            return
        lease.since = self.clock.now()
        if self.preparing.get(camera_id) != note:
            self.preparing[camera_id] = note
            self._touch_camera(camera_id)

    def assign_result(self, camera_id: str, worker_id: str, epoch: int, ok: bool, error: str = "",
                      current_epoch: int | None = None) -> None:
        lease = self.leases.get(camera_id)
        if lease is None or lease.epoch != epoch or lease.worker_id != worker_id:
            return  # a reply to an assignment that is already history
        if ok:
            return  # running is confirmed by the heartbeat
        w = self.workers.get(worker_id)
        if current_epoch is not None:
            log.warning("camera %s: worker %s holds epoch %d, newer than ours (%d); re-issuing",
                        camera_id, worker_id, current_epoch, epoch)
            self.fence.current[camera_id] = max(self.fence.epoch_of(camera_id), current_epoch)
            self._release(lease, "epoch conflict")
            return
        if w is None or not w.alive:
            return  # the worker died: liveness moves the camera, it is not this pair's fault
        self._lease_failed(lease, error or "assignment refused")

    def _lease_failed(self, lease: Assignment, error: str) -> None:
        cid, wid = lease.camera_id, lease.worker_id
        lease.state = "failed"
        delay = self.breakers.failure(cid, wid, error)
        if delay is not None:
            self.retries.hold(cid, wid, self.clock.now() + delay)
        self._touch_camera(cid)

    def _release(self, lease: Assignment, reason: str) -> None:
        """Mark a lease failed without blaming the pair, so the planner places it again."""
        lease.state = "failed"
        self.retries.drop(lease.camera_id)
        self.reasons[lease.camera_id] = reason
        self._touch_camera(lease.camera_id)

    # ------------------------------------------------------------- count events

    def judge(self, events: list[CountEvent]) -> list[Verdict]:
        return [self.fence.judge(ev) for ev in events]

    def stored(self, events: list[CountEvent], verdicts: list[Verdict], inserted: list[bool]) -> None:
        """The store inserted these (inserted[i] False: a duplicate it already had)."""
        by_cam: dict[str, list[CountEvent]] = {}
        now = self.clock.now()
        for ev, verdict, new in zip(events, verdicts, inserted):
            if not new:
                continue
            if verdict is Verdict.FENCED:
                self.events_fenced += 1
                cam = self.cameras.get(ev.camera_id)
                if cam is not None:
                    cam.fenced += 1
                    self._touch_camera(ev.camera_id)
                continue
            self.events_stored += 1
            line = self.counts.setdefault(ev.camera_id, {}).setdefault(ev.line, {"in": 0, "out": 0})
            line[ev.direction] = line.get(ev.direction, 0) + 1
            self._line_hits.setdefault((ev.camera_id, ev.line), deque()).append(now)
            by_cam.setdefault(ev.camera_id, []).append(ev)
        for cid, evs in by_cam.items():
            snapshot = {ln: dict(v) for ln, v in self.counts.get(cid, {}).items()}
            self._events.append(CountsChanged(cid, snapshot, tuple(evs)))

    # ------------------------------------------------------------- time passes

    def tick(self) -> None:
        now = self.clock.now()
        for w in self.workers.values():
            if w.alive and w.last_heartbeat is not None and now - w.last_heartbeat > w.dead_after_s:
                w.alive = False
                w.overloaded = False
                log.warning("worker %s: no heartbeat for %.1f s (it beats every %g s): offline; its cameras move",
                            w.worker_id, now - w.last_heartbeat, w.heartbeat_s)
                self.alerts.repeat("worker_down", w.worker_id,
                                   f"worker {w.name or w.worker_id} is down (no heartbeat for "
                                   f"{now - w.last_heartbeat:.1f} s)")
                self._touch_worker(w.worker_id)
                for lease in self.leases.values():
                    if lease.worker_id == w.worker_id:
                        self._touch_camera(lease.camera_id)
        for cid, wid in self.retries.ready(now):
            cam, w = self.cameras.get(cid), self.workers.get(wid)
            lease = self.leases.get(cid)
            if cam is None or lease is None:
                continue
            if w is not None and w.usable:
                self._start_lease(cam, wid, "retry")
            else:
                self._release(lease, "worker gone before the retry")
        self._place(now)
        if now - self._last_balance >= self.watch.settings.interval_s and not self._in_grace(now):
            self._last_balance = now
            settled = {cid for cid, a in self.leases.items() if a.state == "active"}
            placement = {cid: a.worker_id for cid, a in self.leases.items() if a.state != "failed"}
            for mv in rebalance(self.cameras, self.workers, placement, self.policy, self.watch, now,
                                self.breakers.blocked, settled):
                self._apply(mv)
        evaluate_alerts(self, now)

    def _in_grace(self, now: float) -> bool:
        return now - self.started < self.settings.startup_grace_s

    def _place(self, now: float) -> None:
        held = self.retries.held()
        placement = {cid: a.worker_id for cid, a in self.leases.items() if a.state != "failed"}
        if self._in_grace(now):
            # after a restart the workers have not all spoken yet: leave the cameras of those
            # not heard from alone (they are probably still counting)
            held |= {cid for cid, a in self.leases.items() if a.state != "failed"
                     and not (a.worker_id in self.workers and self.workers[a.worker_id].alive)}
        result = plan(self.cameras.values(), self.workers.values(), placement, self.policy,
                      self.breakers.blocked, held)
        for mv in result.moves:
            self._apply(mv)
        for cid in list(self.unplaced):
            if cid not in result.unplaced:
                del self.unplaced[cid]
                self._touch_camera(cid)
        for cid, why in result.unplaced.items():
            if self.unplaced.get(cid) != why:
                self.unplaced[cid] = why
                log.warning("camera %s has no worker: %s", cid, why)
                self._touch_camera(cid)
            if "breakers" in why and cid not in self.dead:
                self.dead[cid] = DeadLetter(cid, self.clock.wall(), self.breakers.errors(cid))
                log.error("camera %s failed on every worker; dead-lettered: %s", cid, self.dead[cid].errors)

    def _apply(self, mv: Move) -> None:
        cam = self.cameras[mv.camera_id]
        self.reasons[mv.camera_id] = mv.reason
        if mv.target is None:
            lease = self.leases.pop(mv.camera_id, None)
            if lease is not None:
                self._end_lease(cam, lease)
            log.info("camera %s stopped (%s)", mv.camera_id, mv.reason)
            self._touch_camera(mv.camera_id)
            return
        self._start_lease(cam, mv.target, mv.reason)

    def _cut(self, cam: Camera, lease: Assignment) -> Cut:
        cid = cam.camera_id
        if cam.seekable:
            # Cut at the frame of the heartbeat before the last one: a crossing the worker
            # found just before its last heartbeat may not have been committed and sent when
            # it died; the new holder recounts from here. Frames whose events the master
            # already stored are never cut away (cut_frame_for), so nothing is counted twice.
            reported = -1
            prog = self._progress.get(cid)
            if prog is not None and prog[0] == lease.epoch:
                reported = prog[1]
            floor = lease.count_from_frame or 0
            return Cut(cid, lease.epoch, frame=max(self.fence.cut_frame_for(cid, reported), floor),
                       wall=self.clock.wall())
        # A live stream is cut by time (protocol: live handover): now, in the old worker's clock.
        w = self.workers.get(lease.worker_id)
        wall = self.clock.wall()
        return Cut(cid, lease.epoch, ts=wall + (w.clock_offset if w else 0.0), wall=wall)

    def _end_lease(self, cam: Camera, lease: Assignment) -> Cut:
        cut = self._cut(cam, lease)
        self.fence.close(cut)
        self._records.append(LeaseEnded(cam.camera_id, lease.epoch, cut.wall or self.clock.wall(), cut))
        w = self.workers.get(lease.worker_id)
        if w is not None and w.alive:
            self._actions.append(SendUnassign(lease.worker_id, cam.camera_id, lease.epoch))
        log.info("camera %s: epoch %d on worker %s ends at %s", cam.camera_id, lease.epoch, lease.worker_id,
                 f"frame {cut.frame}" if cut.frame is not None else f"ts {cut.ts:.3f}")
        return cut

    def _start_lease(self, cam: Camera, worker_id: str, reason: str) -> None:
        cid = cam.camera_id
        now = self.clock.now()
        old = self.leases.pop(cid, None)
        cut = self._end_lease(cam, old) if old is not None else self.fence.cuts.get((cid, self.fence.epoch_of(cid)))
        if old is not None and old.worker_id == worker_id:
            # same worker, newer epoch: the assignment itself supersedes the old one there
            self._actions = [a for a in self._actions
                             if not (isinstance(a, SendUnassign) and a.camera_id == cid and a.epoch == old.epoch)]
        start = count_from = None
        count_from_ts = None
        if cid in self._fresh:
            self._fresh.discard(cid)
        elif cam.seekable and cut is not None and cut.frame:
            count_from = cut.frame
            start = max(0, cut.frame - self.settings.warmup_frames)
        elif not cam.seekable and cut is not None and cut.wall is not None:
            # the same instant in the new worker's clock: it reports nothing from before the cut
            target = self.workers.get(worker_id)
            count_from_ts = cut.wall + (target.clock_offset if target is not None else 0.0)
        epoch = self.fence.epoch_of(cid) + 1
        self.fence.begin(cid, epoch)
        lease = Assignment(cid, worker_id, epoch, since=now, start_frame=start, count_from_frame=count_from,
                           count_from_ts=count_from_ts, started_wall=self.clock.wall())
        self.leases[cid] = lease
        self.retries.drop(cid)
        self.unplaced.pop(cid, None)
        cam.last_moved = now
        cam.status = None
        self._reconnecting.pop(cid, None)
        self._records.append(LeaseStarted(replace(lease), reason))
        self.preparing.pop(cam.camera_id, None)
        self._actions.append(SendAssign(worker_id, cam.config, epoch, start, count_from, count_from_ts))
        if cid in self.previews:
            width, fps = self.previews[cid]
            self._actions.append(SendPreview(worker_id, cid, True, width, fps))
        log.info("camera %s -> worker %s, epoch %d (%s; start %s, count from %s)", cid, worker_id, epoch,
                 reason, start, count_from)
        self._touch_camera(cid)
        self._touch_worker(worker_id)
        if old is not None:
            self._touch_worker(old.worker_id)

    def snapshot(self):
        from .snapshot import build_snapshot
        return build_snapshot(self)


def _merge_caps(caps: WorkerCapabilities, capacity: int | None, gpu: str | None) -> WorkerCapabilities:
    """The worker reports capacity and GPU; site, groups and models stay as configured."""
    kw: dict = {}
    if capacity is not None and capacity > 0:
        kw["capacity"] = capacity
    if gpu is not None:
        kw["gpu"], kw["gpu_name"] = bool(gpu), gpu
    return replace(caps, **kw) if kw else caps
