"""Alert conditions: turn the pool state into observations for the alert rules, once per tick.

`Conditions` owns the history some conditions need (each worker's outbox backlog over the last
two minutes, each counting line's hits over the last minute, each camera's watched fraction of the
last hour as `CoverageWatch` last read it from the store) and reads everything else from the
`PoolState` it is given; the rules, hold times and lifecycle live in alerts.py.
"""
from __future__ import annotations

from collections import deque

from campool_worker.camera import CameraConfig
from campool_worker.protocol import CameraTelemetry

from .alerts import AlertManager
from .models import Worker
from .rates import RateWindow
from .state import PoolState

LINE_RATE_WINDOW_S = 60.0
STORAGE_KINDS = ("storage_failing", "storage_low")
BACKLOG_WINDOW_S = 120.0
STARVED_RECENT_S = 5.0  # refused detector runs this recent keep the detect_starved condition on


class Conditions:
    def __init__(self, alerts: AlertManager, startup_grace_s: float) -> None:
        self.alerts = alerts
        self.startup_grace_s = startup_grace_s
        self._backlog: dict[str, deque[tuple[float, int]]] = {}     # worker -> (now, events waiting)
        self._line_hits: dict[tuple[str, str], RateWindow] = {}     # (camera, line) -> its crossings
        self._coverage: dict[str, float | None] = {}                # camera -> watched fraction, last hour
        self._starved: dict[str, tuple[int, float]] = {}            # camera -> (refused runs, when they grew)

    # ------------------------------------------------------------- what they remember

    def backlog_seen(self, worker_id: str, now: float, pending: int) -> None:
        q = self._backlog.setdefault(worker_id, deque())
        q.append((now, pending))
        while q and q[0][0] < now - BACKLOG_WINDOW_S:
            q.popleft()

    def line_hit(self, camera_id: str, line: str, now: float) -> None:
        self._line_hits.setdefault((camera_id, line), RateWindow(LINE_RATE_WINDOW_S)).add(now)

    def coverage_seen(self, fractions: dict[str, float | None]) -> None:
        """Each camera's watched fraction of the last hour (None: no span data, not judged)."""
        self._coverage = dict(fractions)

    def forget_worker(self, worker_id: str) -> None:
        self._backlog.pop(worker_id, None)

    def forget_camera(self, camera_id: str) -> None:
        for key in [k for k in self._line_hits if k[0] == camera_id]:
            del self._line_hits[key]
        self._coverage.pop(camera_id, None)
        self._starved.pop(camera_id, None)

    def _detect_starved(self, config: CameraConfig, cid: str, name: str, st: CameraTelemetry | None,
                        now: float) -> None:
        """Alert while the worker refuses detector runs a camera's counting needs (its budget is spent)."""
        refused = st.detect_starved if st is not None else 0
        last, grew = self._starved.get(cid, (0, -1e18))
        if refused > last:
            grew = now
        self._starved[cid] = (refused, grew)
        active = st is not None and st.state == "running" and now - grew <= STARVED_RECENT_S
        why = st.detect_budget_reason if st is not None else ""
        if why:   # the worker lowered it: saturated, and this camera gives way to higher-priority ones
            message = (f"camera {name}: detection runs below its need: {refused} runs refused; {why}")
        else:
            message = (f"camera {name}: detection runs below its need: {refused} runs refused by its budget of "
                       f"{config.detect_budget:g} a second (the budget is too low for its scene); raise "
                       "detect_budget, or move it to a worker with room")
        self.alerts.observe("detect_starved", cid, active, value=float(refused), message=message)

    def never_heard_grace_s(self, w: Worker) -> float:
        """How long an adopted worker may stay silent after the master first knew it before it
        counts as down: a freshly adopted worker has not heartbeated yet."""
        return max(self.startup_grace_s, w.dead_after_s)

    # ------------------------------------------------------------- evaluation

    def evaluate(self, state: PoolState, now: float) -> None:
        for wid, w in state.workers.items():
            self._worker(state, wid, w, now)
        for cid in state.cameras:
            self._camera(state, cid, now)
        for name, problem in state.integrations.items():
            self.alerts.observe("integration_down", name, bool(problem), message=problem)

    def _worker(self, state: PoolState, wid: str, w: Worker, now: float) -> None:
        am = self.alerts
        name = w.name or wid
        # a flagged mDNS record is not adopted, but the operator must hear about it
        am.observe("key_conflict", wid, bool(w.key_conflict), message=f"worker {name}: {w.key_conflict}")
        if not w.adopted:
            return
        am.observe("protocol_mismatch", wid, bool(w.incompatible), message=f"worker {name}: {w.incompatible}")
        if not w.alive:
            known_since = w.known_since if w.known_since is not None else state.started
            if w.last_heartbeat is None and now - known_since >= self.never_heard_grace_s(w):
                # never heard from since the master knew it: as down as a dead one
                am.observe("worker_down", wid, True, message=f"worker {name} is not reachable")
            for kind in ("cpu_high", "mem_high", "gpu_temp_high", "disk_full", "outbox_backlog", *STORAGE_KINDS):
                am.observe(kind, wid, False)
            return
        am.observe("worker_down", wid, False)
        self._storage(wid, name, w)
        m = w.metrics
        if m is None:
            return
        self._above("cpu_high", wid, m.cpu_pct, f"worker {name}: CPU {m.cpu_pct:.0f} %")
        self._above("mem_high", wid, m.mem_pct, f"worker {name}: memory {m.mem_pct:.0f} %")
        self._above("gpu_temp_high", wid, m.gpu_temp_c, f"worker {name}: GPU at {m.gpu_temp_c} °C")
        self._above("disk_full", wid, m.disk_pct, f"worker {name}: disk {m.disk_pct} % full")
        thr = am.threshold("outbox_backlog", wid)
        q = self._backlog.get(wid)
        growing = False
        if thr is not None and q:
            oldest = q[0][1]
            growing = m.outbox_backlog > thr and m.outbox_backlog > oldest
        am.observe("outbox_backlog", wid, growing, value=float(m.outbox_backlog),
                   message=f"worker {name}: {m.outbox_backlog} count events waiting to reach the master")

    def _camera(self, state: PoolState, cid: str, now: float) -> None:
        am = self.alerts
        cam = state.cameras[cid]
        name = cam.config.name or cid
        lease = state.leases.get(cid)
        st = cam.status
        if lease is None or not state.worker_alive(lease.worker_id) or st is None or st.epoch != lease.epoch:
            st = None
        lost = st is not None and st.state in ("reconnecting", "failed")
        what = "stream lost" if st is None or st.state == "reconnecting" else "camera failed"
        am.observe("stream_lost", cid, lost, message=f"camera {name}: {what} ({st.last_error if st else ''})")
        target = cam.target_fps
        rule = am.threshold("fps_low", cid)
        low = bool(st is not None and st.state == "running" and target and rule is not None
                   and st.fps < rule * target)
        am.observe("fps_low", cid, low, value=st.fps if st else None,
                   message=f"camera {name}: {st.fps if st else 0:.1f} fps, target {target}")
        self._detect_starved(cam.config, cid, name, st, now)
        dl = state.dead.get(cid)
        am.observe("dead_letter", cid, dl is not None,
                   message=f"camera {name} failed on every worker: "
                           + "; ".join(f"{k}: {v}" for k, v in dl.errors.items()) if dl is not None else "")
        zones = st.zones if st is not None else {}
        for zone in [z.name for z in cam.config.zones]:
            subject = f"{cid}/{zone}"
            thr = am.threshold("zone_occupancy", subject)
            occ = zones.get(zone)
            am.observe("zone_occupancy", subject, thr is not None and occ is not None and occ > thr,
                       value=float(occ) if occ is not None else None,
                       message=f"camera {name}: zone {zone} holds {occ} (limit {thr})")
        watched = self._coverage.get(cid)
        low_cov = am.threshold("coverage_low", cid)
        am.observe("coverage_low", cid, watched is not None and low_cov is not None and watched < low_cov,
                   value=watched, message=f"camera {name}: watched {100 * (watched or 0):.1f} % of the last hour "
                                          f"(alert below {100 * (low_cov or 0):.0f} %); see the gaps in History")
        for line in [ln.name for ln in cam.config.lines]:
            subject = f"{cid}/{line}"
            hits = self._line_hits.get((cid, line))
            n = hits.count(now) if hits is not None else 0
            thr = am.threshold("line_rate", subject)
            am.observe("line_rate", subject, thr is not None and n > thr, value=float(n),
                       message=f"camera {name}: line {line} counted {n} in the last minute (limit {thr})")

    def _storage(self, wid: str, name: str, w: Worker) -> None:
        """The worker's own judgement of its storage (StorageStatus in each heartbeat), with its words."""
        st = w.storage
        state = st.state if st is not None else "ok"
        text = f"worker {name}: {st.message}" if st is not None else ""
        self.alerts.observe("storage_failing", wid, state == "failing", value=float(st.buffered) if st else None,
                            message=text)
        self.alerts.observe("storage_low", wid, state == "low", value=st.free_mb if st else None, message=text)

    def _above(self, kind: str, subject: str, value: float | None, message: str) -> None:
        thr = self.alerts.threshold(kind, subject)
        active = thr is not None and value is not None and value > thr
        self.alerts.observe(kind, subject, active, value=value, message=message)
