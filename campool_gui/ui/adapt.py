"""From the pool core's views (campool_gui.pool.views) to the UI's view types (ui/state.py).

Runs on the bridge's refresher thread, never on the UI thread. It is incremental where
it matters: a worker's sparkline history only grows by the samples that are new since
the last snapshot, and unchanged views are reused as they are, so a refresh of 64
workers x 8 cameras costs little and the UI can tell exactly which cards to redraw.

It also derives what the pool core does not keep itself but an operator wants to see:
the pool throughput (count events per minute) from the stored-events total, a worker's
event log from its state changes and alerts, and its success rate from the outcome of
the camera leases it held (a lease that reached "running" vs one that failed there).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from campool_gui.ui.state import (
    HISTORY_POINTS, AlertView, CameraView, PreviewOverlay, Track, WorkerView, compute_totals,
)

if TYPE_CHECKING:
    from campool_gui.ui.bridge import StateDiff, UiState

log = logging.getLogger(__name__)

THROUGHPUT_WINDOW_S = 60.0
THROUGHPUT_POINTS = 600


@dataclass
class HistoryQuery:
    """Counts per bucket over [start, end) (wall-clock seconds)."""

    start: float
    end: float
    bucket: str = "hour"  # minute | hour | day
    camera_id: str | None = None  # None = all cameras
    line: str | None = None  # a line or zone name; None = all
    by_class: bool = True
    zone: bool = False  # `line` names a zone: peak occupancy per minute instead of crossings


@dataclass
class HistoryRow:
    bucket_ts: float
    camera_id: str
    line: str
    direction: str  # in | out | occupancy
    class_name: str
    count: int


@dataclass
class _WorkerTrack:
    last_hist_ts: float = 0.0
    history: dict[str, deque] = field(default_factory=dict)
    status: str = ""
    online_since: float | None = None
    events: deque = field(default_factory=lambda: deque(maxlen=200))
    leases_ok: set = field(default_factory=set)  # (camera, epoch) that ran here
    leases_failed: set = field(default_factory=set)
    cameras: tuple = ()


class Adapter:
    """Keeps what it needs between snapshots to build the next UiState and its diff."""

    def __init__(self) -> None:
        self._workers: dict[str, _WorkerTrack] = {}
        self._prev_workers: dict[str, WorkerView] = {}
        self._prev_cameras: dict[str, CameraView] = {}
        self._prev_alert_states: dict[Any, str] = {}
        self._events_stored: deque[tuple[float, int]] = deque()
        self._throughput: deque[tuple[float, float]] = deque(maxlen=THROUGHPUT_POINTS)
        self._first = True

    def build(self, snap: Any, now: float | None = None) -> tuple["UiState", "StateDiff"]:
        from campool_gui.ui.bridge import StateDiff, UiState

        now = now or time.time()
        cameras = {c.camera_id: self._camera(c) for c in snap.cameras}
        lat_by_worker: dict[str, list[float]] = {}
        for c in cameras.values():
            if c.worker_id and c.latency_ms is not None and c.state == "running":
                lat_by_worker.setdefault(c.worker_id, []).append(c.latency_ms)
        names = {c.camera_id: f"camera {c.config.name or c.camera_id}" for c in snap.cameras}
        names.update({w.worker_id: f"worker {w.name}" for w in snap.workers})
        alerts = {a.id: _alert(a, names) for a in snap.alerts}
        for a in alerts.values():  # alerts about a worker go into its event log too
            tr = self._workers.get(a.subject)
            if tr is not None and self._prev_alert_states.get(a.alert_id) != a.state:
                tr.events.append((a.ts if a.state == "open" else now, f"alert {a.state}: {a.message}"))
        workers = {w.worker_id: self._worker(w, cameras, lat_by_worker.get(w.worker_id), now) for w in snap.workers}
        for gone in set(self._workers) - set(workers):
            del self._workers[gone]

        throughput = self._update_throughput(int(getattr(snap.totals, "events_stored", 0)), now)
        totals = compute_totals(workers, cameras, throughput)
        from campool_gui.pool.scheduler import POLICIES
        state = UiState(
            workers=workers, cameras=cameras, alerts=alerts, totals=totals, policy=str(snap.policy),
            policies=list(POLICIES), data_dir="", throughput=list(self._throughput),
            load=[(w.name, (len(w.cameras) / w.capacity) if w.capacity else 0.0)
                  for w in sorted(workers.values(), key=lambda w: w.name.lower()) if w.adopted],
        )
        diff = StateDiff(
            workers=_changed(self._prev_workers, workers, _worker_key),
            cameras=_changed(self._prev_cameras, cameras, _camera_key),
            alerts_changed={k: a.state for k, a in alerts.items()} != self._prev_alert_states,
            new_alerts=[] if self._first else [a for k, a in alerts.items()
                                               if k not in self._prev_alert_states and a.state != "resolved"],
        )
        self._prev_workers, self._prev_cameras = workers, cameras
        self._prev_alert_states = {k: a.state for k, a in alerts.items()}
        self._first = False
        return state, diff

    # ------------------------------------------------------------------ pieces
    def _worker(self, w: Any, cameras: dict[str, CameraView], latencies: list[float] | None,
                now: float) -> WorkerView:
        state = getattr(w.state, "value", str(w.state))
        tr = self._workers.setdefault(w.worker_id, _WorkerTrack(
            history={m: deque(maxlen=HISTORY_POINTS) for m in ("cpu", "mem", "gpu", "fps")}))
        # Event log: state transitions and camera moves, as the master saw them.
        if tr.status != state:
            if tr.status:
                tr.events.append((now, f"{tr.status} → {state}" + (f": {w.last_error}" if w.last_error else "")))
            else:
                tr.events.append((now, f"seen as {state}"))
            tr.status = state
        online = state in ("online", "busy", "degraded", "draining")
        if online and tr.online_since is None:
            tr.online_since = now
        elif not online:
            tr.online_since = None
        cams = tuple(w.cameras)
        if cams != tr.cameras:
            for cid in sorted(set(cams) - set(tr.cameras)):
                tr.events.append((now, f"camera {cid} assigned"))
            for cid in sorted(set(tr.cameras) - set(cams)):
                tr.events.append((now, f"camera {cid} moved off"))
            tr.cameras = cams
        for cid in cams:
            c = cameras.get(cid)
            if c is None:
                continue
            if c.state == "running":
                tr.leases_ok.add((cid, c.epoch))
            elif c.state in ("failed", "dead_letter"):
                tr.leases_failed.add((cid, c.epoch))
        # Sparkline history: only the samples newer than last time; a new deque so the UI
        # thread, which may be reading the previous one, never sees it change.
        new = [m for m in w.history if m.ts > tr.last_hist_ts]
        if new:
            hist = {k: deque(v, maxlen=HISTORY_POINTS) for k, v in tr.history.items()}
            for m in new[-HISTORY_POINTS:]:
                hist["cpu"].append((m.ts, float(m.cpu_pct)))
                hist["mem"].append((m.ts, float(m.mem_pct)))
                if m.gpu_pct is not None:
                    hist["gpu"].append((m.ts, float(m.gpu_pct)))
                hist["fps"].append((m.ts, float(m.fps_total)))
            tr.history = hist
            tr.last_hist_ts = new[-1].ts
        m = w.metrics
        started = w.started_at if w.started_at is not None else tr.online_since
        return WorkerView(
            worker_id=w.worker_id, name=w.name, status=state, address=w.address,
            adopted=state not in ("discovered", "adopting"),
            fingerprint=w.public_key or w.key_fingerprint,
            gpu=w.gpu or None, capacity=int(w.capacity), cameras=list(cams),
            cpu=m.cpu_pct if m else None, mem=m.mem_pct if m else None,
            gpu_util=m.gpu_pct if m else None, fps=m.fps_total if m else None,
            latency_ms=(sum(latencies) / len(latencies)) if latencies else None,
            started_at=started if online else None, last_seen=w.last_seen,
            jobs_ok=len(tr.leases_ok - tr.leases_failed), jobs_failed=len(tr.leases_failed),
            version=w.version, history=tr.history, events=tuple(tr.events),
        )

    def _camera(self, c: Any) -> CameraView:
        st = c.status
        err = c.reason if c.state not in ("running",) else ""
        if st is not None and st.last_error and c.state != "running":
            err = st.last_error
        zones = {}
        if st is not None and st.zones:
            zones = {z: ({"all": int(n)} if not isinstance(n, dict) else n) for z, n in st.zones.items()}
        return CameraView(
            config=c.config, state=c.state, worker_id=c.worker_id, pinned_to=c.pin, epoch=int(c.epoch),
            fps=(st.fps if st is not None and c.state == "running" else None),
            latency_ms=(st.latency_ms if st is not None and c.state == "running" else None),
            last_error=err or "", counts={ln: lc.to_dict() for ln, lc in c.counts.items()}, zones=zones,
        )

    def _update_throughput(self, stored: int, now: float) -> float:
        self._events_stored.append((now, stored))
        while len(self._events_stored) > 2 and now - self._events_stored[1][0] >= THROUGHPUT_WINDOW_S:
            self._events_stored.popleft()
        t0, n0 = self._events_stored[0]
        span = now - t0
        rate = 0.0 if span < 1.0 else max(0, stored - n0) * 60.0 / span
        if not self._throughput or now - self._throughput[-1][0] >= 1.0:
            self._throughput.append((now, rate))
        return rate


def _alert(a: Any, names: dict[str, str]) -> AlertView:
    msg = a.message + (f"  (×{a.count})" if getattr(a, "count", 1) > 1 else "")
    state = {"raised": "open"}.get(a.state, a.state)
    # Subjects are ids ("gate-2", "gate-2/queue", a worker id); show the operator's names.
    head, _, rest = str(a.subject).partition("/")
    source = names.get(head, head) + (f" / {rest}" if rest else "")
    return AlertView(alert_id=a.id, severity=a.severity, ts=float(a.raised_at), source=source,
                     message=msg, state=state, kind=a.kind, subject=str(a.subject))


def _worker_key(w: WorkerView) -> tuple:
    last = tuple(h[-1] if h else None for h in w.history.values())
    return (w.name, w.status, w.address, w.adopted, w.gpu, w.capacity, tuple(w.cameras), w.cpu, w.mem,
            w.gpu_util, w.fps, w.latency_ms, w.jobs_ok, w.jobs_failed, len(w.events), last, w.fingerprint)


def _camera_key(c: CameraView) -> tuple:
    return (c.config, c.state, c.worker_id, c.pinned_to, c.epoch, c.fps, c.latency_ms, c.last_error,
            repr(c.counts), repr(c.zones))


def _changed(prev: dict, new: dict, key) -> list[str]:
    out = [k for k in new if k not in prev or key(prev[k]) != key(new[k])]
    out += [k for k in prev if k not in new]
    return out


# ------------------------------------------------------------------ events and intents

def preview_of(event: Any) -> tuple[str, bytes, PreviewOverlay] | None:
    """(camera id, JPEG, overlay) when `event` is a preview frame, else None."""
    if type(event).__name__ != "PreviewFrame":
        return None
    tracks = []
    for t in event.tracks:
        if isinstance(t, tuple):
            tid, cls, _score, box = t
        else:  # a protocol PreviewTrack
            tid, cls, box = t.track_id, t.class_name, t.box
        tracks.append(Track(int(tid), tuple(float(v) for v in box), str(cls)))
    counts = {}
    for name, c in (event.counts or {}).items():
        if isinstance(c, dict):
            counts[name] = c
        else:  # protocol LineCounts
            counts[name] = {"in": c.in_total, "out": c.out_total}
    overlay = PreviewOverlay(frame_index=int(event.frame_index),
                             source_width=int(event.source_width),
                             source_height=int(event.source_height),
                             tracks=tracks, counts=counts, zones=dict(event.zones or {}))
    return event.camera_id, bytes(event.jpeg), overlay


def set_preview(master: Any, camera_id: str, on: bool, width: int, fps: float) -> None:
    master.set_preview(camera_id, on, width, fps)


def query_history(master: Any, q: HistoryQuery) -> list[HistoryRow]:
    """Counts per bucket from the master's store (line crossings), or peak occupancy per minute
    for a zone of one camera. Reads SQLite: call it off the UI thread."""
    if q.zone:
        if not q.camera_id:
            raise ValueError("zone occupancy is kept per camera; choose the camera of that zone")
        rows = [r for r in master.zone_history(q.camera_id, q.start, q.end) if q.line in (None, r.get("line"))]
    else:
        rows = master.history(q.start, q.end, bucket=q.bucket, camera_id=q.camera_id, line=q.line,
                              by_class=q.by_class)
    return [HistoryRow(bucket_ts=float(r["bucket_ts"]), camera_id=str(r["camera_id"]), line=str(r["line"]),
                       direction=str(r["direction"]), class_name=str(r.get("class_name") or "all"),
                       count=int(r["count"])) for r in rows]
