"""Turn the pool's state into alert conditions, once per tick (rules live in alerts.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import PoolCore

LINE_RATE_WINDOW_S = 60.0


def evaluate_alerts(core: "PoolCore", now: float) -> None:
    am = core.alerts
    grace = now - core.started < core.settings.startup_grace_s
    for wid, w in core.workers.items():
        name = w.name or wid
        # a flagged mDNS record is not adopted, but the operator must hear about it
        am.observe("key_conflict", wid, bool(w.key_conflict), message=f"worker {name}: {w.key_conflict}")
        if not w.adopted:
            continue
        if not w.alive:
            if not grace and w.last_heartbeat is None:
                # never heard from since the master started: as down as a dead one
                am.observe("worker_down", wid, True, message=f"worker {name} is not reachable")
            for kind in ("cpu_high", "mem_high", "gpu_temp_high", "disk_full", "outbox_backlog"):
                am.observe(kind, wid, False)
            continue
        am.observe("worker_down", wid, False)
        m = w.metrics
        if m is None:
            continue
        _above(core, "cpu_high", wid, m.cpu_pct, f"worker {name}: CPU {m.cpu_pct:.0f} %")
        _above(core, "mem_high", wid, m.mem_pct, f"worker {name}: memory {m.mem_pct:.0f} %")
        _above(core, "gpu_temp_high", wid, m.gpu_temp_c, f"worker {name}: GPU at {m.gpu_temp_c} °C")
        _above(core, "disk_full", wid, m.disk_pct, f"worker {name}: disk {m.disk_pct} % full")
        thr = am.threshold("outbox_backlog", wid)
        q = core._backlog.get(wid)
        growing = False
        if thr is not None and q:
            oldest = q[0][1]
            growing = m.outbox_backlog > thr and m.outbox_backlog > oldest
        am.observe("outbox_backlog", wid, growing, value=float(m.outbox_backlog),
                   message=f"worker {name}: {m.outbox_backlog} count events waiting to reach the master")

    for cid, cam in core.cameras.items():
        lease = core.leases.get(cid)
        w = core.workers.get(lease.worker_id) if lease else None
        st = cam.status if (lease and w and w.alive and cam.status and cam.status.epoch == lease.epoch) else None
        lost = st is not None and st.state in ("reconnecting", "failed")
        what = "stream lost" if st is None or st.state == "reconnecting" else "camera failed"
        am.observe("stream_lost", cid, lost,
                   message=f"camera {cam.config.name or cid}: {what} ({st.last_error if st else ''})")
        target = cam.target_fps
        rule = am.threshold("fps_low", cid)
        low = bool(st is not None and st.state == "running" and target and rule is not None
                   and st.fps < rule * target)
        am.observe("fps_low", cid, low, value=st.fps if st else None,
                   message=f"camera {cam.config.name or cid}: {st.fps if st else 0:.1f} fps, target {target}")
        am.observe("dead_letter", cid, cid in core.dead,
                   message=f"camera {cam.config.name or cid} failed on every worker: "
                           + "; ".join(f"{k}: {v}" for k, v in core.dead[cid].errors.items()) if cid in core.dead else "")
        zones = st.zones if st is not None else {}
        for zone in [z.name for z in cam.config.zones]:
            subject = f"{cid}/{zone}"
            thr = am.threshold("zone_occupancy", subject)
            occ = zones.get(zone)
            am.observe("zone_occupancy", subject, thr is not None and occ is not None and occ > thr,
                       value=float(occ) if occ is not None else None,
                       message=f"camera {cam.config.name or cid}: zone {zone} holds {occ} (limit {thr})")
        for line in [ln.name for ln in cam.config.lines]:
            subject = f"{cid}/{line}"
            hits = core._line_hits.get((cid, line))
            n = 0
            if hits is not None:
                while hits and hits[0] < now - LINE_RATE_WINDOW_S:
                    hits.popleft()
                n = len(hits)
            thr = am.threshold("line_rate", subject)
            am.observe("line_rate", subject, thr is not None and n > thr, value=float(n),
                       message=f"camera {cam.config.name or cid}: line {line} counted {n} in the last minute "
                               f"(limit {thr})")


def _above(core: "PoolCore", kind: str, subject: str, value: float | None, message: str) -> None:
    thr = core.alerts.threshold(kind, subject)
    active = thr is not None and value is not None and value > thr
    core.alerts.observe(kind, subject, active, value=value, message=message)
