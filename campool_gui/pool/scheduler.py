"""Where each camera runs: placement policies (pluggable strategies) and the planner.

A policy only orders cameras and ranks candidate workers; the planner applies the rules
every policy shares: hard capability limits, capacity, operator pins, circuit breakers
and preemption. The planner is pure: it returns `Move`s, the pool core carries them out.

Policies: round_robin, least_loaded, capability, priority, site, hybrid (the default:
priority first, then capability, then measured load, then site).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .models import Camera, Worker

log = logging.getLogger(__name__)


ROOM_EPSILON = 1e-6   # fractional standby costs add up in floating point


@dataclass
class Candidate:
    """A usable worker during one planning round, with the cameras planned on it so far."""

    worker: Worker
    cameras: list[str] = field(default_factory=list)
    reserved: float = 0.0    # capacity its standby leases take (issue #12: hot ~1 camera, warm a fraction)

    @property
    def worker_id(self) -> str:
        return self.worker.worker_id

    @property
    def free(self) -> float:
        return self.worker.capabilities.capacity - len(self.cameras) - self.reserved

    @property
    def has_room(self) -> bool:
        """Room for one more camera (a standby's fractional cost may leave less than one)."""
        return self.free > 1.0 - ROOM_EPSILON

    def load(self) -> float:
        """Projected utilisation (0..1, may exceed 1) from measured CPU/GPU.

        The measured cost of one camera is the worker's utilisation divided by the cameras it
        reports running; each camera planned on top (not running there yet) adds that cost.
        A worker with no measurements counts each camera as 1/capacity. Cameras leaving are
        not credited until the worker reports them gone (conservative: no overcommit).
        """
        w = self.worker
        cap = max(1, w.capabilities.capacity)
        running = len(w.camera_status)
        m = w.metrics
        util = 0.0
        if m is not None:
            util = max(m.cpu_pct, m.gpu_pct or 0.0) / 100.0
        per_camera = util / running if running and util > 0 else 1.0 / cap
        new = sum(1 for c in self.cameras if c not in w.camera_status)
        return util + new * per_camera


def can_run(camera: Camera, worker: Worker) -> bool:
    """Hard limits: the worker must be able to open this kind of source."""
    return camera.source_kind in worker.capabilities.source_kinds


def capability_penalty(camera: Camera, worker: Worker) -> int:
    """Soft fit: 0 is best. A model camera prefers a GPU and a worker that holds the model."""
    penalty = 0
    model = camera.config.model
    if model:
        if not worker.capabilities.gpu:
            penalty += 1
        if worker.capabilities.models and model not in worker.capabilities.models:
            penalty += 1
    return penalty


def site_penalty(camera: Camera, worker: Worker) -> int:
    site = camera.config.site
    if not site:
        return 0
    if worker.capabilities.site == site:
        return 0
    if site in worker.capabilities.groups:
        return 1
    return 2


class Policy(Protocol):
    name: str
    preempts: bool

    def order(self, cameras: list[Camera]) -> list[Camera]: ...

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]: ...

    def placed(self, camera: Camera, candidate: Candidate) -> None: ...


class _Base:
    name = ""
    preempts = False

    def order(self, cameras: list[Camera]) -> list[Camera]:
        return sorted(cameras, key=lambda c: c.camera_id)

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: c.worker_id)

    def placed(self, camera: Camera, candidate: Candidate) -> None:
        pass


class RoundRobin(_Base):
    """Each new camera goes to the next worker in turn (by worker id)."""

    name = "round_robin"

    def __init__(self) -> None:
        self._last: str | None = None

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        ordered = sorted(candidates, key=lambda c: c.worker_id)
        if self._last is None:
            return ordered
        after = [c for c in ordered if c.worker_id > self._last]
        return after + [c for c in ordered if c.worker_id <= self._last]

    def placed(self, camera: Camera, candidate: Candidate) -> None:
        self._last = candidate.worker_id


class LeastLoaded(_Base):
    """The worker with the lowest projected measured load (CPU/GPU per running camera)."""

    name = "least_loaded"

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (round(c.load(), 3), -c.free, c.worker_id))


class CapabilityFirst(_Base):
    """The best-equipped worker: GPU and model present for model cameras, then most room."""

    name = "capability"

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (capability_penalty(camera, c.worker), -c.free, c.worker_id))


class PriorityFirst(_Base):
    """Critical cameras are placed first and may preempt low ones when capacity is short."""

    name = "priority"
    preempts = True

    def order(self, cameras: list[Camera]) -> list[Camera]:
        return sorted(cameras, key=lambda c: (c.priority_rank, c.camera_id))

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (-c.free, c.worker_id))


class SiteAffinity(_Base):
    """Same site first, then a worker of the camera's group, then anywhere with room."""

    name = "site"

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (site_penalty(camera, c.worker), -c.free, c.worker_id))


class Hybrid(_Base):
    """Default: priority order (with preemption), then capability, then load, then site.

    Load is compared in 10 % steps so that site affinity decides between workers that are
    about equally loaded instead of never mattering.
    """

    name = "hybrid"
    preempts = True

    def order(self, cameras: list[Camera]) -> list[Camera]:
        return sorted(cameras, key=lambda c: (c.priority_rank, c.camera_id))

    def rank(self, camera: Camera, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (
            capability_penalty(camera, c.worker), int(c.load() * 10), site_penalty(camera, c.worker),
            -c.free, c.worker_id))


POLICIES: dict[str, Callable[[], Policy]] = {
    p.name: p for p in (RoundRobin, LeastLoaded, CapabilityFirst, PriorityFirst, SiteAffinity, Hybrid)
}
DEFAULT_POLICY = "hybrid"


def make_policy(name: str) -> Policy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown placement policy {name!r}; choose one of {', '.join(POLICIES)}") from None


@dataclass(frozen=True)
class Move:
    camera_id: str
    source: str | None        # worker it leaves (None: it was not running)
    target: str | None        # worker it goes to (None: stopped, e.g. preempted)
    reason: str               # new | failover | pin | pin-return | drain | preempted | preempt | rebalance


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    unplaced: dict[str, str] = field(default_factory=dict)   # camera -> why it has no worker


# A camera of priority rank r may preempt an auto camera of rank >= r + PREEMPT_GAP:
# critical preempts normal and low, high preempts low; equals never fight.
PREEMPT_GAP = 2


def plan(cameras: Iterable[Camera], workers: Iterable[Worker], placement: dict[str, str],
         policy: Policy, blocked: Callable[[str, str], bool] = lambda c, w: False,
         held: Iterable[str] = (), reserved: dict[str, float] | None = None) -> Plan:
    """Place every camera that has no usable worker; honour pins; never exceed capacity.

    placement: camera -> worker currently holding its lease. blocked(camera, worker): the
    pair may not be used now (breaker open). held: cameras the planner must leave alone
    (waiting for a retry on their worker). reserved: worker -> capacity its standby leases take.
    """
    cams = {c.camera_id: c for c in cameras}
    workers = list(workers)
    res = reserved or {}
    cands = {w.worker_id: Candidate(w, reserved=res.get(w.worker_id, 0.0)) for w in workers if w.usable}
    held_set = set(held)
    result = Plan()
    need: list[Camera] = []
    for cid in sorted(cams):
        wid = placement.get(cid)
        if wid in cands:
            cands[wid].cameras.append(cid)
        elif cid not in held_set:
            need.append(cams[cid])

    workers_by_id = {w.worker_id: w for w in workers}

    # 1. Pins: a pinned camera goes to its worker when that worker is usable.
    for cam in sorted(cams.values(), key=lambda c: (c.priority_rank, c.camera_id)):
        pin = cam.pin
        if pin is None or pin not in cands or blocked(cam.camera_id, pin) or cam.camera_id in held_set:
            continue
        current = placement.get(cam.camera_id)
        if current == pin:
            continue
        if current in cands and not cam.pin_return:
            continue  # operator chose not to move it back automatically
        target = cands[pin]
        if not can_run(cam, target.worker):
            result.unplaced[cam.camera_id] = f"pinned worker {pin} cannot open {cam.source_kind} sources"
            continue
        if not target.has_room and not _evict_auto(target, cams, result):
            continue  # full of pinned cameras: it runs by policy meanwhile
        if current in cands:
            cands[current].cameras.remove(cam.camera_id)
        elif cam in need:
            need.remove(cam)
        target.cameras.append(cam.camera_id)
        result.moves.append(Move(cam.camera_id, current, pin, "pin-return" if current else "pin"))

    # Cameras evicted from a pinned worker need a place too.
    for mv in list(result.moves):
        if mv.reason == "preempted" and mv.target is None:
            need.append(cams[mv.camera_id])

    # 2. Everything else by policy.
    queue = policy.order(need)
    while queue:
        cam = queue.pop(0)
        cid = cam.camera_id
        fits = [c for c in cands.values()
                if c.has_room and can_run(cam, c.worker) and not blocked(cid, c.worker_id)]
        src = _source_of(cid, placement, result)
        if fits:
            best = policy.rank(cam, fits)[0]
            best.cameras.append(cid)
            policy.placed(cam, best)
            result.moves.append(Move(cid, src, best.worker_id, _reason(cid, placement, workers_by_id, result)))
            continue
        if policy.preempts:
            victim = _find_victim(cam, cands, cams, blocked)
            if victim is not None:
                vcand, vid = victim
                vcand.cameras.remove(vid)
                vcand.cameras.append(cid)
                result.moves.append(Move(vid, vcand.worker_id, None, "preempted"))
                result.moves.append(Move(cid, src, vcand.worker_id, "preempt"))
                log.info("camera %s (%s) preempts camera %s on worker %s", cid, cam.config.priority,
                         vid, vcand.worker_id)
                queue.append(cams[vid])   # it may still find room elsewhere
                queue = policy.order(queue)
                continue
        if not cands:
            result.unplaced[cid] = "no worker is online"
        elif not any(can_run(cam, c.worker) for c in cands.values()):
            result.unplaced[cid] = f"no online worker can open {cam.source_kind} sources"
        elif all(blocked(cid, c.worker_id) for c in cands.values() if can_run(cam, c.worker)):
            result.unplaced[cid] = "failed on every worker (circuit breakers open)"
        else:
            result.unplaced[cid] = "no worker has free capacity"
    return result


def _draining(workers: dict[str, Worker], wid: str) -> bool:
    w = workers.get(wid)
    return bool(w and w.alive and w.draining)


def _source_of(cid: str, placement: dict[str, str], result: Plan) -> str | None:
    """The worker a camera leaves: its lease holder, unless this plan already stopped it."""
    for mv in reversed(result.moves):
        if mv.camera_id == cid:
            return None if mv.target is None else mv.target
    return placement.get(cid)


def _reason(cid: str, placement: dict[str, str], workers: dict[str, Worker], result: Plan) -> str:
    """Why a camera is being placed: for the log, the assignment history and the UI."""
    if any(mv.camera_id == cid and mv.reason == "preempted" for mv in result.moves):
        return "preempted"
    src = placement.get(cid)
    if src is None:
        return "new"
    return "drain" if _draining(workers, src) else "failover"


def _evict_auto(target: Candidate, cams: dict[str, Camera], result: Plan) -> bool:
    """Make room on a pinned camera's worker by moving its lowest-priority auto camera."""
    autos = [cams[c] for c in target.cameras if c in cams and cams[c].pin != target.worker_id]
    if not autos:
        return False
    victim = max(autos, key=lambda c: (c.priority_rank, c.camera_id))
    target.cameras.remove(victim.camera_id)
    result.moves.append(Move(victim.camera_id, target.worker_id, None, "preempted"))
    return True


def _find_victim(cam: Camera, cands: dict[str, Candidate], cams: dict[str, Camera],
                 blocked: Callable[[str, str], bool]) -> tuple[Candidate, str] | None:
    best: tuple[int, str, Candidate] | None = None
    for cand in cands.values():
        if not can_run(cam, cand.worker) or blocked(cam.camera_id, cand.worker_id):
            continue
        for vid in cand.cameras:
            v = cams.get(vid)
            if v is None or v.pin == cand.worker_id:
                continue
            if v.priority_rank < cam.priority_rank + PREEMPT_GAP:
                continue
            key = (v.priority_rank, vid)
            if best is None or key > best[:2]:
                best = (v.priority_rank, vid, cand)
    if best is None:
        return None
    return best[2], best[1]
