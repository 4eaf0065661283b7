"""Rebalancing: move cameras off overloaded workers and onto idle ones, without flapping.

Hysteresis in three places:
- a worker becomes overloaded only after a hot condition held `overload_hold_s` (CPU >
  80 %, memory > 85 %, a camera below 90 % of its target fps, latency > 500 ms, a camera
  whose detection the worker lowered because it dropped frames) and is
  healthy again only after every cool condition held `clear_hold_s` (CPU < 70 %, memory <
  75 %, fps >= 95 % of target, latency < 400 ms);
- a camera the balancer moved stays put for `dwell_s`; an overloaded worker sheds at most
  one camera per `cooldown_s`;
- a count-based move (a worker joined, or is emptier) happens only when the source stays
  at least as full as the target after the move, so the reverse move can never qualify.
Pins are never moved by the balancer; failover and drain are not rebalancing (core.py).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .models import Camera, Worker
from .scheduler import Candidate, Move, Policy, can_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BalanceSettings:
    cpu_high: float = 80.0
    cpu_ok: float = 70.0
    mem_high: float = 85.0
    mem_ok: float = 75.0
    latency_high_ms: float = 500.0
    latency_ok_ms: float = 400.0
    fps_low_frac: float = 0.9
    fps_ok_frac: float = 0.95
    overload_hold_s: float = 15.0
    clear_hold_s: float = 30.0
    dwell_s: float = 120.0
    cooldown_s: float = 30.0
    interval_s: float = 5.0        # how often the balancer looks
    max_moves: int = 1             # per look


def hot_reasons(worker: Worker, targets: dict[str, float | None], s: BalanceSettings) -> list[str]:
    m = worker.metrics
    out: list[str] = []
    if m is not None:
        if m.cpu_pct > s.cpu_high:
            out.append(f"CPU {m.cpu_pct:.0f} % > {s.cpu_high:.0f} %")
        if m.mem_pct > s.mem_high:
            out.append(f"memory {m.mem_pct:.0f} % > {s.mem_high:.0f} %")
    for cid, st in worker.camera_status.items():
        if st.state != "running":
            continue
        target = targets.get(cid)
        if target and st.fps < s.fps_low_frac * target:
            out.append(f"camera {cid} at {st.fps:.1f} fps < {s.fps_low_frac:.0%} of {target:.1f}")
        if st.latency_ms > s.latency_high_ms:
            out.append(f"camera {cid} latency {st.latency_ms:.0f} ms > {s.latency_high_ms:.0f} ms")
        if st.detect_budget_reason:  # the worker dropped frames and lowered detection (detect_governor.py)
            out.append(f"camera {cid} detection lowered: the worker could not keep up")
    return out


def is_cool(worker: Worker, targets: dict[str, float | None], s: BalanceSettings) -> bool:
    m = worker.metrics
    if m is not None and (m.cpu_pct >= s.cpu_ok or m.mem_pct >= s.mem_ok):
        return False
    for cid, st in worker.camera_status.items():
        if st.state != "running":
            continue
        target = targets.get(cid)
        if target and st.fps < s.fps_ok_frac * target:
            return False
        if st.latency_ms >= s.latency_ok_ms or st.detect_budget_reason:
            return False
    return True


@dataclass
class _Watch:
    hot_since: float | None = None
    cool_since: float | None = None
    last_shed: float = float("-inf")


@dataclass
class LoadWatch:
    """Per-worker overload state with enter/exit hysteresis."""

    settings: BalanceSettings = field(default_factory=BalanceSettings)
    _w: dict[str, _Watch] = field(default_factory=dict)

    def update(self, worker: Worker, targets: dict[str, float | None], now: float) -> bool:
        """Update worker.overloaded; return True when it changed."""
        s = self.settings
        w = self._w.setdefault(worker.worker_id, _Watch())
        reasons = hot_reasons(worker, targets, s)
        before = worker.overloaded
        if not worker.overloaded:
            w.hot_since = (w.hot_since if w.hot_since is not None else now) if reasons else None
            if w.hot_since is not None and now - w.hot_since >= s.overload_hold_s:
                worker.overloaded = True
                w.cool_since = None
                log.warning("worker %s overloaded: %s", worker.worker_id, "; ".join(reasons))
        else:
            cool = is_cool(worker, targets, s)
            w.cool_since = (w.cool_since if w.cool_since is not None else now) if cool else None
            if w.cool_since is not None and now - w.cool_since >= s.clear_hold_s:
                worker.overloaded = False
                w.hot_since = None
                log.info("worker %s no longer overloaded", worker.worker_id)
        return before != worker.overloaded

    def may_shed(self, worker_id: str, now: float) -> bool:
        return now - self._w.setdefault(worker_id, _Watch()).last_shed >= self.settings.cooldown_s

    def shed(self, worker_id: str, now: float) -> None:
        self._w.setdefault(worker_id, _Watch()).last_shed = now

    def forget(self, worker_id: str) -> None:
        self._w.pop(worker_id, None)


def rebalance(cameras: dict[str, Camera], workers: dict[str, Worker], placement: dict[str, str],
              policy: Policy, watch: LoadWatch, now: float,
              blocked: Callable[[str, str], bool] = lambda c, w: False,
              settled: set[str] | None = None, reserved: dict[str, float] | None = None) -> list[Move]:
    """At most `max_moves` moves that relieve an overloaded worker or even out camera counts.

    settled: cameras whose lease is active (confirmed running) — only those may move.
    reserved: worker -> capacity its standby leases take (they count like the cameras they cost).
    """
    s = watch.settings
    res = reserved or {}
    cands = {wid: Candidate(w, reserved=res.get(wid, 0.0)) for wid, w in workers.items() if w.usable}
    for cid, wid in placement.items():
        if wid in cands:
            cands[wid].cameras.append(cid)
    moves: list[Move] = []

    def movable(cid: str, wid: str) -> bool:
        cam = cameras.get(cid)
        if cam is None or cam.pin == wid or (settled is not None and cid not in settled):
            return False
        return cam.last_moved is None or now - cam.last_moved >= s.dwell_s

    def fits(cam: Camera, dst: Candidate) -> bool:
        return dst.has_room and can_run(cam, dst.worker) and not blocked(cam.camera_id, dst.worker_id)

    # 1. Shed from overloaded workers to healthy ones.
    for src in sorted(cands.values(), key=lambda c: c.worker_id):
        if len(moves) >= s.max_moves:
            break
        if not src.worker.overloaded or not watch.may_shed(src.worker_id, now):
            continue
        order = sorted((cameras[c] for c in src.cameras if movable(c, src.worker_id)),
                       key=lambda c: (-c.priority_rank, c.camera_id))   # lowest priority first
        for cam in order:
            dsts = [d for d in cands.values() if d is not src and not d.worker.overloaded and fits(cam, d)]
            if not dsts:
                continue
            dst = policy.rank(cam, dsts)[0]
            src.cameras.remove(cam.camera_id)
            dst.cameras.append(cam.camera_id)
            watch.shed(src.worker_id, now)
            moves.append(Move(cam.camera_id, src.worker_id, dst.worker_id, "rebalance"))
            log.info("camera %s moves off overloaded worker %s to %s", cam.camera_id, src.worker_id,
                     dst.worker_id)
            break

    # 2. Even out camera counts (a worker joined or came back), healthy workers only.
    while len(moves) < s.max_moves:
        healthy = [c for c in cands.values() if not c.worker.overloaded]
        if len(healthy) < 2:
            break

        def fill(c: Candidate) -> float:
            return (len(c.cameras) + c.reserved) / max(1, c.worker.capabilities.capacity)

        src = max(healthy, key=lambda c: (fill(c), c.worker_id))
        dst = min(healthy, key=lambda c: (fill(c), c.worker_id))
        cs, cd = max(1, src.worker.capabilities.capacity), max(1, dst.worker.capabilities.capacity)
        ns, nd = len(src.cameras) + src.reserved, len(dst.cameras) + dst.reserved
        if src is dst or not (ns / cs > nd / cd and (ns - 1) / cs >= (nd + 1) / cd):
            break
        order = sorted((cameras[c] for c in src.cameras if movable(c, src.worker_id)),
                       key=lambda c: (-c.priority_rank, c.camera_id))
        pick = next((c for c in order if fits(c, dst)), None)
        if pick is None:
            break
        src.cameras.remove(pick.camera_id)
        dst.cameras.append(pick.camera_id)
        moves.append(Move(pick.camera_id, src.worker_id, dst.worker_id, "rebalance"))
        log.info("camera %s moves from worker %s (%g cameras) to %s (%g) to even the load",
                 pick.camera_id, src.worker_id, ns, dst.worker_id, nd)
    return moves
