"""The pool as the integrations see it, kept from the master's change stream (no threads, no I/O).

`PoolMirror.load` starts it from one snapshot and today's counts read from the history; `apply`
then takes each event of the change stream (views.py), and `tick` lets time pass (the day rolls
at local midnight, per-minute rates slide). MQTT and the metrics endpoint both read it.

Totals are the master's *stored* totals: each `CountsChanged` carries them whole (idempotent), and
the snapshot's come from the store after a restart. Today's totals and rates are counted from the
newly stored events that `CountsChanged` carries, by the event's own time; the few events that
were already in the history when today's counts were read (stored between the subscription and
the read) are recognised by their (camera, epoch, seq) and not counted twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from campool_gui.pool.alerts import SEVERITIES, Alert
from campool_gui.pool.rates import RateWindow
from campool_gui.pool.views import (
    AlertChanged,
    CameraChanged,
    CameraRemoved,
    CameraView,
    CountsChanged,
    PoolSnapshot,
    WorkerChanged,
    WorkerRemoved,
    WorkerView,
)
from campool_worker.camera import LineCounts

from .localday import DayTotals, Key

DIRECTIONS = ("in", "out")
RATE_WINDOW_S = 60.0
SKIP_KEYS_FOR_S = 120.0      # how long events already read with today's counts may still arrive


@dataclass(frozen=True)
class AlertTransition:
    """An alert changed state: raised, acknowledged or resolved (a repeat folded into it is not one)."""

    event: str
    alert: Alert


@dataclass
class _Frames:
    epoch: int
    progress: tuple[int, int]   # (frames processed, last frame index) as the worker reported them
    wall: float | None          # master wall time of the heartbeat that first showed the last frame


class PoolMirror:
    def __init__(self, now: float, tz: tzinfo | None = None) -> None:
        self.cameras: dict[str, CameraView] = {}
        self.workers: dict[str, WorkerView] = {}
        self.totals: dict[str, dict[str, LineCounts]] = {}      # camera -> line -> stored totals
        self.today = DayTotals(now, tz)
        self.open_alerts: dict[int, Alert] = {}
        self.loaded = False
        self._rates: dict[Key, RateWindow] = {}
        self._frames: dict[str, _Frames] = {}
        self._alert_states: dict[int, str] = {}
        self._skip: set[tuple[str, int, int]] = set()
        self._skip_until = 0.0

    # ------------------------------------------------------------- input

    def load(self, snap: PoolSnapshot, today: dict[Key, int], already_counted: set[tuple[str, int, int]],
             now: float) -> None:
        """The starting picture: a snapshot, today's counts from the history, and the keys of the
        recent events those counts include (their CountsChanged may still be on its way)."""
        for w in snap.workers:
            if w.adopted:
                self.workers[w.worker_id] = w
        for c in snap.cameras:
            self._camera(c, now)
        for a in snap.alerts:
            if a.open:
                self.open_alerts[a.id] = a
                self._alert_states[a.id] = a.state
        self.today.roll(now)
        self.today.load(today)
        self._skip = set(already_counted)
        self._skip_until = now + SKIP_KEYS_FOR_S
        self.loaded = True

    def apply(self, event: object, now: float) -> list[AlertTransition]:
        """One event of the change stream; returns the alert transitions it makes."""
        if isinstance(event, CountsChanged):
            self._counts(event, now)
        elif isinstance(event, CameraChanged):
            self._camera(event.camera, now)
        elif isinstance(event, CameraRemoved):
            self._forget_camera(event.camera_id)
        elif isinstance(event, WorkerChanged):
            if event.worker.adopted:
                self.workers[event.worker.worker_id] = event.worker
            else:
                self.workers.pop(event.worker.worker_id, None)
        elif isinstance(event, WorkerRemoved):
            self.workers.pop(event.worker_id, None)
        elif isinstance(event, AlertChanged):
            return self._alert(event.alert)
        return []

    def tick(self, now: float) -> bool:
        """Time passes: True when a new day started (today's totals went back to zero)."""
        if self._skip and now >= self._skip_until:
            self._skip = set()
        return self.today.roll(now)

    def _camera(self, view: CameraView, now: float) -> None:
        cid = view.camera_id
        self.cameras[cid] = view
        self.totals[cid] = {ln: c.copy() for ln, c in view.counts.items()}
        st = view.status
        if st is None:
            return
        seen = self._frames.get(cid)
        progress = (st.frames, st.frame_index)
        if seen is None or seen.epoch != st.epoch:
            # a new epoch restarts the worker's counters: frames already there are news too
            self._frames[cid] = _Frames(st.epoch, progress, now if st.frames > 0 or st.frame_index >= 0 else None)
        elif progress != seen.progress:
            self._frames[cid] = _Frames(st.epoch, progress, now)

    def _counts(self, ev: CountsChanged, now: float) -> None:
        self.totals[ev.camera_id] = {ln: c.copy() for ln, c in ev.counts.items()}
        for e in ev.events:
            if self._skip and (e.camera_id, e.epoch, e.seq) in self._skip:
                continue
            key = (e.camera_id, e.line, e.direction, e.class_name)
            self.today.add(key, e.ts)
            if e.ts >= now - RATE_WINDOW_S:
                self._rates.setdefault(key, RateWindow(RATE_WINDOW_S)).add(e.ts)

    def _forget_camera(self, camera_id: str) -> None:
        self.cameras.pop(camera_id, None)
        self.totals.pop(camera_id, None)
        self._frames.pop(camera_id, None)
        self.today.forget_camera(camera_id)
        for key in [k for k in self._rates if k[0] == camera_id]:
            del self._rates[key]

    def _alert(self, a: Alert) -> list[AlertTransition]:
        before = self._alert_states.get(a.id)
        if a.open:
            self.open_alerts[a.id] = a
            self._alert_states[a.id] = a.state
        else:
            self.open_alerts.pop(a.id, None)
            self._alert_states.pop(a.id, None)
        if before == a.state:
            return []
        return [AlertTransition(a.state, a)]

    # ------------------------------------------------------------- what the integrations read

    def classes(self, camera_id: str) -> list[str]:
        """The classes a camera counts: those it is configured for, and any it has counted or seen."""
        cam = self.cameras.get(camera_id)
        names: set[str] = set(cam.config.classes or []) if cam is not None else set()
        for c in self.totals.get(camera_id, {}).values():
            names.update(c.by_class)
        if cam is not None and cam.status is not None:
            for occ in cam.status.zone_classes.values():
                names.update(occ)
        names.update(k[3] for k in self.today.counts if k[0] == camera_id)
        return sorted(names)

    def lines(self, camera_id: str) -> list[str]:
        """Its configured lines (a line taken off the camera is taken off MQTT and the metrics too)."""
        cam = self.cameras.get(camera_id)
        return [ln.name for ln in cam.config.lines] if cam is not None else []

    def zones(self, camera_id: str) -> list[str]:
        cam = self.cameras.get(camera_id)
        return [z.name for z in cam.config.zones] if cam is not None else []

    def total(self, camera_id: str, line: str, direction: str, class_name: str | None = None) -> int:
        c = self.totals.get(camera_id, {}).get(line)
        if c is None:
            return 0
        if class_name is None:
            return c.in_total if direction == "in" else c.out_total
        return c.by_class.get(class_name, {}).get(direction, 0)

    def today_count(self, camera_id: str, line: str, direction: str, class_name: str | None = None) -> int:
        if class_name is not None:
            return self.today.get((camera_id, line, direction, class_name))
        return sum(n for k, n in self.today.counts.items() if k[:3] == (camera_id, line, direction))

    def rate(self, camera_id: str, line: str, direction: str, class_name: str | None, now: float) -> int:
        """Crossings in the last minute (by the events' own time)."""
        if class_name is not None:
            w = self._rates.get((camera_id, line, direction, class_name))
            return w.count(now) if w is not None else 0
        return sum(w.count(now) for k, w in self._rates.items() if k[:3] == (camera_id, line, direction))

    def occupancy(self, camera_id: str) -> dict[str, dict[str, int]]:
        """zone -> class -> objects in it now, as its worker last reported (empty while it does not run)."""
        cam = self.cameras.get(camera_id)
        if cam is None or not cam.running or cam.status is None:
            return {z: {} for z in self.zones(camera_id)}
        st = cam.status
        return {z: dict(st.zone_classes.get(z, {})) for z in self.zones(camera_id)}

    def zone_total(self, camera_id: str, zone: str) -> int:
        cam = self.cameras.get(camera_id)
        if cam is None or not cam.running or cam.status is None:
            return 0
        st = cam.status
        if zone in st.zone_classes:
            return sum(st.zone_classes[zone].values())
        return int(st.zones.get(zone, 0))

    def last_frame_wall(self, camera_id: str) -> float | None:
        seen = self._frames.get(camera_id)
        return seen.wall if seen is not None else None

    def open_by_severity(self) -> dict[str, int]:
        out = dict.fromkeys(SEVERITIES, 0)
        for a in self.open_alerts.values():
            out[a.severity] = out.get(a.severity, 0) + 1
        return out

