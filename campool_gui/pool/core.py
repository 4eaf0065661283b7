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

Live standby (issue #12): a live camera whose standby is hot or warm (CameraConfig.standby; unset:
hot for a critical camera when a second worker can run it) gets a second lease on another worker
under its own epoch, counted against that worker's capacity by its cost. `Shadows` (standby.py)
judges its events (shadowed or held while the primary counts) and keeps the primary's watermark;
when the primary is lost (dead, failed or fenced, its stream down while the standby's runs, its
worker draining) and the standby is watching, the standby is promoted at the cut (`_promote`).
`take_replay()` hands back events the core held in memory, to be judged and stored like new ones.

Who owns what: `PoolState` (state.py) is the picture, `Effects` (effects.py) the queues,
`Conditions` (conditions.py) the alert conditions and their rate windows, `AlertManager`
the alerts, `BreakerBoard` the per-pair failures, `LoadWatch` the overload hysteresis. The
core holds them and takes the decisions; views are built from the state by snapshot.py.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent, LineCounts

from .actions import (
    Action,
    AlertSaved,
    CameraDeleted,
    CameraSaved,
    LeaseEnded,
    LeaseStarted,
    Record,
    SendAssign,
    SendDrain,
    SendFence,
    SendPreview,
    SendPromote,
    SendResend,
    SendUnassign,
    SendUpdate,
    SettingSaved,
    StandbyPromoted,
    WorkerDeleted,
    WorkerSaved,
)
from .alerts import Alert, AlertManager, AlertRule
from .balance import BalanceSettings, LoadWatch, rebalance
from .clock import Clock
from .conditions import Conditions
from .effects import Effects
from .failover import BreakerBoard, DeadLetter, RetrySettings
from .fencing import EpochFence, Verdict
from .models import Assignment, Camera, Cut, Worker, WorkerCapabilities, WorkerMetrics
from .scheduler import DEFAULT_POLICY, ROOM_EPSILON, Move, can_run, capability_penalty, make_policy, plan, site_penalty
from .snapshot import build_snapshot, camera_view, worker_view
from .standby import Shadows, effective_standby
from .state import PoolState
from .views import (
    AlertChanged,
    CameraChanged,
    CameraRemoved,
    CountsChanged,
    PoolEvent,
    PoolSnapshot,
    WorkerChanged,
    WorkerRemoved,
)

__all__ = ["Action", "AlertSaved", "CameraDeleted", "CameraSaved", "CoreSettings", "LeaseEnded", "LeaseStarted",
           "PoolCore", "SendAssign", "SendDrain", "SendFence", "SendPreview", "SendUnassign", "SendUpdate",
           "SettingSaved", "WorkerDeleted", "WorkerSaved"]

log = logging.getLogger(__name__)

MASTERS_SEEN = "masters_seen."   # + worker id: the setting that keeps a worker's known master keys
# + camera id: the operator's standby worker for it (a setting like masters_seen: no schema change)
STANDBY_PIN = "standby_pin."


@dataclass(frozen=True)
class CoreSettings:
    # A worker's liveness is judged by the heartbeat period it declares (protocol.liveness).
    startup_grace_s: float = 5.0      # after a master start, wait for workers before re-placing
    confirm_grace_s: float = 10.0     # an assigned camera must show up in heartbeats by then
    warmup_frames: int = 60           # tracker history replayed before the cut on a handover
    stream_fail_s: float = 30.0       # reconnecting this long on one worker counts as a failure
    fence_resend_s: float = 5.0
    policy: str = DEFAULT_POLICY
    # Live standby (issue #12). What a standby costs its worker, in cameras: a hot one runs the whole
    # pipeline (one camera); a warm one decodes and keeps frames without the detector: the measured
    # figure both ends count by (protocol WARM_STANDBY_COST; a worker refuses past it).
    standby_hot_cost: float = 1.0
    standby_warm_cost: float = p.WARM_STANDBY_COST
    standby_buffer_s: float = 10.0    # a warm standby keeps this many seconds of recent frames
    # The primary's stream down this long while its standby's runs: the standby takes over (a blip
    # of a second or two is the primary reconnecting, not a reason to move).
    standby_stream_s: float = 3.0


# Frames a hot or warm standby must have taken in since its primary lost the stream before it is
# promoted for that loss: a reader still holds a few frames when the stream itself dies.
STANDBY_WATCHING_FRAMES = 10


class PoolCore:
    """The master's decisions over a `PoolState`.

    The operator's intents (add_camera ... set_preview) are methods here rather than an object
    of their own: they own no state, and each one changes the picture and ends or releases
    leases through the same lease steps the failover uses (`_end_lease`, `_release`), so a
    separate intents object would need the core's whole inside (state, effects, breakers,
    lease steps) and reach into it from another file.
    """

    def __init__(self, clock: Clock, settings: CoreSettings | None = None, *,
                 rules: dict[str, AlertRule] | None = None, retry: RetrySettings | None = None,
                 balance: BalanceSettings | None = None, own_key: str = "") -> None:
        self.clock = clock
        # This master's CURVE public key: its own entry in a worker's masters is no news.
        self.own_key = own_key
        self.settings = settings or CoreSettings()
        self.state = PoolState(started=clock.now())
        self.effects = Effects()
        self.alerts = AlertManager(clock, rules)
        self.conditions = Conditions(self.alerts, self.settings.startup_grace_s)
        self.breakers = BreakerBoard(clock, retry)
        self.watch = LoadWatch(balance or BalanceSettings())
        self.policy = make_policy(self.settings.policy)
        # The core's own memory for its decisions (not part of the picture):
        # camera -> (epoch, frame index of the previous heartbeat, of the last one)
        self._progress: dict[str, tuple[int, int, int]] = {}
        self._reconnecting: dict[str, float] = {}                # camera -> since
        # camera -> (since, standby epoch, standby frame index) when its primary's stream went down:
        # the standby is promoted for a stream loss only if it has seen frames since (else the
        # stream is down for everyone and its "running" is only its read timeout not yet spent)
        self._standby_at_loss: dict[str, tuple[float, int, int]] = {}
        self._fence_sent: dict[tuple[str, str, int], float] = {}
        self._offset_seeded: set[str] = set()                    # workers whose clock offset has a sample
        self._fresh: set[str] = set()                            # next lease starts from scratch
        self.shadows = Shadows()                                 # standby events, watermarks, the cut
        self._primary_down: dict[str, float] = {}                # camera -> since its primary's stream is down
        self._replay: list[tuple[str, list[CountEvent]]] = []    # (worker, events) to judge and store again
        self._standby_hold: dict[tuple[str, str], float] = {}    # (camera, worker) -> no standby there before
        self._last_balance = self.state.started

    # ------------------------------------------------------------- read access

    @property
    def workers(self) -> dict[str, Worker]:
        return self.state.workers

    @property
    def fence(self) -> EpochFence:
        return self.state.fence

    @property
    def counts(self) -> dict[str, dict[str, LineCounts]]:
        return self.state.counts

    # ------------------------------------------------------------- queues

    def take_actions(self) -> list[Action]:
        return self.effects.take_actions()

    def take_records(self) -> list[Record]:
        self._flush_alerts()
        return self.effects.take_records()

    def take_replay(self) -> list[tuple[str, list[CountEvent]]]:
        """Count events to judge and store as if ``worker`` had just sent them: a promoted standby's
        held events (the master holds them in memory, not stored nor acked, until the promotion)."""
        out, self._replay = self._replay, []
        return out

    def take_events(self) -> list[PoolEvent]:
        """Deltas since the last call; worker and camera changes are coalesced here."""
        self._flush_alerts()
        out, workers, cameras = self.effects.take_events()
        st = self.state
        if workers:
            held = st.cameras_by_worker()
            now, wall = self.clock.now(), self.clock.wall()
            out.extend(WorkerChanged(worker_view(st, wid, now=now, wall=wall, held=held, own_key=self.own_key,
                                                 shadows=self.shadows))
                       for wid in workers if wid in st.workers)
        out.extend(CameraChanged(camera_view(st, cid, self.breakers.errors, self.shadows))
                   for cid in cameras if cid in st.cameras)
        return out

    def snapshot(self) -> PoolSnapshot:
        return build_snapshot(self.state, now=self.clock.now(), wall=self.clock.wall(), policy=self.policy.name,
                              errors_of=self.breakers.errors, open_alerts=self.alerts.open_alerts(),
                              all_alerts=list(self.alerts.alerts.values()), own_key=self.own_key,
                              shadows=self.shadows)

    def _flush_alerts(self) -> None:
        for a in self.alerts.take_changed():
            self.effects.record(AlertSaved(a))
            self.effects.emit(AlertChanged(a))
            self._journal_alert(a)

    def _journal_alert(self, a: Alert) -> None:
        if a.subject not in self.state.workers:
            return
        wall = a.raised_at if a.state == "raised" else self.clock.wall()
        if self.state.journal(a.subject).saw_alert(a.id, a.state, a.message, wall):
            self.effects.touch_worker(a.subject)

    def _note(self, worker_id: str, text: str) -> None:
        """A line in the worker's journal (its event log in the UI)."""
        if worker_id in self.state.workers:
            self.state.journal(worker_id).note(self.clock.wall(), text)
            self.effects.touch_worker(worker_id)

    def _note_state(self, w: Worker) -> None:
        if self.state.journal(w.worker_id).saw_state(w.state, self.clock.wall(), w.last_error):
            self.effects.touch_worker(w.worker_id)

    # ------------------------------------------------------------- restore

    def restore(self, *, workers: list[Worker], cameras: list[Camera], leases: list[Assignment],
                epochs: dict[str, int], cuts: list[Cut], last_frames: dict[tuple[str, int], int],
                counts: dict[str, dict[str, LineCounts]], alerts: list[Alert] | None = None,
                settings: dict[str, str] | None = None, standbys: list[Assignment] | None = None,
                issued: dict[str, int] | None = None, floors: dict[tuple[str, int], float] | None = None) -> None:
        """Load what the store remembers; workers start offline until they heartbeat.

        epochs: camera -> its primary's epoch; issued: camera -> the highest epoch issued (a standby's
        may be above the primary's); floors: (camera, epoch) -> the cut of a promoted standby."""
        st = self.state
        now = self.clock.now()
        for w in workers:
            w.alive = False
            w.known_since = now
            st.workers[w.worker_id] = w
        for c in cameras:
            st.cameras[c.camera_id] = c
        st.fence.current.update(epochs)
        for cut in cuts:
            st.fence.close(cut)
        st.fence.last_frame.update(last_frames)
        st.fence.issued.update(issued or {})
        st.fence.floors.update(floors or {})
        for a in leases:
            st.leases[a.camera_id] = a
            self.shadows.primary_is(a.camera_id, a.epoch)
        for a in standbys or []:
            if a.camera_id in st.leases and a.epoch > st.leases[a.camera_id].epoch:
                st.standbys[a.camera_id] = a
                self.shadows.standby_is(a.camera_id, a.epoch)
        st.counts = counts
        if alerts:
            self.alerts.load(alerts)
        for key, value in (settings or {}).items():
            known = st.workers.get(key[len(MASTERS_SEEN):]) if key.startswith(MASTERS_SEEN) else None
            if known is not None and value:
                try:
                    known.masters_seen = frozenset(str(k) for k in json.loads(value))
                except (ValueError, TypeError):
                    log.warning("stored master keys of worker %s are unreadable; its next status is the new "
                                "baseline", known.worker_id)
            if key.startswith(STANDBY_PIN) and value and key[len(STANDBY_PIN):] in st.cameras:
                st.cameras[key[len(STANDBY_PIN):]].standby_pin = value
        policy = (settings or {}).get("policy")
        if policy:
            try:
                self.policy = make_policy(policy)
            except ValueError:
                log.warning("stored placement policy %r is unknown; using %s", policy, self.policy.name)
        st.started = now
        for w in workers:
            self._note_state(w)

    # ------------------------------------------------------------- workers

    def upsert_worker(self, worker: Worker) -> None:
        """A worker record from the registry (adopted, discovered, address or key changed)."""
        old = self.state.workers.get(worker.worker_id)
        if old is not None:
            worker.alive, worker.last_heartbeat = old.alive, old.last_heartbeat
            worker.metrics, worker.history = old.metrics, old.history
            worker.camera_status, worker.clock_offset = old.camera_status, old.clock_offset
            worker.overloaded, worker.draining = old.overloaded, old.draining or worker.draining
            worker.known_since, worker.started_wall = old.known_since, old.started_wall
            worker.masters, worker.masters_seen = old.masters, old.masters_seen
        if not worker.adopted:
            worker.known_since = None
        elif worker.known_since is None:
            worker.known_since = self.clock.now()   # a never-heard worker is judged from now on
        self.state.workers[worker.worker_id] = worker
        if worker.adopted:
            self.effects.record(WorkerSaved(replace(worker)))
        self.effects.touch_worker(worker.worker_id)
        self._note_state(worker)

    def remove_worker(self, worker_id: str) -> None:
        st = self.state
        w = st.workers.pop(worker_id, None)
        if w is None:
            return
        st.journals.pop(worker_id, None)
        self.breakers.forget_worker(worker_id)
        self.watch.forget(worker_id)
        self.conditions.forget_worker(worker_id)
        self._offset_seeded.discard(worker_id)
        for cam in st.cameras.values():
            if cam.pin == worker_id:
                cam.pin = None
                self.effects.record(CameraSaved(replace(cam)))
            if cam.standby_pin == worker_id:
                cam.standby_pin = None
                self.effects.record(SettingSaved(STANDBY_PIN + cam.camera_id, ""))
        self.alerts.forget_subject(worker_id)
        if w.adopted:
            self.effects.record(WorkerDeleted(worker_id))
        if w.masters_seen is not None:
            self.effects.record(SettingSaved(MASTERS_SEEN + worker_id, ""))
        self.effects.emit(WorkerRemoved(worker_id))

    def worker_hello(self, worker_id: str, status: p.WorkerStatus) -> None:
        """A link (re)connected and the worker answered Hello with its status: its cameras."""
        w = self.state.workers.get(worker_id)
        if w is None or not w.adopted:
            return
        # A reply proves the command channel, not the telemetry one: liveness stays with the
        # heartbeats (marking it alive here made a restarted worker flap online/offline while
        # its telemetry socket was still reconnecting).
        self._clock_sample(w, status.clock)
        if w.incompatible:  # it answered in our version: upgraded
            w.last_error = w.incompatible = ""
        self._declared(w, status)
        self._reconcile(w, w.camera_status)
        self._note_state(w)

    def worker_incompatible(self, worker_id: str, text: str) -> None:
        """Its link heard it speak another protocol version (``text`` says which end to upgrade): on its
        card and in an alert until a hello is answered in ours."""
        w = self.state.workers.get(worker_id)
        if w is None or w.incompatible == text:
            return
        w.incompatible = w.last_error = text
        self._note(worker_id, text)
        self._note_state(w)

    def heartbeat(self, worker_id: str, status: p.WorkerStatus) -> None:
        """A heartbeat of `worker_id` (the link's id: the trusted one, not the message's)."""
        w = self.state.workers.get(worker_id)
        if w is None or not w.adopted or w.key_conflict:
            log.debug("heartbeat from worker %s ignored (not adopted)", worker_id)
            return
        now = self.clock.now()
        self._alive(w, status.clock)
        metrics = WorkerMetrics.of(status, self.clock.wall())
        w.metrics = metrics
        w.history.append(metrics)
        self._declared(w, status)
        self._reconcile(w, w.camera_status)
        self.watch.update(w, self._targets(w), now)
        self.conditions.backlog_seen(w.worker_id, now, metrics.outbox_backlog)
        self.effects.touch_worker(w.worker_id)
        self._note_state(w)

    def _declared(self, w: Worker, status: p.WorkerStatus) -> None:
        """What every status declares: its heartbeat period, uptime, capacity, GPU and cameras."""
        if status.heartbeat_s != w.heartbeat_s:
            log.info("worker %s beats every %g s: dead after %g s of silence", w.worker_id, status.heartbeat_s,
                     p.dead_after_s(status.heartbeat_s))
            w.heartbeat_s = status.heartbeat_s
        w.started_wall = self.clock.wall() - status.uptime_s
        w.capabilities = _merge_caps(w.capabilities, status.capacity, status.gpu)
        w.camera_status = {c.camera_id: c for c in status.cameras}
        w.storage = status.storage
        self._masters_declared(w, status.masters)

    def _masters_declared(self, w: Worker, masters: list[p.MasterInfo]) -> None:
        """The masters a worker serves. A key that was not among them before and is not this
        master's is another control center that adopted the worker: a warning alert (it stays
        until the operator deals with it, and shows in the worker's journal).

        The baseline is what this master knew before: kept in the store (as the setting
        ``masters_seen.<worker id>``: the store's settings table already holds small values and is
        restored with the rest, so no schema change), so a master adopted while this one was not
        running is told at the first status after its restart. With no stored baseline (a worker
        this master just adopted, or one from before the baseline was kept) the first status is
        the baseline: the masters already there are shown on the worker's details, not alerted."""
        w.masters = tuple(masters)
        keys = frozenset(m.key for m in masters)
        if w.masters_seen == keys:
            return
        for m in masters:
            if m.key == self.own_key or (w.masters_seen is not None and m.key in w.masters_seen):
                continue
            who = f"{m.name!r}" if m.name else "(a key from its settings)"
            if w.masters_seen is None:   # the baseline: said once in its journal, not alerted
                self._note(w.worker_id, f"also serves master {who} (key {m.key[:8]}…)")
                continue
            text = (f"worker {w.name or w.worker_id} was adopted by another master {who} (key {m.key[:8]}…); "
                    f"if that is not yours, run `campool-worker masters --remove {m.key[:8]}` on the worker")
            log.warning("%s", text)
            self.alerts.repeat("other_master", w.worker_id, text)   # its journal gets the alert too
        for key in sorted((w.masters_seen or frozenset()) - keys):
            self._note(w.worker_id, f"no longer serves master key {key[:8]}…")
        w.masters_seen = keys
        self.effects.record(SettingSaved(MASTERS_SEEN + w.worker_id, json.dumps(sorted(keys))))

    def _alive(self, w: Worker, worker_clock: float | None) -> None:
        if not w.alive:
            log.info("worker %s is online", w.worker_id)
        w.alive = True
        w.last_heartbeat = self.clock.now()
        if worker_clock is not None:
            self._clock_sample(w, worker_clock)
        self.effects.touch_worker(w.worker_id)

    def _clock_sample(self, w: Worker, worker_clock: float) -> None:
        sample = worker_clock - self.clock.wall()
        # smooth out network jitter; the first sample sets it
        if w.worker_id in self._offset_seeded:
            w.clock_offset = 0.8 * w.clock_offset + 0.2 * sample
        else:
            w.clock_offset = sample
            self._offset_seeded.add(w.worker_id)

    def _targets(self, w: Worker) -> dict[str, float | None]:
        cams = self.state.cameras
        return {cid: cams[cid].target_fps if cid in cams else None for cid in w.camera_status}

    def _reconcile(self, w: Worker, statuses: dict[str, p.CameraTelemetry]) -> None:
        st = self.state
        now = self.clock.now()
        for cid, tel in statuses.items():
            lease = st.leases.get(cid)
            cam = st.cameras.get(cid)
            if cam is not None and lease is not None and lease.worker_id == w.worker_id and tel.epoch == lease.epoch:
                if lease.state != "failed":
                    self._own_status(cam, lease, tel, now)
                continue  # a failed lease is superseded by its retry or its move
            sb = st.standbys.get(cid)
            if cam is not None and sb is not None and sb.worker_id == w.worker_id and tel.epoch == sb.epoch:
                if sb.state != "failed":
                    self._standby_status(cam, sb, tel)
                continue
            if tel.state in ("fenced", "stopped", "draining"):
                continue
            if cam is None:
                self._fence(w.worker_id, cid, tel.epoch, tel.epoch, now, unassign=True)
                continue
            cur = st.fence.epoch_of(cid)
            if sb is not None and sb.worker_id == w.worker_id and now - sb.since < self.settings.confirm_grace_s:
                continue  # our newer standby assignment is on its way to it
            if cur < tel.epoch <= st.fence.issued_of(cid):
                # a standby epoch that is no longer live (it ended, or was replaced): stop it; its
                # events are never counted
                self._fence(w.worker_id, cid, tel.epoch, tel.epoch, now, unassign=True)
                continue
            if tel.epoch > cur:
                # The worker holds an epoch the master never issued (its record was lost):
                # jump past it so the next lease outranks it, and fence this one.
                log.warning("camera %s: worker %s runs epoch %d, newer than the master's %d",
                            cid, w.worker_id, tel.epoch, cur)
                st.fence.current[cid] = tel.epoch
                if lease is not None:
                    self._release(lease, "epoch conflict")
                self._fence(w.worker_id, cid, tel.epoch, tel.epoch + 1, now)
                continue
            if (lease is not None and lease.worker_id == w.worker_id
                    and now - lease.since < self.settings.confirm_grace_s):
                continue  # our newer assignment is on its way to it
            self._fence(w.worker_id, cid, tel.epoch, cur, now)
        for cid, lease in list(st.leases.items()):
            if lease.worker_id != w.worker_id or cid in statuses or lease.state == "failed":
                continue
            if now - lease.since >= self.settings.confirm_grace_s:
                self._lease_failed(lease, f"worker {w.worker_id} does not run camera {cid}")
        for cid, sb in list(st.standbys.items()):
            if sb.worker_id != w.worker_id or sb.state == "failed":
                continue
            seen = statuses.get(cid)
            if (seen is None or seen.epoch != sb.epoch) and now - sb.since >= self.settings.confirm_grace_s:
                self._standby_failed(sb, f"worker {w.worker_id} does not run the standby of camera {cid}")

    def _own_status(self, cam: Camera, lease: Assignment, tel: p.CameraTelemetry, now: float) -> None:
        cid = cam.camera_id
        before = cam.status
        cam.status = tel
        w = self.state.workers.get(lease.worker_id)
        offset = w.clock_offset if w is not None else 0.0
        self.shadows.primary_heartbeat(cid, tel.epoch, tel.last_seq, tel.frame_ts - offset if tel.frame_ts else 0.0,
                                       tel.backlog)
        self._release_held(cid)
        if tel.frame_index >= 0:
            prog = self._progress.get(cid)
            if prog is None or prog[0] != tel.epoch:
                self._progress[cid] = (tel.epoch, tel.frame_index, tel.frame_index)
            elif tel.frame_index != prog[2]:
                self._progress[cid] = (tel.epoch, prog[2], tel.frame_index)
        if tel.state == "running":
            if lease.state != "active":
                lease.state = "active"
                log.info("camera %s running on worker %s (epoch %d)", cid, lease.worker_id, lease.epoch)
            if not lease.ran:
                lease.ran = True
                self.state.journal(lease.worker_id).lease_ran()
                self.effects.touch_worker(lease.worker_id)
            self.breakers.success(cid, lease.worker_id)
            if self.state.dead.pop(cid, None) is not None:
                log.info("camera %s left the dead-letter list", cid)
            self._reconnecting.pop(cid, None)
        elif tel.state == "failed" and lease.state != "failed":
            self._lease_failed(lease, tel.last_error or "camera failed on the worker")
        elif tel.state == "reconnecting":
            since = self._reconnecting.setdefault(cid, now)
            sb_tel = self.state.standby_status.get(cid)
            if sb_tel is not None:
                self._standby_seen_since_loss(cid, since, sb_tel)   # notes where it stood at the loss
            if now - since >= self.settings.stream_fail_s and lease.state != "failed":
                self._reconnecting.pop(cid, None)
                self._lease_failed(lease, tel.last_error or f"stream down for {now - since:.0f} s")
        if before != tel:
            self.effects.touch_camera(cid)

    def _fence(self, wid: str, cid: str, epoch: int, current: int, now: float, *, unassign: bool = False) -> None:
        key = (wid, cid, epoch)
        if now - self._fence_sent.get(key, float("-inf")) < self.settings.fence_resend_s:
            return
        self._fence_sent[key] = now
        log.info("camera %s: worker %s runs stale epoch %d (current %d); fencing it", cid, wid, epoch, current)
        if unassign:
            self.effects.send(SendUnassign(wid, cid, epoch))
        else:
            self.effects.send(SendFence(wid, cid, epoch, current))

    # ------------------------------------------------------------- command results

    def assign_progress(self, camera_id: str, worker_id: str, epoch: int, note: str) -> None:
        """An assignment is still being prepared (its model is being copied to the worker): the
        worker cannot run the camera yet, so its confirm grace starts again, and the operator
        sees why it waits."""
        lease = self.state.leases.get(camera_id)
        if lease is None or lease.epoch != epoch or lease.worker_id != worker_id or lease.state != "pending":
            return
        lease.since = self.clock.now()
        if self.state.preparing.get(camera_id) != note:
            self.state.preparing[camera_id] = note
            self.effects.touch_camera(camera_id)

    def assign_result(self, camera_id: str, worker_id: str, epoch: int, ok: bool, error: str = "",
                      current_epoch: int | None = None) -> None:
        sb = self.state.standbys.get(camera_id)
        if sb is not None and sb.epoch == epoch and sb.worker_id == worker_id:
            if not ok and sb.state != "failed" and self.state.worker_alive(worker_id):
                if current_epoch is not None:   # it holds a newer epoch: the next standby outranks it
                    fence = self.state.fence
                    fence.issued[camera_id] = max(fence.issued_of(camera_id), current_epoch)
                self._standby_failed(sb, error or "standby assignment refused")
            return
        lease = self.state.leases.get(camera_id)
        if lease is None or lease.epoch != epoch or lease.worker_id != worker_id:
            return  # a reply to an assignment that is already history
        if ok:
            return  # running is confirmed by the heartbeat
        if current_epoch is not None:
            log.warning("camera %s: worker %s holds epoch %d, newer than ours (%d); re-issuing",
                        camera_id, worker_id, current_epoch, epoch)
            fence = self.state.fence
            fence.current[camera_id] = max(fence.epoch_of(camera_id), current_epoch)
            self._release(lease, "epoch conflict")
            return
        if not self.state.worker_alive(worker_id):
            return  # the worker died: liveness moves the camera, it is not this pair's fault
        self._lease_failed(lease, error or "assignment refused")

    def _lease_failed(self, lease: Assignment, error: str) -> None:
        cid, wid = lease.camera_id, lease.worker_id
        lease.state = "failed"
        if wid in self.state.workers:
            self.state.journal(wid).lease_failed(lease.ran)
        self._note(wid, f"camera {cid} failed here: {error}")
        delay = self.breakers.failure(cid, wid, error)
        if delay is not None:
            self.state.retries.hold(cid, wid, self.clock.now() + delay)
        self.effects.touch_camera(cid)

    def _release(self, lease: Assignment, reason: str) -> None:
        """Mark a lease failed without blaming the pair, so the planner places it again."""
        if lease.state != "failed":
            self._note(lease.worker_id, f"camera {lease.camera_id} moved off ({reason})")
        lease.state = "failed"
        self.state.retries.drop(lease.camera_id)
        self.state.reasons[lease.camera_id] = reason
        self.effects.touch_camera(lease.camera_id)

    # ------------------------------------------------------------- live standby (issue #12)
    # A camera whose effective standby is hot or warm gets a second lease, on another worker, under
    # its own epoch; its events are judged by `Shadows`. When the primary is lost and the standby is
    # watching, the standby is promoted at the cut C = the primary's watermark (standby.py).

    def _standby_cost(self, mode: str) -> float:
        return self.settings.standby_warm_cost if mode == "warm" else self.settings.standby_hot_cost

    def _reserved(self) -> dict[str, float]:
        """worker -> the capacity its live standby leases take."""
        out: dict[str, float] = {}
        for sb in self.state.standbys.values():
            if sb.state != "failed":
                out[sb.worker_id] = out.get(sb.worker_id, 0.0) + self._standby_cost(sb.mode)
        return out

    def _yield_standbys(self, unplaced: dict[str, str]) -> bool:
        """A camera waits for capacity that a standby holds: end that standby (of the least important
        camera first), one per waiting camera, where ending it makes room the waiting camera can use.
        True when any was ended."""
        st = self.state
        ended = False
        for cid, why in sorted(unplaced.items(), key=lambda kv: (st.cameras[kv[0]].priority_rank, kv[0])):
            if "free capacity" not in why:
                continue
            waiting = st.cameras[cid]
            primaries = self._primaries()
            reserved = self._reserved()
            choices = [sb for sb in st.standbys.values()
                       if (w := st.workers.get(sb.worker_id)) is not None and w.usable and can_run(waiting, w)
                       and not self.breakers.blocked(cid, w.worker_id)
                       and w.capabilities.capacity - primaries.get(w.worker_id, 0) - reserved.get(w.worker_id, 0.0)
                       + (self._standby_cost(sb.mode) if sb.state != "failed" else 0.0) >= 1.0 - ROOM_EPSILON]
            if not choices:
                continue
            sb = max(choices, key=lambda s: (st.cameras[s.camera_id].priority_rank, s.camera_id))
            self._end_standby(st.cameras[sb.camera_id], sb, f"camera {cid} needs its room")
            ended = True
        return ended

    def job_room(self) -> dict[str, float]:
        """Usable worker -> the camera slots its live cameras and standbys leave free for job
        segments (issue #13): the same load model the placement uses, so live cameras come first."""
        primaries = self._primaries()
        reserved = self._reserved()
        return {wid: max(0.0, w.capabilities.capacity - primaries.get(wid, 0) - reserved.get(wid, 0.0))
                for wid, w in self.state.workers.items() if w.usable and not w.incompatible}

    def _primaries(self) -> dict[str, int]:
        """worker -> the cameras whose live lease it holds."""
        out: dict[str, int] = {}
        for wid in self.state.placement().values():
            out[wid] = out.get(wid, 0) + 1
        return out

    def _standby_status(self, cam: Camera, sb: Assignment, tel: p.CameraTelemetry) -> None:
        cid = cam.camera_id
        before = self.state.standby_status.get(cid)
        self.state.standby_status[cid] = tel
        if tel.state == "running":
            if sb.state != "active":
                sb.state = "active"
                log.info("camera %s: %s standby running on worker %s (epoch %d)", cid, sb.mode, sb.worker_id,
                         sb.epoch)
            self.breakers.success(cid, sb.worker_id)
            self._standby_hold.pop((cid, sb.worker_id), None)
        elif tel.state == "failed":
            self._standby_failed(sb, tel.last_error or "the standby failed on the worker")
        if before != tel:
            self.effects.touch_camera(cid)
            self.effects.touch_worker(sb.worker_id)

    def _standby_failed(self, sb: Assignment, error: str) -> None:
        """The standby cannot run there: the pair's breaker learns it, the next tick places it elsewhere."""
        sb.state = "failed"
        self._note(sb.worker_id, f"standby of camera {sb.camera_id} failed here: {error}")
        delay = self.breakers.failure(sb.camera_id, sb.worker_id, error)
        if delay is not None:   # (None: the breaker is open, the pair is blocked anyway)
            self._standby_hold[(sb.camera_id, sb.worker_id)] = self.clock.now() + delay
        self.effects.touch_camera(sb.camera_id)

    def _end_standby(self, cam: Camera, sb: Assignment, reason: str) -> None:
        """End a standby lease that was never promoted: its epoch is cut with no point to count
        before (every event of it is fenced) and its worker stops it."""
        st = self.state
        cid = cam.camera_id
        st.standbys.pop(cid, None)
        st.standby_status.pop(cid, None)
        cut = Cut(cid, sb.epoch, wall=self.clock.wall())
        st.fence.close(cut)
        self.effects.record(LeaseEnded(cid, sb.epoch, self.clock.wall(), cut))
        if st.worker_alive(sb.worker_id):
            self.effects.send(SendUnassign(sb.worker_id, cid, sb.epoch))
        self.shadows.standby_is(cid, None)
        log.info("camera %s: standby epoch %d on worker %s ends (%s)", cid, sb.epoch, sb.worker_id, reason)
        self._note(sb.worker_id, f"standby of camera {cid} ended ({reason})")
        self.effects.touch_camera(cid)
        self.effects.touch_worker(sb.worker_id)

    def _start_standby(self, cam: Camera, worker_id: str, mode: str) -> None:
        st = self.state
        cid = cam.camera_id
        epoch = st.fence.allocate(cid)   # above the primary's: a promotion makes it current
        sb = Assignment(cid, worker_id, epoch, since=self.clock.now(), started_wall=self.clock.wall(),
                        role="standby", mode=mode, buffer_s=self.settings.standby_buffer_s)
        st.standbys[cid] = sb
        st.standby_waiting.pop(cid, None)
        self.shadows.standby_is(cid, epoch)
        self.effects.record(LeaseStarted(replace(sb), f"{mode} standby"))
        self.effects.send(SendAssign(worker_id, cam.config, epoch, None, None, None, role="standby", standby=mode,
                                     buffer_s=sb.buffer_s))
        log.info("camera %s: %s standby -> worker %s, epoch %d", cid, mode, worker_id, epoch)
        self._note(worker_id, f"{mode} standby of camera {cid} assigned")
        self.effects.touch_camera(cid)
        self.effects.touch_worker(worker_id)

    def _place_standbys(self, now: float) -> None:
        """Give each camera that should have a standby one, on another worker with room for its cost;
        end the standbys that should not be (mode none, a dead or draining worker, the operator's
        choice of worker, the primary's own worker)."""
        st = self.state
        if self._in_grace(now):
            return  # the workers have not all spoken yet
        reserved = self._reserved()
        primaries = self._primaries()
        # a camera waiting for room comes before any standby: none is placed where it could run
        waiting = [st.cameras[cid] for cid, why in st.unplaced.items() if "free capacity" in why and cid in st.cameras]
        for cam in sorted(st.cameras.values(), key=lambda c: (c.priority_rank, c.camera_id)):
            cid = cam.camera_id
            mode = effective_standby(cam, st.workers.values())
            sb = st.standbys.get(cid)
            lease = st.leases.get(cid)
            if mode == "none" or lease is None:
                st.standby_waiting.pop(cid, None)
                if sb is not None:
                    self._end_standby(cam, sb, "no standby wanted" if mode == "none" else "the camera has no worker")
                    reserved[sb.worker_id] = reserved.get(sb.worker_id, 0.0) - self._standby_cost(sb.mode)
                continue
            if lease.state == "failed" or not st.worker_alive(lease.worker_id):
                continue  # a promotion or a failover comes first
            cost = self._standby_cost(mode)

            def room(w: Worker) -> float:
                return w.capabilities.capacity - primaries.get(w.worker_id, 0) - reserved.get(w.worker_id, 0.0)

            def fits_there(w: Worker, need: float = cost) -> bool:
                return room(w) >= need - ROOM_EPSILON

            if sb is not None:
                why = self._standby_misplaced(cam, sb, lease, mode, fits_there)
                if why is None:
                    continue
                self._end_standby(cam, sb, why)
                if sb.state != "failed":
                    reserved[sb.worker_id] = reserved.get(sb.worker_id, 0.0) - self._standby_cost(sb.mode)

            fits = [w for w in st.workers.values()
                    if w.usable and w.worker_id != lease.worker_id and can_run(cam, w)
                    and not self.breakers.blocked(cid, w.worker_id) and room(w) >= cost - ROOM_EPSILON
                    and now >= self._standby_hold.get((cid, w.worker_id), now)
                    and not any(can_run(c, w) for c in waiting)]
            if not fits:
                why = (f"no second worker has room for a {mode} standby" if any(
                    w.usable and w.worker_id != lease.worker_id for w in st.workers.values())
                       else f"a {mode} standby needs a second online worker")
                if st.standby_waiting.get(cid) != why:
                    st.standby_waiting[cid] = why
                    self.effects.touch_camera(cid)
                continue
            pinned = [w for w in fits if w.worker_id == cam.standby_pin]
            target = pinned[0] if pinned else min(fits, key=lambda w: (
                capability_penalty(cam, w), site_penalty(cam, w), -room(w), w.worker_id))
            self._start_standby(cam, target.worker_id, mode)
            reserved[target.worker_id] = reserved.get(target.worker_id, 0.0) + cost

    def _standby_misplaced(self, cam: Camera, sb: Assignment, lease: Assignment, mode: str,
                           has_room: Callable[[Worker], bool]) -> str | None:
        """Why a standby lease must be placed again, or None when it is where it should be.
        has_room(worker): a new standby of this camera fits there."""
        st = self.state
        w = st.workers.get(sb.worker_id)
        if sb.state == "failed":
            return "it failed there"
        if w is None or not w.usable:
            return f"worker {sb.worker_id} is {'gone' if w is None else w.state.value}"
        if sb.worker_id == lease.worker_id:
            return "it is the primary's worker"
        if sb.mode != mode:
            return f"the camera now wants a {mode} standby"
        pin = st.workers.get(cam.standby_pin) if cam.standby_pin else None
        if pin is not None and pin.worker_id != sb.worker_id and pin.usable and pin.worker_id != lease.worker_id \
                and can_run(cam, pin) and not self.breakers.blocked(cam.camera_id, pin.worker_id) and has_room(pin):
            return f"the operator chose worker {pin.worker_id}"
        return None

    def _promote_ready(self, now: float) -> None:
        """Promote every standby whose primary is lost while the standby itself is watching."""
        st = self.state
        if self._in_grace(now):
            return
        for cid, sb in list(st.standbys.items()):
            cam, lease = st.cameras.get(cid), st.leases.get(cid)
            if cam is None or lease is None or sb.state != "active" or not st.worker_alive(sb.worker_id):
                continue
            why = self._primary_lost(cid, lease, now)
            if why is None:
                continue
            tel = st.standby_status.get(cid)
            if tel is None or tel.epoch != sb.epoch or tel.state != "running":
                # down for everyone (the stream itself is down): nobody is watching; not promoted
                continue
            since = self._reconnecting.get(cid)
            if since is not None and st.worker_alive(lease.worker_id) and lease.state != "failed" \
                    and self._standby_seen_since_loss(cid, since, tel) < STANDBY_WATCHING_FRAMES:
                continue  # lost for its stream, and the standby has seen no more of it: down for everyone
            self._standby_at_loss.pop(cid, None)
            self._promote(cam, lease, sb, why)

    def _standby_seen_since_loss(self, cid: str, since: float, tel: p.CameraTelemetry) -> int:
        """Frames the standby has taken in since its primary lost the stream at `since` (its first
        report after the loss is where it stood)."""
        at = self._standby_at_loss.get(cid)
        if at is None or at[0] != since or at[1] != tel.epoch:
            self._standby_at_loss[cid] = at = (since, tel.epoch, tel.frame_index)
        return tel.frame_index - at[2]

    def _primary_lost(self, cid: str, lease: Assignment, now: float) -> str | None:
        """Why the camera's primary no longer counts it, or None while it does."""
        if not self.state.worker_alive(lease.worker_id):
            return f"worker {lease.worker_id} is down"
        w = self.state.workers.get(lease.worker_id)
        if w is not None and w.draining:
            # the camera must leave it: through its standby nothing is lost, a handover would lose
            # what passes between the old worker's last frame and the new one's first
            return f"worker {lease.worker_id} is draining"
        if lease.state == "failed":
            return f"its lease on worker {lease.worker_id} failed ({self.state.reasons.get(cid, 'fenced')})"
        since = self._reconnecting.get(cid)
        if since is not None and now - since >= self.settings.standby_stream_s:
            return f"the stream is down on worker {lease.worker_id} for {now - since:.0f} s"
        return None

    def _promote(self, cam: Camera, lease: Assignment, sb: Assignment, why: str) -> None:
        """The standby becomes the primary at the cut C = W (see standby.py): the old epoch is cut at C
        in its worker's clock, the standby's epoch becomes current, counting from C in its clock."""
        st = self.state
        cid = cam.camera_id
        old_w, new_w = st.workers.get(lease.worker_id), st.workers[sb.worker_id]
        cut_at = self.shadows.watermark(cid)
        if cut_at is None:
            # The primary never reported a frame time whose events were all stored (it died at its
            # start, or its worker predates frame_ts): cut after its last stored crossing (or at the
            # standby's start); the matching pairs the primary's stored crossings near it with the
            # standby's, so what the standby saw after is taken once.
            latest = self.shadows.latest_primary(cid)
            cut_at = max(sb.started_wall, latest if latest is not None else sb.started_wall)
        wall = self.clock.wall()
        cut = Cut(cid, lease.epoch, ts=cut_at + (old_w.clock_offset if old_w is not None else 0.0), wall=wall)
        st.fence.close(cut)
        self.effects.record(LeaseEnded(cid, lease.epoch, wall, cut))
        if st.worker_alive(lease.worker_id):
            self.effects.send(SendUnassign(lease.worker_id, cid, lease.epoch))
        # a worker that was stopped or cut off is fenced when it is heard again (its stale epoch)
        count_from_ts = cut_at + new_w.clock_offset
        st.fence.begin(cid, sb.epoch)
        del st.standbys[cid]
        sb.role, sb.count_from_ts = "primary", count_from_ts
        st.leases[cid] = sb
        cam.status = st.standby_status.pop(cid, None)
        cam.last_moved = self.clock.now()
        st.reasons[cid] = f"standby promoted: {why}"
        st.retries.drop(cid)
        st.unplaced.pop(cid, None)
        self._progress.pop(cid, None)
        self._reconnecting.pop(cid, None)
        self.effects.record(StandbyPromoted(cid, sb.epoch, count_from_ts, self.clock.wall()))
        # A warm standby counts its buffer from what it is told, so it is told where pairing
        # starts (C - 2M): each crossing the old primary counted near the cut then has its twin
        # there to be paired with, and cannot pair with another object instead (standby.py).
        self.effects.send(SendPromote(sb.worker_id, cid, sb.epoch, count_from_ts - 2 * self.shadows.match_window_s))
        held = self.shadows.promote(cid, sb.epoch, cut_at)
        if held:
            self._replay.append((sb.worker_id, held))
        # and what memory did not hold (beyond its bound, or never received) comes again from its outbox
        self.effects.send(SendResend(sb.worker_id, cid))
        if cid in st.previews:
            width, fps = st.previews[cid]
            self.effects.send(SendPreview(sb.worker_id, cid, True, width, fps))
        log.warning("camera %s: %s; its %s standby on worker %s takes over (epoch %d after %d, cut at %.3f)",
                    cid, why, sb.mode, sb.worker_id, sb.epoch, lease.epoch, cut_at)
        self._note(lease.worker_id, f"camera {cid} moved off ({why})")
        self._note(sb.worker_id, f"standby of camera {cid} promoted ({why})")
        self.effects.touch_camera(cid)
        self.effects.touch_worker(sb.worker_id)
        self.effects.touch_worker(lease.worker_id)

    def promote_result(self, camera_id: str, worker_id: str, epoch: int, ok: bool, error: str = "") -> None:
        """The answer to a PromoteCamera: refused, the promoted lease fails and the camera moves on."""
        lease = self.state.leases.get(camera_id)
        if ok or lease is None or lease.epoch != epoch or lease.worker_id != worker_id:
            return
        if self.state.worker_alive(worker_id):
            self._lease_failed(lease, f"promotion refused: {error or 'no reason given'}")

    # ------------------------------------------------------------- count events

    def judge(self, events: list[CountEvent]) -> list[Verdict]:
        """Per event: accept (store and count), fenced or shadowed (store flagged, ack, do not count),
        or held (a standby's event the primary may not have covered: neither stored nor acked)."""
        out = []
        for ev in events:
            verdict = self.shadows.judge(ev, self._master_ts(ev))
            if verdict is None or verdict is Verdict.ACCEPT:
                # a promoted standby's event after its cut still answers to the fence (a later cut of its own)
                verdict = self.state.fence.judge(ev)
            out.append(verdict)
        return out

    def _master_ts(self, ev: CountEvent) -> float:
        """The event's time in the master's clock, through the offset of the worker holding its epoch."""
        st = self.state
        for lease in (st.leases.get(ev.camera_id), st.standbys.get(ev.camera_id)):
            if lease is not None and lease.epoch == ev.epoch:
                w = st.workers.get(lease.worker_id)
                return ev.ts - (w.clock_offset if w is not None else 0.0)
        return ev.ts

    def acked(self, camera_id: str, epoch: int, up_to_seq: int) -> None:
        """Every event of (camera, epoch) up to ``up_to_seq`` is stored (the store's figure, acked to
        the worker): the primary's watermark may advance."""
        self.shadows.acked(camera_id, epoch, up_to_seq)
        self._release_held(camera_id)

    def _release_held(self, camera_id: str) -> None:
        """Held standby events the primary's watermark has passed go to be stored (shadowed) and
        acked now, so the standby's outbox keeps only the last moments, not a resend period's worth."""
        sb = self.state.standbys.get(camera_id)
        if sb is None:
            return
        released = self.shadows.release(camera_id)
        if released:
            self._replay.append((sb.worker_id, released))

    def stored(self, events: list[CountEvent], verdicts: list[Verdict], inserted: list[bool]) -> None:
        """The store inserted these (inserted[i] False: a duplicate it already had)."""
        st = self.state
        by_cam: dict[str, list[CountEvent]] = {}
        now = self.clock.now()
        for ev, verdict, new in zip(events, verdicts, inserted):
            if not new:
                continue
            if verdict is Verdict.SHADOWED:
                st.events_shadowed += 1
                cam = st.cameras.get(ev.camera_id)
                if cam is not None:
                    cam.shadowed += 1
                    self.effects.touch_camera(ev.camera_id)
                continue
            if verdict is not Verdict.ACCEPT:
                st.events_fenced += 1
                cam = st.cameras.get(ev.camera_id)
                if cam is not None:
                    cam.fenced += 1
                    self.effects.touch_camera(ev.camera_id)
                continue
            st.events_stored += 1
            st.recently_stored.add(now)
            self.shadows.primary_stored(ev, self._master_ts(ev))
            st.counts.setdefault(ev.camera_id, {}).setdefault(ev.line, LineCounts()).add(ev.direction, ev.class_name)
            self.conditions.line_hit(ev.camera_id, ev.line, now)
            by_cam.setdefault(ev.camera_id, []).append(ev)
        for cid, evs in by_cam.items():
            totals = {ln: c.copy() for ln, c in st.counts.get(cid, {}).items()}
            self.effects.emit(CountsChanged(cid, totals, tuple(evs)))

    # ------------------------------------------------------------- time passes

    def tick(self) -> None:
        st = self.state
        now = self.clock.now()
        for w in st.workers.values():
            if w.alive and w.last_heartbeat is not None and now - w.last_heartbeat > w.dead_after_s:
                w.alive = False
                w.overloaded = False
                log.warning("worker %s: no heartbeat for %.1f s (it beats every %g s): offline; its cameras move",
                            w.worker_id, now - w.last_heartbeat, w.heartbeat_s)
                self.alerts.repeat("worker_down", w.worker_id,
                                   f"worker {w.name or w.worker_id} is down (no heartbeat for "
                                   f"{now - w.last_heartbeat:.1f} s)")
                self.effects.touch_worker(w.worker_id)
                for lease in st.leases.values():
                    if lease.worker_id == w.worker_id:
                        self.effects.touch_camera(lease.camera_id)
            self._note_state(w)
        self._promote_ready(now)
        for cid, wid in st.retries.ready(now):
            cam, target = st.cameras.get(cid), st.workers.get(wid)
            waiting = st.leases.get(cid)
            if cam is None or waiting is None:
                continue
            if target is not None and target.usable:
                self._start_lease(cam, wid, "retry")
            else:
                self._release(waiting, "worker gone before the retry")
        self._place(now)
        self._place_standbys(now)
        if now - self._last_balance >= self.watch.settings.interval_s and not self._in_grace(now):
            self._last_balance = now
            settled = {cid for cid, a in st.leases.items() if a.state == "active"}
            for mv in rebalance(st.cameras, st.workers, st.placement(), self.policy, self.watch, now,
                                self.breakers.blocked, settled, self._reserved()):
                self._apply(mv)
        self.conditions.evaluate(st, now)

    def _in_grace(self, now: float) -> bool:
        return now - self.state.started < self.settings.startup_grace_s

    def _place(self, now: float) -> None:
        st = self.state
        held = st.retries.held()
        if self._in_grace(now):
            # after a restart the workers have not all spoken yet: leave the cameras of those
            # not heard from alone (they are probably still counting)
            held |= {cid for cid, a in st.leases.items()
                     if a.state != "failed" and not st.worker_alive(a.worker_id)}
        result = plan(st.cameras.values(), st.workers.values(), st.placement(), self.policy,
                      self.breakers.blocked, held, self._reserved())
        if self._yield_standbys(result.unplaced):
            # a camera's primary comes before any standby: the planner tries again with that room
            result = plan(st.cameras.values(), st.workers.values(), st.placement(), self.policy,
                          self.breakers.blocked, held, self._reserved())
        for mv in result.moves:
            self._apply(mv)
        for cid in list(st.unplaced):
            if cid not in result.unplaced:
                del st.unplaced[cid]
                self.effects.touch_camera(cid)
        for cid, why in result.unplaced.items():
            if st.unplaced.get(cid) != why:
                st.unplaced[cid] = why
                log.warning("camera %s has no worker: %s", cid, why)
                self.effects.touch_camera(cid)
            if "breakers" in why and cid not in st.dead:
                st.dead[cid] = DeadLetter(cid, self.clock.wall(), self.breakers.errors(cid))
                log.error("camera %s failed on every worker; dead-lettered: %s", cid, st.dead[cid].errors)

    def _apply(self, mv: Move) -> None:
        cam = self.state.cameras[mv.camera_id]
        self.state.reasons[mv.camera_id] = mv.reason
        if mv.target is None:
            lease = self.state.leases.pop(mv.camera_id, None)
            if lease is not None:
                self._end_lease(cam, lease, mv.reason)
            log.info("camera %s stopped (%s)", mv.camera_id, mv.reason)
            self.effects.touch_camera(mv.camera_id)
            return
        self._start_lease(cam, mv.target, mv.reason)

    # ------------------------------------------------------------- leases

    def _cut(self, cam: Camera, lease: Assignment) -> Cut:
        cid = cam.camera_id
        fence = self.state.fence
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
            return Cut(cid, lease.epoch, frame=max(fence.cut_frame_for(cid, reported), floor),
                       wall=self.clock.wall())
        # A live stream is cut by time (protocol: live handover): now, in the old worker's clock.
        w = self.state.workers.get(lease.worker_id)
        wall = self.clock.wall()
        return Cut(cid, lease.epoch, ts=wall + (w.clock_offset if w else 0.0), wall=wall)

    def _end_lease(self, cam: Camera, lease: Assignment, reason: str, *, successor: str | None = None) -> Cut:
        """Close the lease's epoch with a cut and stop the camera on its worker. successor: the
        worker the camera goes to next, when known (the same worker: nothing moves off it)."""
        cut = self._cut(cam, lease)
        self.state.fence.close(cut)
        self.effects.record(LeaseEnded(cam.camera_id, lease.epoch, cut.wall or self.clock.wall(), cut))
        if self.state.worker_alive(lease.worker_id):
            self.effects.send(SendUnassign(lease.worker_id, cam.camera_id, lease.epoch))
        if lease.state != "failed" and successor != lease.worker_id:
            self._note(lease.worker_id, f"camera {cam.camera_id} moved off ({reason})")
        log.info("camera %s: epoch %d on worker %s ends at %s", cam.camera_id, lease.epoch, lease.worker_id,
                 f"frame {cut.frame}" if cut.frame is not None else f"ts {cut.ts:.3f}")
        return cut

    def _start_lease(self, cam: Camera, worker_id: str, reason: str) -> None:
        st = self.state
        cid = cam.camera_id
        now = self.clock.now()
        old = st.leases.pop(cid, None)
        sb = st.standbys.get(cid)
        if sb is not None:
            # a standby's epoch must stay above its primary's (a promotion makes it current): it
            # starts again beside the new primary, with a fresh epoch
            self._end_standby(cam, sb, "its primary moved")
            if sb.worker_id == worker_id:
                self.effects.withdraw_unassign(cid, sb.epoch)
        if old is not None:
            cut: Cut | None = self._end_lease(cam, old, reason, successor=worker_id)
        else:
            cut = st.fence.cuts.get((cid, st.fence.epoch_of(cid)))
        if old is not None and old.worker_id == worker_id:
            # same worker, newer epoch: the assignment itself supersedes the old one there
            self.effects.withdraw_unassign(cid, old.epoch)
        start = count_from = None
        count_from_ts = None
        if cid in self._fresh:
            self._fresh.discard(cid)
        elif cam.seekable and cut is not None and cut.frame:
            count_from = cut.frame
            start = max(0, cut.frame - self.settings.warmup_frames)
        elif not cam.seekable and cut is not None and cut.wall is not None:
            # the same instant in the new worker's clock: it reports nothing from before the cut
            target = st.workers.get(worker_id)
            count_from_ts = cut.wall + (target.clock_offset if target is not None else 0.0)
        epoch = st.fence.allocate(cid)
        st.fence.begin(cid, epoch)
        self.shadows.primary_is(cid, epoch)
        lease = Assignment(cid, worker_id, epoch, since=now, start_frame=start, count_from_frame=count_from,
                           count_from_ts=count_from_ts, started_wall=self.clock.wall())
        st.leases[cid] = lease
        st.retries.drop(cid)
        st.unplaced.pop(cid, None)
        cam.last_moved = now
        cam.status = None
        self._reconnecting.pop(cid, None)
        self.effects.record(LeaseStarted(replace(lease), reason))
        st.preparing.pop(cid, None)
        self.effects.send(SendAssign(worker_id, cam.config, epoch, start, count_from, count_from_ts))
        if cid in st.previews:
            width, fps = st.previews[cid]
            self.effects.send(SendPreview(worker_id, cid, True, width, fps))
        log.info("camera %s -> worker %s, epoch %d (%s; start %s, count from %s)", cid, worker_id, epoch,
                 reason, start, count_from)
        if old is None or old.worker_id != worker_id or old.state == "failed":
            self._note(worker_id, f"camera {cid} assigned ({reason})")
        self.effects.touch_camera(cid)
        self.effects.touch_worker(worker_id)
        if old is not None:
            self.effects.touch_worker(old.worker_id)

    # ------------------------------------------------------------- the operator's intents
    # Each validates its input (ValueError with an operator-readable line), changes the state
    # and queues the records and actions that follow; placement happens on the next tick.

    def add_camera(self, config: CameraConfig, pin: str | None = None, *, pin_return: bool = True,
                   target_fps: float | None = None) -> None:
        if config.camera_id in self.state.cameras:
            raise ValueError(f"camera {config.camera_id!r} already exists; use update_camera to change it")
        cam = Camera(config, pin=pin, pin_return=pin_return, target_fps=target_fps)
        self.state.cameras[config.camera_id] = cam
        self.effects.record(CameraSaved(replace(cam)))
        self.effects.touch_camera(config.camera_id)

    def update_camera(self, config: CameraConfig, *, target_fps: float | None = None) -> None:
        cid = config.camera_id
        cam = self._camera(cid)
        lease = self.state.leases.get(cid)
        sb = self.state.standbys.get(cid)
        if cam.config.source != config.source:
            # another stream: end the lease where the old one got to; the next starts afresh
            if sb is not None:
                self._end_standby(cam, sb, "source changed")
            if lease is not None:
                del self.state.leases[cid]
                self._end_lease(cam, lease, "source changed")
            self._fresh.add(cid)
            self.state.reasons[cid] = "source changed"
        else:
            if lease is not None and lease.state != "failed":
                self.effects.send(SendUpdate(lease.worker_id, config, lease.epoch))
            if sb is not None and sb.state != "failed":
                self.effects.send(SendUpdate(sb.worker_id, config, sb.epoch))
        cam.config = config
        if target_fps is not None:
            cam.target_fps = target_fps
        self.effects.record(CameraSaved(replace(cam)))
        self.effects.touch_camera(cid)

    def remove_camera(self, camera_id: str) -> None:
        st = self.state
        cam = self._camera(camera_id)
        sb = st.standbys.get(camera_id)
        if sb is not None:
            self._end_standby(cam, sb, "camera removed")
        lease = st.leases.pop(camera_id, None)
        if lease is not None:
            # the counts it made before the cut still arrive and are kept; the epoch counter
            # is kept too, so a camera re-added under this id never reuses (epoch, seq) keys
            self._end_lease(cam, lease, "camera removed")
        del st.cameras[camera_id]
        st.retries.drop(camera_id)
        self.breakers.reset(camera_id)
        st.dead.pop(camera_id, None)
        st.unplaced.pop(camera_id, None)
        st.previews.pop(camera_id, None)
        st.preparing.pop(camera_id, None)
        st.standby_waiting.pop(camera_id, None)
        self.shadows.forget(camera_id)
        for key in [k for k in self._standby_hold if k[0] == camera_id]:
            del self._standby_hold[key]
        if cam.standby_pin is not None:
            self.effects.record(SettingSaved(STANDBY_PIN + camera_id, ""))
        self._progress.pop(camera_id, None)
        self._reconnecting.pop(camera_id, None)
        self._standby_at_loss.pop(camera_id, None)
        self.conditions.forget_camera(camera_id)
        self.alerts.forget_subject(camera_id)
        self.effects.record(CameraDeleted(camera_id))
        self.effects.emit(CameraRemoved(camera_id))

    def pin_camera(self, camera_id: str, worker_id: str | None, *, pin_return: bool = True) -> None:
        cam = self._camera(camera_id)
        if worker_id is not None and worker_id not in self.state.workers:
            raise ValueError(f"no worker {worker_id!r}; pin to a known worker or None for auto")
        cam.pin, cam.pin_return = worker_id, pin_return
        self.effects.record(CameraSaved(replace(cam)))
        self.effects.touch_camera(camera_id)

    def set_standby(self, camera_id: str, worker_id: str | None) -> None:
        """Operator: the worker that should hold this camera's standby (None: chosen automatically).
        It takes effect when the camera has a standby (its setting, or hot for a critical camera)."""
        cam = self._camera(camera_id)
        if worker_id is not None and worker_id not in self.state.workers:
            raise ValueError(f"no worker {worker_id!r}; choose a known worker or None for auto")
        lease = self.state.live_lease(camera_id)
        if worker_id is not None and lease is not None and lease.worker_id == worker_id:
            raise ValueError(f"worker {worker_id!r} is the primary of camera {camera_id!r}; its standby must "
                             "run on another worker")
        cam.standby_pin = worker_id
        self.effects.record(SettingSaved(STANDBY_PIN + camera_id, worker_id or ""))
        self.effects.touch_camera(camera_id)

    def drain(self, worker_id: str, on: bool = True) -> None:
        w = self.state.workers.get(worker_id)
        if w is None:
            raise ValueError(f"no worker {worker_id!r} to drain")
        w.draining = on
        self.effects.record(WorkerSaved(replace(w)))
        self.effects.send(SendDrain(worker_id, on))
        log.info("worker %s %s", worker_id, "draining: its cameras move elsewhere" if on else "back in service")
        self.effects.touch_worker(worker_id)
        self._note_state(w)

    def set_policy(self, name: str) -> None:
        self.policy = make_policy(name)
        self.effects.record(SettingSaved("policy", name))
        log.info("placement policy is now %s", name)

    def retry_camera(self, camera_id: str) -> None:
        """Operator: forget this camera's failures and try it everywhere again."""
        self._camera(camera_id)
        self.breakers.reset(camera_id)
        self.state.dead.pop(camera_id, None)
        self.state.retries.drop(camera_id)
        lease = self.state.leases.get(camera_id)
        if lease is not None and lease.state == "failed":
            self._release(lease, "retry")
        self.effects.touch_camera(camera_id)

    def set_preview(self, camera_id: str, on: bool, width: int = 320, fps: float = 2.0) -> None:
        self._camera(camera_id)
        if on:
            self.state.previews[camera_id] = (width, fps)
        else:
            self.state.previews.pop(camera_id, None)
        lease = self.state.leases.get(camera_id)
        if lease is not None:
            self.effects.send(SendPreview(lease.worker_id, camera_id, on, width, fps))
        self.effects.touch_camera(camera_id)

    def integration_status(self, name: str, problem: str) -> None:
        """An integration (MQTT, the metrics endpoint) says how it is: `problem` is one line for the
        operator, "" when it works. A problem that lasts raises an integration_down alert."""
        self.state.integrations[name] = problem

    def _camera(self, camera_id: str) -> Camera:
        try:
            return self.state.cameras[camera_id]
        except KeyError:
            raise ValueError(f"no camera {camera_id!r}") from None


def _merge_caps(caps: WorkerCapabilities, capacity: int | None, gpu: str | None) -> WorkerCapabilities:
    """The worker reports capacity and GPU; site, groups and models stay as configured."""
    if capacity is not None and capacity > 0:
        caps = replace(caps, capacity=capacity)
    if gpu is not None:
        caps = replace(caps, gpu=bool(gpu), gpu_name=gpu)
    return caps
