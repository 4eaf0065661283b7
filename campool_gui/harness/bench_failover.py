"""`campool-gui bench-failover`: SIGKILL a worker under load, print how fast its cameras moved.

A real master (in this process) and real worker processes on loopback count looped
copies of the shared highway video (or the synthetic camera when the data is absent).
Each round SIGKILLs the worker holding the most cameras and times, from the kill:
- detection_s: the master declares the worker offline (missed heartbeats);
- replacement_s: every one of its cameras has a new lease (epoch + 1) on another worker;
- first_frame_s: every one of them is reported running under the new epoch;
then restarts the killed worker (same data folder and ports, so its outbox is delivered).
At the end every camera's stored events are compared with an uninterrupted offline count
of the same frames: lost and duplicated events (see audit.py).
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from campool_gui.demo import shared_data_dir
from campool_gui.harness.audit import Crossing, compare, reference_crossings
from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.views import CameraChanged, WorkerChanged
from campool_worker.camera import CameraConfig, CountingLine

log = logging.getLogger(__name__)


def shared_file(relative: str) -> Path | None:
    """A file of the shared data (../shared/data or $CAMPOOL_SHARED_DATA), when it is there."""
    root = shared_data_dir()
    path = root / relative if root is not None else None
    return path if path is not None and path.is_file() else None


def bench_cameras(n: int, video: str | None, model: str | None = None) -> list[CameraConfig]:
    src = video or (str(shared_file("videos/highway.mp4")) if shared_file("videos/highway.mp4") else None)
    if model is None and shared_file("models/yolox_nano.onnx"):
        model = str(shared_file("models/yolox_nano.onnx"))
    out = []
    for i in range(n):
        if src:
            # YOLOX at 10 detections per second of video: light enough for 2 cores. A model
            # rather than the motion detector: its background model has a long memory, so a
            # handover's short warm-up does not reproduce it exactly (see the report).
            out.append(CameraConfig(f"cam{i + 1}", src, lines=[CountingLine.parse("near:0,500,1280,500")],
                                    model=model, classes=["car", "truck", "bus", "motorcycle"] if model else None,
                                    detect_fps=10.0, loop=True))
        else:
            out.append(CameraConfig(f"cam{i + 1}", f"synthetic://?w=480&h=270&fps=15&objects=3&seed={i + 1}",
                                    lines=[CountingLine.parse("mid:0,135,480,135")]))
    return out


class Recorder:
    """Timestamps (monotonic) of the pool events the benchmark waits for."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offline: dict[str, float] = {}
        # worker -> seconds the master had heard nothing from it when it declared it offline
        self.silence: dict[str, float] = {}
        self.leased: dict[tuple[str, int], tuple[float, str | None]] = {}   # (camera, epoch) -> first seen
        self.running: dict[tuple[str, int], float] = {}

    def __call__(self, ev: object) -> None:
        now = time.monotonic()
        with self.lock:
            if isinstance(ev, WorkerChanged) and ev.worker.state.value == "offline":
                if ev.worker.worker_id not in self.offline and ev.worker.last_seen is not None:
                    self.silence[ev.worker.worker_id] = time.time() - ev.worker.last_seen
                self.offline.setdefault(ev.worker.worker_id, now)
            elif isinstance(ev, CameraChanged):
                c = ev.camera
                if c.worker_id is not None:
                    self.leased.setdefault((c.camera_id, c.epoch), (now, c.worker_id))
                if c.state == "running" and c.status is not None and c.status.epoch == c.epoch:
                    self.running.setdefault((c.camera_id, c.epoch), now)


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_failover_bench(*, workers: int = 3, cameras: int = 6, repeat: int = 3, video: str | None = None,
                       settle_s: float = 8.0, keep: str | None = None) -> dict[str, Any]:
    if workers < 2:
        raise ValueError("bench-failover needs at least 2 workers (one is killed)")
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="campool-failover-"))
    master = Master(MasterSettings(data_dir=tmp / "master", zeroconf=False))
    master.start()
    rec = Recorder()
    master.subscribe(rec)
    capacity = math.ceil(cameras / (workers - 1))
    local = [LocalWorker(f"bench-w{i + 1}", tmp / f"w{i + 1}", master.public_key, capacity=capacity)
             for i in range(workers)]
    runs: list[dict[str, float]] = []
    try:
        ids: dict[str, str] = {}
        for lw in local:
            lw.start()
            ids[lw.name] = master.add_worker(*lw.adopt_args())
        configs = bench_cameras(cameras, video)
        for cfg in configs:
            master.add_camera(cfg)
        wait_until(lambda: all(c.state == "running" for c in master.snapshot().cameras), 60, "every camera running")
        time.sleep(settle_s)
        for r in range(repeat):
            runs.append(_kill_round(r + 1, master, rec, local, ids))
        audit = _audit(master, configs)
    finally:
        master.stop()
        for lw in local:
            lw.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)

    def stat(key: str) -> dict[str, float]:
        vals = [r[key] for r in runs]
        return {"median": round(statistics.median(vals), 3), "max": round(max(vals), 3)} if vals else {}

    return {
        "workers": workers, "cameras": cameras, "repeat": repeat,
        "source": configs[0].source if configs else "", "model": configs[0].model if configs else None,
        "heartbeat_s": 1.0, "liveness": 3,
        "detection_s": stat("detection_s"), "silence_s": stat("silence_s"), "replacement_s": stat("replacement_s"),
        "first_frame_s": stat("first_frame_s"), "runs": runs, **audit,
    }


def _kill_round(n: int, master: Master, rec: Recorder, local: list[LocalWorker],
                ids: dict[str, str]) -> dict[str, float]:
    """SIGKILL the worker holding the most cameras, time their move, restart it; returns the round's figures."""
    snap = master.snapshot()
    holding = {lw.name: [c for c in snap.cameras if c.worker_id == ids[lw.name]] for lw in local}
    victim = max(local, key=lambda lw: (len(holding[lw.name]), lw.name))
    vid = ids[victim.name]
    moved = {c.camera_id: c.epoch for c in holding[victim.name]}
    with rec.lock:
        rec.offline.pop(vid, None)      # an earlier round's record of this worker
    t0 = time.monotonic()
    victim.kill()
    log.info("round %d: killed %s holding %s", n, victim.name, sorted(moved))

    def replaced() -> bool:
        with rec.lock:
            return all(any(cid == k[0] and k[1] > ep and v[1] != vid for k, v in rec.leased.items())
                       for cid, ep in moved.items())

    def first_frames() -> bool:
        with rec.lock:
            return all(any(cid == k[0] and k[1] > ep for k in rec.running) for cid, ep in moved.items())

    wait_until(lambda: vid in rec.offline, 30, f"{victim.name} declared offline")
    wait_until(replaced, 30, "its cameras re-placed")
    wait_until(first_frames, 60, "its cameras running elsewhere")
    with rec.lock:
        detection = rec.offline.pop(vid) - t0
        silence = rec.silence.pop(vid, float("nan"))
        replacement = max(min(v[0] for k, v in rec.leased.items() if k[0] == cid and k[1] > ep)
                          for cid, ep in moved.items()) - t0
        first = max(min(t for k, t in rec.running.items() if k[0] == cid and k[1] > ep)
                    for cid, ep in moved.items()) - t0
    # detection = the liveness window (dead_after_s) minus the time from the worker's last
    # heartbeat to the kill (which depends on when in its heartbeat period it was killed), plus
    # the master's tick: silence_s shows the master's part alone.
    result = {"cameras_moved": len(moved), "detection_s": round(detection, 3), "silence_s": round(silence, 3),
              "replacement_s": round(replacement, 3), "first_frame_s": round(first, 3)}
    log.info("round %d: %s", n, result)
    victim.start()
    wait_until(lambda: any(w.worker_id == vid and w.state.value in ("online", "busy", "degraded")
                      for w in master.snapshot().workers), 30, f"{victim.name} back online")
    time.sleep(3.0)
    with rec.lock:
        flapped = rec.offline.pop(vid, None)
    if flapped is not None:
        log.warning("%s went offline again after its restart", victim.name)
    return result


def _audit(master: Master, configs: list[CameraConfig]) -> dict[str, Any]:
    """Stored events vs an uninterrupted offline count of the same frames."""
    snap = master.snapshot()
    last = {c.camera_id: (c.status.frame_index if c.status else -1) for c in snap.cameras}
    time.sleep(2.0)                       # events of those frames reach the store
    master.store.flush()
    lost = dup = expected = stored = 0
    per_camera = {}
    cache: dict[str, list[Crossing]] = {}
    for cfg in configs:
        limit = last.get(cfg.camera_id, -1) - 30
        if limit <= 0:
            continue
        key = repr({**cfg.to_dict(), "camera_id": ""})
        if key not in cache:
            cache[key] = reference_crossings(cfg, max(v for v in last.values()))
        ref = [c for c in cache[key] if c.frame_index <= limit]
        got = [e for e in master.store.stored_events(cfg.camera_id) if e.frame_index <= limit]
        res = compare(ref, got)
        per_camera[cfg.camera_id] = {"frames": limit, "expected": res.expected, "stored": res.stored,
                                     "lost": res.lost, "duplicated": res.duplicated}
        lost += res.lost
        dup += res.duplicated
        expected += res.expected
        stored += res.stored
    return {"lost": lost, "duplicated": dup, "expected_events": expected, "stored_events": stored,
            "fenced_events": snap.totals.events_fenced, "per_camera": per_camera}


def bench_failover(args: Any) -> int:
    """The CLI entry: reads json, workers, cameras, repeat, video, seconds, keep from args;
    with --live the live RTSP bench (bench_failover_live.py) runs instead."""
    if getattr(args, "live", False):
        from campool_gui.harness.bench_failover_live import bench_failover_live
        return bench_failover_live(args)
    result = run_failover_bench(
        workers=int(getattr(args, "workers", 3) or 3), cameras=int(getattr(args, "cameras", 6) or 6),
        repeat=int(getattr(args, "repeat", 3) or 3), video=getattr(args, "video", None),
        settle_s=float(getattr(args, "seconds", None) or 8.0), keep=getattr(args, "keep", None))
    if getattr(args, "json", False):
        print(json.dumps(result, indent=None, sort_keys=True))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0
