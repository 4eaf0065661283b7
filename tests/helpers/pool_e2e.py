"""A real pool for the e2e tests: an in-process Master and worker processes on loopback.

Cameras count looped copies of the shared highway video with the shared YOLOX-nano model
at 10 detections per second of video (light enough for the 2-core CI box). The model, not
the motion detector: a detector without memory makes a handover exact after a short
tracker warm-up, which is what these tests check. `audit()` compares a camera's
stored events with an uninterrupted offline count of the same frames.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from campool_gui.harness.audit import AuditResult, compare, reference_crossings
from campool_gui.harness.bench_failover import Recorder
from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.store import Store
from campool_worker.camera import CameraConfig, CountingLine

AUDIT_MARGIN = 60   # frames at the end of a run that may still be on their way


VEHICLES = ["car", "truck", "bus", "motorcycle"]


def highway_cameras(video: Path, model: Path, n: int) -> list[CameraConfig]:
    return [CameraConfig(f"cam{i + 1}", str(video), lines=[CountingLine.parse("near:0,500,1280,500")],
                         model=str(model), classes=VEHICLES, detect_fps=10.0, loop=True) for i in range(n)]


def wait_for(cond, timeout: float, what: str, step: float = 0.1) -> float:
    """Poll until cond() is true; return the seconds it took. Fails the test with `what` on timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


_REFERENCE: dict[tuple[str, int], list] = {}


def audit_store(store: Store, cfg: CameraConfig, margin: int = AUDIT_MARGIN) -> tuple[AuditResult, int]:
    """Compare the stored events of frames [0, last stored - margin] with an offline count."""
    events = store.stored_events(cfg.camera_id)
    assert events, f"camera {cfg.camera_id}: nothing was stored"
    limit = max(e.frame_index for e in events) - margin
    key = (repr({**cfg.to_dict(), "camera_id": ""}), limit)
    ref = None
    for (k, lim), crossings in _REFERENCE.items():
        if k == key[0] and lim >= limit:
            ref = [c for c in crossings if c.frame_index <= limit]
            break
    if ref is None:
        crossings = reference_crossings(cfg, limit + 600)   # a little extra for the next camera's audit
        _REFERENCE[(key[0], limit + 600)] = crossings
        ref = [c for c in crossings if c.frame_index <= limit]
    return compare(ref, [e for e in events if e.frame_index <= limit]), limit


class E2EPool:
    def __init__(self, root: Path, workers: int = 3, capacity: int = 2, **master_kw) -> None:
        self.root = root
        self.master = Master(MasterSettings(data_dir=root / "master", zeroconf=False, **master_kw))
        self.master.start()
        self.rec = Recorder()
        self.master.subscribe(self.rec)
        self.workers = [LocalWorker(f"w{i + 1}", root / f"w{i + 1}", self.master.public_key, capacity=capacity)
                        for i in range(workers)]
        self.ids: dict[str, str] = {}
        self.configs: list[CameraConfig] = []

    def start(self, cameras: list[CameraConfig], extra: Sequence[LocalWorker] = ()) -> None:
        for lw in [*self.workers, *extra]:
            lw.start()
            self.ids[lw.name] = self.master.add_worker(*lw.adopt_args())
        for cfg in cameras:
            self.master.add_camera(cfg)
        self.configs = list(cameras)
        wait_for(lambda: all(c.state == "running" for c in self.master.snapshot().cameras), 60,
                 "every camera running")

    def worker(self, name: str) -> LocalWorker:
        return next(w for w in self.workers if w.name == name)

    def holding(self) -> dict[str, list[str]]:
        by_id = {v: k for k, v in self.ids.items()}
        out: dict[str, list[str]] = {name: [] for name in self.ids}
        for c in self.master.snapshot().cameras:
            if c.worker_id in by_id:
                out[by_id[c.worker_id]].append(c.camera_id)
        return out

    def busiest(self) -> str:
        h = self.holding()
        return max(h, key=lambda n: (len(h[n]), n))

    def epochs(self) -> dict[str, int]:
        return {c.camera_id: c.epoch for c in self.master.snapshot().cameras}

    def running_elsewhere(self, cameras: dict[str, int], away_from: str) -> bool:
        """Every camera runs under a newer epoch on a worker other than `away_from`."""
        snap = {c.camera_id: c for c in self.master.snapshot().cameras}

        def moved(cid: str, ep: int) -> bool:
            c = snap[cid]
            return (c.epoch > ep and c.worker_id not in (None, self.ids[away_from]) and c.state == "running"
                    and c.status is not None and c.status.epoch == c.epoch)

        return all(moved(cid, ep) for cid, ep in cameras.items())

    def audit(self) -> dict[str, tuple[AuditResult, int]]:
        """Stop everything, then compare (the offline reference count gets the CPU to itself)."""
        for lw in self.workers:
            lw.stop()
        self.master.stop()
        store = Store(self.master.store.path)
        try:
            return {cfg.camera_id: audit_store(store, cfg) for cfg in self.configs}
        finally:
            store.close()

    def close(self) -> None:
        try:
            self.master.stop()
        finally:
            for lw in self.workers:
                lw.stop()
