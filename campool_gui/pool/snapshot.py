"""Frozen views of the pool state (views.py), built on the pool thread.

Pure functions of a `PoolState` and of what else they need, passed in: the times to show
("now" on the core's monotonic clock and the wall clock), the breakers' last errors, the alerts
and the placement policy. The pool core calls them for its snapshot and for the coalesced
WorkerChanged / CameraChanged events.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from .alerts import Alert
from .standby import Shadows, effective_standby
from .state import PoolState
from .views import CameraView, MasterView, PoolSnapshot, StandbyView, WorkerView, pool_totals

RESOLVED_ALERTS_SHOWN = 50

ErrorsOf = Callable[[str], dict[str, str]]   # camera -> worker -> last error there (the breakers)


def camera_state(state: PoolState, cid: str) -> tuple[str, str]:
    """(state, reason) in the operator's words."""
    if cid in state.dead:
        return "dead_letter", "failed on every worker"
    lease = state.leases.get(cid)
    if lease is None:
        why = state.unplaced.get(cid)
        return ("waiting", why) if why else ("unassigned", state.reasons.get(cid, ""))
    if lease.state == "failed":
        if cid in state.retries.due:
            return "retrying", state.reasons.get(cid, "")
        return "waiting", state.unplaced.get(cid, state.reasons.get(cid, ""))
    if not state.worker_alive(lease.worker_id):
        return "waiting", state.unplaced.get(cid, f"worker {lease.worker_id} is offline")
    st = state.cameras[cid].status
    if st is None or st.epoch != lease.epoch:
        return "assigning", state.preparing.get(cid) or state.reasons.get(cid, "")
    return st.state, st.last_error or state.reasons.get(cid, "")


def standby_view(state: PoolState, cid: str, shadows: Shadows | None = None) -> StandbyView | None:
    """Where the camera's standby is and how it is, or None when it has none and wants none."""
    sb = state.standbys.get(cid)
    if sb is None:
        why = state.standby_waiting.get(cid)
        if why is None:
            return None
        mode = effective_standby(state.cameras[cid], state.workers.values())
        return StandbyView(cid, None, mode, "waiting", why)
    held = shadows.held(cid) if shadows is not None else 0
    if sb.state == "failed":
        return StandbyView(cid, sb.worker_id, sb.mode, "failed", state.reasons.get(cid, ""), held=held,
                           epoch=sb.epoch)
    if not state.worker_alive(sb.worker_id):
        return StandbyView(cid, sb.worker_id, sb.mode, "waiting", f"worker {sb.worker_id} is offline", held=held,
                           epoch=sb.epoch)
    tel = state.standby_status.get(cid)
    if tel is None or tel.epoch != sb.epoch:
        return StandbyView(cid, sb.worker_id, sb.mode, "assigning", held=held, epoch=sb.epoch)
    return StandbyView(cid, sb.worker_id, sb.mode, tel.state, tel.last_error or "", buffered_s=tel.buffered_s,
                       held=held, epoch=sb.epoch)


def camera_view(state: PoolState, cid: str, errors_of: ErrorsOf, shadows: Shadows | None = None) -> CameraView:
    cam = state.cameras[cid]
    lease = state.live_lease(cid)
    status, reason = camera_state(state, cid)
    dl = state.dead.get(cid)
    return CameraView(
        camera_id=cid, config=cam.config, pin=cam.pin, pin_return=cam.pin_return,
        worker_id=lease.worker_id if lease is not None else None,
        epoch=state.fence.epoch_of(cid), state=status, reason=reason, status=cam.status,
        counts={ln: c.copy() for ln, c in state.counts.get(cid, {}).items()}, fenced=cam.fenced,
        errors=dict(dl.errors) if dl else errors_of(cid), target_fps=cam.target_fps,
        preview=cid in state.previews, standby=standby_view(state, cid, shadows),
        standby_mode=effective_standby(cam, state.workers.values()), standby_pin=cam.standby_pin,
        shadowed=cam.shadowed)


def worker_view(state: PoolState, wid: str, *, now: float, wall: float,
                held: dict[str, tuple[str, ...]] | None = None, own_key: str = "",
                shadows: Shadows | None = None) -> WorkerView:
    """now / wall: the core's clock now (monotonic and wall). held: state.cameras_by_worker(),
    when views of many workers are built at once. own_key: this master's public key (its entry
    in the worker's masters is marked)."""
    w = state.workers[wid]
    cameras = (held if held is not None else state.cameras_by_worker()).get(wid, ())
    last_seen = None
    if w.last_heartbeat is not None:
        last_seen = wall - (now - w.last_heartbeat)
    latencies = []
    for cid in cameras:
        st = state.cameras[cid].status
        if st is not None and camera_state(state, cid)[0] == "running":
            latencies.append(st.latency_ms)
    journal = state.journals.get(wid)
    return WorkerView(
        worker_id=wid, name=w.name, address=w.address, state=w.state, capacity=w.capabilities.capacity,
        gpu=w.capabilities.gpu_name, site=w.capabilities.site, cameras=cameras,
        metrics=w.metrics, history=tuple(w.history), last_seen=last_seen,
        key_fingerprint=w.public_key[:8], public_key=w.public_key, key_conflict=w.key_conflict, overloaded=w.overloaded,
        draining=w.draining, version=w.version, last_error=w.last_error, adopted=w.adopted,
        latency_ms=sum(latencies) / len(latencies) if latencies else None,
        started_at=w.started_wall if w.alive else None,
        jobs_ok=journal.jobs_ok if journal else 0, jobs_failed=journal.jobs_failed if journal else 0,
        events=tuple(journal.events) if journal else (), storage=w.storage if w.alive else None,
        masters=tuple(MasterView(m.key, m.name, m.adopted_at, bool(own_key) and m.key == own_key) for m in w.masters),
        standbys=tuple(v for v in (standby_view(state, cid, shadows) for cid, sb in sorted(state.standbys.items())
                                   if sb.worker_id == wid) if v is not None))


def build_snapshot(state: PoolState, *, now: float, wall: float, policy: str, errors_of: ErrorsOf,
                   open_alerts: Sequence[Alert], all_alerts: Sequence[Alert], own_key: str = "",
                   shadows: Shadows | None = None) -> PoolSnapshot:
    """The whole picture. open_alerts: in id order; all_alerts: every alert kept (the latest
    RESOLVED_ALERTS_SHOWN resolved ones are shown after the open ones)."""
    held = state.cameras_by_worker()
    workers = tuple(worker_view(state, wid, now=now, wall=wall, held=held, own_key=own_key, shadows=shadows)
                    for wid in sorted(state.workers))
    cameras = tuple(camera_view(state, cid, errors_of, shadows) for cid in sorted(state.cameras))
    closed = sorted((a for a in all_alerts if not a.open), key=lambda a: -a.id)[:RESOLVED_ALERTS_SHOWN]
    alerts = tuple(replace(a) for a in [*open_alerts, *closed])
    totals = pool_totals(workers, cameras, events_stored=state.events_stored, events_fenced=state.events_fenced,
                         throughput_per_min=state.recently_stored.per_minute(now),
                         events_shadowed=state.events_shadowed)
    return PoolSnapshot(ts=wall, policy=policy, workers=workers, cameras=cameras, alerts=alerts,
                        dead_letters=tuple(sorted(state.dead)), totals=totals)
