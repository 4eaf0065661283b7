"""A simulated pool for the pool core's unit tests: workers that obey commands in memory.

It plays the worker's side of the protocol faithfully enough for the logic tests (frame
indices advance with time, heartbeats carry epochs and frame indices, a stale epoch is
stopped when fenced), with a FakeClock so every test is exact and instant. The real
worker processes are exercised by tests/e2e.

Live cameras (an rtsp:// source) follow a scene in time instead: an object crosses the line at
every master wall time k * LIVE_EVERY_S, and every worker watching the stream then (a primary or a
hot standby; a warm one only from its promotion, through its buffer) stamps it with its own clock
(skew) plus its decode jitter. Heartbeats carry frame_ts and last_seq consistently (the crossings
of frames up to frame_ts are committed), and the outbox keeps what the master did not ack: it is
published again at every step, as the worker resends unacked events.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from campool_gui.pool.actions import SendPromote
from campool_gui.pool.clock import FakeClock
from campool_gui.pool.core import PoolCore, SendAssign, SendFence, SendUnassign
from campool_gui.pool.fencing import Verdict
from campool_gui.pool.models import Worker, WorkerCapabilities
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent
from tests.helpers import wire

# The simulated scene: an object crosses the line at every frame divisible by EVENT_EVERY,
# whoever processes that frame (deterministic, like a video file).
EVENT_EVERY = 7
LIVE_EVERY_S = 0.7   # live scene: a crossing at every multiple of this (master wall time)


@dataclass
class SimCamera:
    camera_id: str
    epoch: int
    frame_index: int
    state: str = "running"
    error: str = ""
    count_from: int = 0
    seq: int = 0
    role: str = "primary"
    mode: str = "hot"
    count_from_ts: float | None = None   # worker clock: no crossing before it
    live: bool = False
    seen_until: float = 0.0              # live: master time of the last frame watched
    buffer_s: float = 10.0


@dataclass
class SimWorker:
    worker_id: str
    fps: float = 10.0
    alive: bool = True              # False: SIGKILL/SIGSTOP/partition: no heartbeats, no replies
    cpu: float = 20.0
    mem: float = 30.0
    backlog: int = 0
    refuse: str = ""                # non-empty: refuse assignments with this error
    fail_cameras: set[str] = field(default_factory=set)   # these cameras fail when started here
    cameras: dict[str, SimCamera] = field(default_factory=dict)
    received: list[object] = field(default_factory=list)
    outbox: list[CountEvent] = field(default_factory=list)   # committed, not yet acked
    frozen: bool = False            # SIGSTOP: no progress at all (alive=False too)
    capacity: int = 4
    heartbeat_s: float = 1.0        # the period it declares
    clock_skew: float = 0.0         # its wall clock minus the master's
    commit_lag: bool = False        # crossings are committed one step late (in memory until then)
    pending: list[CountEvent] = field(default_factory=list)
    jitter: float = 0.0             # live: how much later than the truth it stamps a frame (decode, network)
    stream_down: set[str] = field(default_factory=set)   # live cameras whose stream it cannot reach
    # live cameras whose reader has not noticed yet that their stream died: still "running", no new frames
    stream_stalled: set[str] = field(default_factory=set)
    starved: dict[str, int] = field(default_factory=dict)  # camera -> detector runs its budget refused
    budget_reason: dict[str, str] = field(default_factory=dict)  # camera -> why the worker lowered its budget

    def live_crossings(self, cam: SimCamera, start: float, end: float) -> None:
        """Commit the live scene's crossings in (start, end] (master time) as this worker stamps them."""
        k = int(start // LIVE_EVERY_S) + 1
        for crossing in range(k, int((end + 1e-9) // LIVE_EVERY_S) + 1):
            ts = crossing * LIVE_EVERY_S + self.clock_skew + self.jitter
            if cam.count_from_ts is not None and ts < cam.count_from_ts:
                continue
            cam.seq += 1
            # frame_index carries the crossing's number in the scene: a test can tell which object it was
            self.outbox.append(CountEvent(cam.camera_id, cam.epoch, cam.seq, "L", "in", "car", crossing, ts, crossing))

    def kill(self) -> None:
        """SIGKILL: what was not committed yet is gone; the outbox stays on disk."""
        self.alive = False
        self.frozen = True
        self.pending.clear()

    def advance(self, frames: int, clock: FakeClock) -> None:
        if self.commit_lag:
            self.outbox.extend(self.pending)
            self.pending = []
        target = self.pending if self.commit_lag else self.outbox
        for cam in self.cameras.values():
            if cam.live:
                now = clock.wall()
                if cam.camera_id in self.stream_stalled:
                    cam.seen_until = now   # nothing arrives: nothing seen, nothing counted
                    continue
                if cam.camera_id in self.stream_down:
                    cam.state = "reconnecting"
                    continue
                if cam.state == "reconnecting":
                    cam.state = "running"
                    cam.seen_until = now   # back from a stream loss: what passed meanwhile was not seen
                if cam.state == "running" and not (cam.role == "standby" and cam.mode == "warm"):
                    self.live_crossings(cam, cam.seen_until, now)
                cam.seen_until = now
                cam.frame_index += frames
                continue
            if cam.state != "running":
                continue
            for f in range(cam.frame_index + 1, cam.frame_index + frames + 1):
                if f % EVENT_EVERY == 0 and f >= cam.count_from:
                    cam.seq += 1
                    target.append(CountEvent(cam.camera_id, cam.epoch, cam.seq, "L", "in", "car", f,
                                             clock.wall(), f))
            cam.frame_index += frames

    def heartbeat(self, clock: FakeClock) -> p.WorkerStatus:
        cams = [wire.camera(c.camera_id, c.epoch, c.state, fps=self.fps if c.state == "running" else 0,
                            frame_index=c.frame_index, last_error=c.error, last_seq=c.seq, role=c.role,
                            backlog=sum(1 for ev in self.outbox if ev.camera_id == c.camera_id),
                            frame_ts=c.seen_until + self.clock_skew + self.jitter if c.live and c.seen_until else 0.0,
                            detect_starved=self.starved.get(c.camera_id, 0),
                            detect_budget_reason=self.budget_reason.get(c.camera_id, ""))
                for c in self.cameras.values()]
        return wire.status(self.worker_id, cams, clock=clock.wall() + self.clock_skew, cpu=self.cpu, mem=self.mem,
                           backlog=self.backlog, capacity=self.capacity, heartbeat_s=self.heartbeat_s)


class SimPool:
    def __init__(self, core: PoolCore | None = None, clock: FakeClock | None = None, **core_kw) -> None:
        self.clock = clock or FakeClock()
        self.core = core or PoolCore(self.clock, **core_kw)
        self.workers: dict[str, SimWorker] = {}
        self.assigns: list[SendAssign] = []
        self.events: list[object] = []
        self.stored: dict[tuple[str, int, int], tuple[CountEvent, Verdict]] = {}   # the "store"
        self.hw: dict[tuple[str, int], int] = {}   # (camera, epoch) -> every seq <= this is stored
        self.records: list[object] = []   # what the core asked to persist, in order (a real Store may take them)

    def add_worker(self, wid: str, capacity: int = 4, *, gpu: str = "", site: str = "",
                   groups: frozenset[str] = frozenset(), heartbeat: bool = True, **kw) -> SimWorker:
        caps = WorkerCapabilities(capacity=capacity, gpu=bool(gpu), gpu_name=gpu, site=site, groups=groups)
        self.core.upsert_worker(Worker(wid, wid, adopted=True, public_key="K" * 40, capabilities=caps))
        sim = SimWorker(wid, capacity=capacity, **kw)
        self.workers[wid] = sim
        if heartbeat:
            self.core.heartbeat(sim.worker_id, sim.heartbeat(self.clock))
        return sim

    def add_camera(self, cid: str, *, source: str | None = None, priority: str = "normal", site: str = "",
                   model: str | None = None, pin: str | None = None, **kw) -> None:
        cfg = CameraConfig(cid, source or f"/videos/{cid}.mp4", priority=priority, site=site, model=model)
        self.core.add_camera(cfg, pin=pin, **kw)

    def step(self, dt: float = 1.0, ticks: int = 1) -> None:
        """Let dt seconds pass `ticks` times: frames advance, live workers heartbeat, the core ticks."""
        for _ in range(ticks):
            self.clock.advance(dt)
            for sim in self.workers.values():
                if not sim.frozen:
                    sim.advance(round(sim.fps * dt), self.clock)
                if not sim.alive:
                    continue
                self.core.heartbeat(sim.worker_id, sim.heartbeat(self.clock))
                self.flush(sim)
            self.core.tick()
            self.deliver()

    def flush(self, sim: SimWorker) -> None:
        """The worker publishes its unacked outbox; the master judges, stores idempotently what is not
        held and acks what is stored without a gap; the worker deletes what is acked."""
        if not sim.outbox:
            return
        acks = self.store_batch(list(sim.outbox))
        sim.outbox = [ev for ev in sim.outbox if ev.seq > acks.get((ev.camera_id, ev.epoch), 0)]

    def store_batch(self, events: list[CountEvent]) -> dict[tuple[str, int], int]:
        """What the telemetry router and the store do with a batch; returns the acks."""
        verdicts = self.core.judge(events)
        kept = [(ev, v) for ev, v in zip(events, verdicts) if v.acked]
        inserted = []
        for ev, v in kept:
            key = (ev.camera_id, ev.epoch, ev.seq)
            inserted.append(key not in self.stored)
            self.stored.setdefault(key, (ev, v))
        self.core.stored([ev for ev, _ in kept], [v for _, v in kept], inserted)
        acks = {}
        for cid, epoch in {(ev.camera_id, ev.epoch) for ev, _ in kept}:
            hw = self.hw.get((cid, epoch), 0)
            while (cid, epoch, hw + 1) in self.stored:
                hw += 1
            self.hw[(cid, epoch)] = acks[(cid, epoch)] = hw
            self.core.acked(cid, epoch, hw)
        return acks

    def counted_frames(self, camera_id: str) -> list[int]:
        """Frames whose crossing the master kept (accepted, not fenced), with repeats."""
        return sorted(ev.frame_index for (cid, _, _), (ev, v) in self.stored.items()
                      if cid == camera_id and v is Verdict.ACCEPT)

    def deliver(self) -> None:
        """Carry the core's actions to the simulated workers and their replies back."""
        for _ in range(10):
            actions = self.core.take_actions()
            self.records.extend(self.core.take_records())
            for _wid, held in self.core.take_replay():
                self.store_batch(held)
            self.events.extend(self.core.take_events())
            if not actions:
                return
            for act in actions:
                sim = self.workers.get(act.worker_id)
                if sim is None or not sim.alive:
                    if isinstance(act, SendAssign):
                        self.assigns.append(act)
                        self.core.assign_result(act.camera.camera_id, act.worker_id, act.epoch, False,
                                                "no reply within 5 s")
                    continue
                sim.received.append(act)
                if isinstance(act, SendAssign):
                    self.assigns.append(act)
                    cid = act.camera.camera_id
                    if sim.refuse:
                        self.core.assign_result(cid, sim.worker_id, act.epoch, False, sim.refuse)
                        continue
                    state = "failed" if cid in sim.fail_cameras else "running"
                    start = act.start_frame if act.start_frame is not None else 0
                    live = act.camera.source.startswith("rtsp://")
                    sim.cameras[cid] = SimCamera(cid, act.epoch, start - 1, state,
                                                 "decoder crashed" if state == "failed" else "",
                                                 count_from=act.count_from_frame or 0, role=act.role,
                                                 mode=act.standby, count_from_ts=act.count_from_ts, live=live,
                                                 seen_until=self.clock.wall() if live else 0.0,
                                                 buffer_s=act.buffer_s)
                    self.core.assign_result(cid, sim.worker_id, act.epoch, True)
                elif isinstance(act, SendPromote):
                    cam = sim.cameras.get(act.camera_id)
                    if cam is None or cam.epoch != act.epoch:
                        self.core.promote_result(act.camera_id, sim.worker_id, act.epoch, False, "unknown_camera")
                        continue
                    if cam.role == "standby" and cam.mode == "warm":
                        # counts its buffered frames from the cut, faster than real time
                        cam.count_from_ts = act.count_from_ts
                        now = self.clock.wall()
                        sim.live_crossings(cam, max(act.count_from_ts - sim.clock_skew - sim.jitter,
                                                    now - cam.buffer_s) - 1e-9, now)
                    cam.role = "primary"
                    self.core.promote_result(act.camera_id, sim.worker_id, act.epoch, True)
                elif isinstance(act, (SendUnassign, SendFence)):
                    cam = sim.cameras.get(act.camera_id)
                    if cam is not None and cam.epoch <= act.epoch:
                        del sim.cameras[act.camera_id]
                    self.flush(sim)   # its last events still travel
                # SendDrain, SendUpdate, SendPreview: nothing to simulate

    def where(self) -> dict[str, str]:
        """camera -> worker actually running it (according to the simulated workers)."""
        out: dict[str, str] = {}
        for sim in self.workers.values():
            if not sim.alive:
                continue
            for cid, cam in sim.cameras.items():
                if cam.state == "running" and cam.role == "primary":
                    assert cid not in out, f"camera {cid} runs on {out[cid]} and {sim.worker_id}"
                    out[cid] = sim.worker_id
        return out

    def standby_where(self) -> dict[str, str]:
        """camera -> worker running its standby (according to the simulated workers)."""
        return {cid: sim.worker_id for sim in self.workers.values() if sim.alive
                for cid, cam in sim.cameras.items() if cam.role == "standby"}

    def live_truth(self, start: float, end: float) -> int:
        """Crossings of the live scene in (start, end] (master time)."""
        return int(end // LIVE_EVERY_S) - int(start // LIVE_EVERY_S)

    def running_counts(self) -> dict[str, int]:
        out: dict[str, int] = {w: 0 for w in self.workers}
        for wid in self.where().values():
            out[wid] += 1
        return out
