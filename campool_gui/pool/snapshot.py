"""Frozen views of the pool core's state (built on the pool thread)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .views import CameraView, PoolSnapshot, PoolTotals, WorkerView

if TYPE_CHECKING:
    from .core import PoolCore


def cameras_by_worker(core: "PoolCore") -> dict[str, tuple[str, ...]]:
    """worker -> the cameras it holds a live lease for, sorted; one pass over the leases."""
    held: dict[str, list[str]] = {}
    for cid, lease in core.leases.items():
        if lease.state != "failed":
            held.setdefault(lease.worker_id, []).append(cid)
    return {wid: tuple(sorted(cids)) for wid, cids in held.items()}


def worker_view(core: "PoolCore", wid: str, held: dict[str, tuple[str, ...]] | None = None) -> WorkerView:
    """held: cameras_by_worker(core), when views of many workers are built at once."""
    w = core.workers[wid]
    if held is None:
        held = cameras_by_worker(core)
    last_seen = None
    if w.last_heartbeat is not None:
        last_seen = core.clock.wall() - (core.clock.now() - w.last_heartbeat)
    return WorkerView(
        worker_id=wid, name=w.name, address=w.address, state=w.state, capacity=w.capabilities.capacity,
        gpu=w.capabilities.gpu_name, site=w.capabilities.site,
        cameras=held.get(wid, ()),
        metrics=w.metrics, history=tuple(w.history), last_seen=last_seen,
        key_fingerprint=w.public_key[:8], public_key=w.public_key, key_conflict=w.key_conflict, overloaded=w.overloaded,
        draining=w.draining, version=w.version, last_error=w.last_error)


def camera_state(core: "PoolCore", cid: str) -> tuple[str, str]:
    """(state, reason) in the operator's words."""
    if cid in core.dead:
        return "dead_letter", "failed on every worker"
    lease = core.leases.get(cid)
    if lease is None:
        why = core.unplaced.get(cid)
        return ("waiting", why) if why else ("unassigned", core.reasons.get(cid, ""))
    if lease.state == "failed":
        if cid in core.retries.due:
            return "retrying", core.reasons.get(cid, "")
        return "waiting", core.unplaced.get(cid, core.reasons.get(cid, ""))
    w = core.workers.get(lease.worker_id)
    if w is None or not w.alive:
        return "waiting", core.unplaced.get(cid, f"worker {lease.worker_id} is offline")
    cam = core.cameras[cid]
    st = cam.status
    if st is None or st.epoch != lease.epoch:
        return "assigning", core.preparing.get(cid) or core.reasons.get(cid, "")
    return st.state, st.last_error or core.reasons.get(cid, "")


def camera_view(core: "PoolCore", cid: str) -> CameraView:
    cam = core.cameras[cid]
    lease = core.leases.get(cid)
    state, reason = camera_state(core, cid)
    dl = core.dead.get(cid)
    return CameraView(
        camera_id=cid, config=cam.config, pin=cam.pin, pin_return=cam.pin_return,
        worker_id=lease.worker_id if lease and lease.state != "failed" else None,
        epoch=core.fence.epoch_of(cid), state=state, reason=reason, status=cam.status,
        counts={ln: dict(v) for ln, v in core.counts.get(cid, {}).items()}, fenced=cam.fenced,
        errors=dict(dl.errors) if dl else core.breakers.errors(cid), target_fps=cam.target_fps,
        preview=cid in core.previews)


def build_snapshot(core: "PoolCore") -> PoolSnapshot:
    from dataclasses import replace
    held = cameras_by_worker(core)
    workers = tuple(worker_view(core, wid, held) for wid in sorted(core.workers))
    cameras = tuple(camera_view(core, cid) for cid in sorted(core.cameras))
    open_alerts = core.alerts.open_alerts()
    closed = sorted((a for a in core.alerts.alerts.values() if not a.open), key=lambda a: -a.id)[:50]
    alerts = tuple(replace(a) for a in open_alerts + closed)
    cin = sum(v.get("in", 0) for c in core.counts.values() for v in c.values())
    cout = sum(v.get("out", 0) for c in core.counts.values() for v in c.values())
    totals = PoolTotals(
        workers_online=sum(1 for w in core.workers.values() if w.adopted and w.alive),
        workers_total=sum(1 for w in core.workers.values() if w.adopted),
        cameras_running=sum(1 for c in cameras if c.state == "running"), cameras_total=len(cameras),
        events_stored=core.events_stored, events_fenced=core.events_fenced, counts_in=cin, counts_out=cout)
    return PoolSnapshot(ts=core.clock.wall(), policy=core.policy.name, workers=workers, cameras=cameras,
                        alerts=alerts, dead_letters=tuple(sorted(core.dead)), totals=totals)
