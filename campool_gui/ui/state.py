"""The UI's picture of the pool, kept current by applying the pool core's change stream.

The widgets read the pool's own views (`WorkerView`, `CameraView`, `PoolTotals`, `Alert`);
this module only holds them together and keeps them current:

* `UiState`: the latest view of every worker, camera and alert, the totals over them, the
  placement policy and the throughput trend. One immutable value per refresh: the UI thread
  holds one while the bridge builds the next, and nobody changes it under the widgets.
* `ChangeBuffer`: what the pool reported since the last refresh, written on pool threads. It
  keeps the latest `WorkerChanged` / `CameraChanged` per id (a removal is a change too),
  the latest `AlertChanged` per alert and the newest `CountsChanged` totals per camera, so it
  stays as small as the pool however long a refresh takes.
* `StateMerger`: starts from one `PoolSnapshot` and applies each batch of changes to the
  previous state, saying which ids changed. The core already says what changed: nothing here
  compares views to find out.

No Qt; time is passed in.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

from campool_gui.pool.alerts import Alert
from campool_gui.pool.rates import RateWindow
from campool_gui.pool.snapshot import RESOLVED_ALERTS_SHOWN
from campool_gui.pool.state import THROUGHPUT_WINDOW_S
from campool_gui.pool.views import (
    AlertChanged,
    CameraChanged,
    CameraRemoved,
    CameraView,
    CountsChanged,
    PoolSnapshot,
    PoolTotals,
    WorkerChanged,
    WorkerRemoved,
    WorkerView,
    pool_totals,
)
from campool_worker.camera import LineCounts

THROUGHPUT_POINTS = 600  # points of the throughput trend (10 minutes at one a second)


@dataclass(frozen=True)
class UiState:
    """What the widgets show. `totals` are `pool_totals` of these views; its `throughput_per_min`
    and `events_stored` come from the `CountsChanged` stream (stored count events), and
    `events_fenced` (and `events_shadowed`) are summed over the cameras shown, like `counts_in` / `counts_out`."""

    workers: dict[str, WorkerView] = field(default_factory=dict)
    cameras: dict[str, CameraView] = field(default_factory=dict)
    alerts: dict[int, Alert] = field(default_factory=dict)   # open ones and the latest resolved
    totals: PoolTotals = field(default_factory=PoolTotals)
    policy: str = ""
    policies: tuple[str, ...] = ()
    throughput: tuple[tuple[float, float], ...] = ()   # (wall time, count events stored per minute)

    @cached_property
    def worker_names(self) -> dict[str, str]:
        """worker id -> its name."""
        return {w.worker_id: w.name for w in self.workers.values()}

    @cached_property
    def names(self) -> dict[str, str]:
        """worker or camera id -> how the operator calls it ("worker edge-1", "camera Gate 2")."""
        out = {c.camera_id: f"camera {c.name}" for c in self.cameras.values()}
        out.update({w.worker_id: f"worker {w.name}" for w in self.workers.values()})
        return out


@dataclass(frozen=True)
class StateDiff:
    """What a refresh changed: the ids to redraw, and the alerts to notify."""

    workers: tuple[str, ...] = ()    # added, updated or removed
    cameras: tuple[str, ...] = ()
    alerts_changed: bool = False
    new_alerts: tuple[Alert, ...] = ()   # first seen open (raised) in this refresh

    @property
    def empty(self) -> bool:
        return not (self.workers or self.cameras or self.alerts_changed)


@dataclass
class Changes:
    """One batch of pool changes, latest per id. None stands for a removal."""

    workers: dict[str, WorkerView | None] = field(default_factory=dict)
    cameras: dict[str, CameraView | None] = field(default_factory=dict)
    counts: dict[str, dict[str, LineCounts]] = field(default_factory=dict)  # newer than the camera's view
    alerts: dict[int, Alert] = field(default_factory=dict)
    events_stored: int = 0           # count events stored in this batch
    policy: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.workers or self.cameras or self.counts or self.alerts or self.events_stored
                    or self.policy is not None)


class ChangeBuffer:
    """Collects the pool's events (any thread) until the bridge takes them as one `Changes`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes = Changes()

    def add(self, event: object) -> bool:
        """Keep `event` if it is a change of the pool's state; True when it was."""
        with self._lock:
            ch = self._changes
            if isinstance(event, WorkerChanged):
                ch.workers[event.worker.worker_id] = event.worker
            elif isinstance(event, CameraChanged):
                cid = event.camera.camera_id
                ch.cameras[cid] = event.camera
                ch.counts.pop(cid, None)  # this view's counts are as new as any reported before it
            elif isinstance(event, CountsChanged):
                ch.counts[event.camera_id] = event.counts
                ch.events_stored += len(event.events)
            elif isinstance(event, AlertChanged):
                ch.alerts[event.alert.id] = event.alert
            elif isinstance(event, WorkerRemoved):
                ch.workers[event.worker_id] = None
            elif isinstance(event, CameraRemoved):
                ch.cameras[event.camera_id] = None
                ch.counts.pop(event.camera_id, None)
            else:
                return False
            return True

    def set_policy(self, name: str) -> None:
        """The placement policy changed (the core sends no event for it: the UI asked for it)."""
        with self._lock:
            self._changes.policy = name

    def take(self) -> Changes:
        with self._lock:
            out, self._changes = self._changes, Changes()
            return out

    def clear(self) -> None:
        self.take()


class StateMerger:
    """Builds each `UiState` from the previous one and a batch of changes (one thread only)."""

    def __init__(self, policies: Iterable[str] = ()) -> None:
        self.state = UiState(policies=tuple(policies))
        self._stored = RateWindow(THROUGHPUT_WINDOW_S)
        self._events_stored = 0
        self._started: float | None = None      # monotonic time of the first state
        self._trend: deque[tuple[float, float]] = deque(maxlen=THROUGHPUT_POINTS)
        self._first = True

    def reset(self, snap: PoolSnapshot, now: float, wall: float) -> tuple[UiState, StateDiff]:
        """Start over from a whole snapshot: every id in it (and every id that is gone) changed.
        The alerts open in it are not new: the operator is only notified of alerts raised later."""
        prev = self.state
        workers = {w.worker_id: w for w in snap.workers}
        cameras = {c.camera_id: c for c in snap.cameras}
        alerts = {a.id: a for a in snap.alerts}
        new_alerts = () if self._first else tuple(a for a in snap.alerts if a.id not in prev.alerts and a.open)
        self._events_stored = snap.totals.events_stored
        if self._started is None:
            self._started = now
        self.state = self._build(workers, cameras, alerts, snap.policy, now, wall, totals=None)
        self._first = False
        diff = StateDiff(workers=tuple(sorted(workers.keys() | prev.workers.keys())),
                         cameras=tuple(sorted(cameras.keys() | prev.cameras.keys())),
                         alerts_changed=bool(alerts or prev.alerts), new_alerts=new_alerts)
        return self.state, diff

    def apply(self, ch: Changes, now: float, wall: float) -> tuple[UiState, StateDiff]:
        """Apply one batch on top of the current state; the views are taken as they come."""
        prev = self.state
        if self._started is None:
            self._started = now
        workers = prev.workers
        if ch.workers:
            workers = dict(workers)
            for wid, wv in ch.workers.items():
                if wv is None:
                    workers.pop(wid, None)
                else:
                    workers[wid] = wv
        cameras = prev.cameras
        changed_cams: set[str] = set(ch.cameras)
        if ch.cameras or ch.counts:
            cameras = dict(cameras)
            for cid, cv in ch.cameras.items():
                if cv is None:
                    cameras.pop(cid, None)
                else:
                    cameras[cid] = cv
            for cid, counts in ch.counts.items():
                cam = cameras.get(cid)
                if cam is not None:
                    cameras[cid] = replace(cam, counts=counts)
                    changed_cams.add(cid)
        alerts = prev.alerts
        new_alerts: list[Alert] = []
        if ch.alerts:
            alerts = dict(alerts)
            for aid, a in ch.alerts.items():
                if aid not in alerts and a.open:
                    new_alerts.append(a)
                alerts[aid] = a
            alerts = _keep_shown(alerts)
        if ch.events_stored:
            self._stored.add(now, ch.events_stored)
            self._events_stored += ch.events_stored
        same_views = workers is prev.workers and cameras is prev.cameras
        self.state = self._build(workers, cameras, alerts, ch.policy or prev.policy, now, wall,
                                 totals=prev.totals if same_views else None)
        diff = StateDiff(workers=tuple(sorted(ch.workers)), cameras=tuple(sorted(changed_cams)),
                         alerts_changed=bool(ch.alerts), new_alerts=tuple(new_alerts))
        return self.state, diff

    # ------------------------------------------------------------------ pieces
    def _throughput(self, now: float) -> float:
        """Count events stored per minute over the last minute, or over the time since the UI
        started while that is shorter (so the figure does not ramp up for a minute)."""
        assert self._started is not None
        span = min(THROUGHPUT_WINDOW_S, now - self._started)
        return 0.0 if span < 1.0 else self._stored.count(now) * 60.0 / span

    def _build(self, workers: dict[str, WorkerView], cameras: dict[str, CameraView], alerts: dict[int, Alert],
               policy: str, now: float, wall: float, totals: PoolTotals | None) -> UiState:
        rate = self._throughput(now)
        if totals is None:
            totals = pool_totals(workers.values(), cameras.values(), events_stored=self._events_stored,
                                 events_fenced=sum(c.fenced for c in cameras.values()), throughput_per_min=rate,
                                 events_shadowed=sum(c.shadowed for c in cameras.values()))
        elif totals.throughput_per_min != rate or totals.events_stored != self._events_stored:
            totals = replace(totals, throughput_per_min=rate, events_stored=self._events_stored)
        if not self._trend or wall - self._trend[-1][0] >= 1.0:
            self._trend.append((wall, rate))
        prev = self.state
        return UiState(workers=workers, cameras=cameras, alerts=alerts, totals=totals, policy=policy,
                       policies=prev.policies, throughput=tuple(self._trend))


def _keep_shown(alerts: dict[int, Alert]) -> dict[int, Alert]:
    """The open alerts and the latest resolved ones, as the pool's snapshot shows them."""
    resolved = [aid for aid, a in alerts.items() if not a.open]
    if len(resolved) <= RESOLVED_ALERTS_SHOWN:
        return alerts
    drop = set(sorted(resolved)[:len(resolved) - RESOLVED_ALERTS_SHOWN])
    return {aid: a for aid, a in alerts.items() if aid not in drop}
