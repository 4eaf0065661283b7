"""A simulated pool for the pool core's unit tests: workers that obey commands in memory.

It plays the worker's side of the protocol faithfully enough for the logic tests (frame
indices advance with time, heartbeats carry epochs and frame indices, a stale epoch is
stopped when fenced), with a FakeClock so every test is exact and instant. The real
worker processes are exercised by tests/e2e.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class SimCamera:
    camera_id: str
    epoch: int
    frame_index: int
    state: str = "running"
    error: str = ""
    count_from: int = 0
    seq: int = 0


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
                            frame_index=c.frame_index, last_error=c.error)
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
        """The worker publishes its outbox; the master judges, stores idempotently and acks all."""
        events, sim.outbox = sim.outbox, []
        if not events:
            return
        verdicts = self.core.judge(events)
        inserted = []
        for ev, v in zip(events, verdicts):
            key = (ev.camera_id, ev.epoch, ev.seq)
            inserted.append(key not in self.stored)
            self.stored.setdefault(key, (ev, v))
        self.core.stored(events, verdicts, inserted)

    def counted_frames(self, camera_id: str) -> list[int]:
        """Frames whose crossing the master kept (accepted, not fenced), with repeats."""
        return sorted(ev.frame_index for (cid, _, _), (ev, v) in self.stored.items()
                      if cid == camera_id and v is Verdict.ACCEPT)

    def deliver(self) -> None:
        """Carry the core's actions to the simulated workers and their replies back."""
        for _ in range(10):
            actions = self.core.take_actions()
            self.records.extend(self.core.take_records())
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
                    sim.cameras[cid] = SimCamera(cid, act.epoch, start - 1, state,
                                                 "decoder crashed" if state == "failed" else "",
                                                 count_from=act.count_from_frame or 0)
                    self.core.assign_result(cid, sim.worker_id, act.epoch, True)
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
                if cam.state == "running":
                    assert cid not in out, f"camera {cid} runs on {out[cid]} and {sim.worker_id}"
                    out[cid] = sim.worker_id
        return out

    def running_counts(self) -> dict[str, int]:
        out: dict[str, int] = {w: 0 for w in self.workers}
        for wid in self.where().values():
            out[wid] += 1
        return out
