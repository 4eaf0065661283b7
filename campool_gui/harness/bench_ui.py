"""`campool-gui bench-ui`: how long the UI event loop stalls under a big, busy pool.

Load: 64 simulated workers x 8 cameras sending telemetry at 1 Hz (heartbeats spread
over the second, like real workers), and 16 live previews at 5 fps with tracks and
counts. The pool side is the real pool core (`PoolCore`: the same code the Master runs
on its pool thread) fed in-process by simulated workers that answer assignments and
send heartbeats and preview frames through its public methods, so the UI gets real
snapshots and events of full size; only the sockets are left out (the benchmark is
about the UI, and 64 worker processes do not fit a laptop).

With --job-segments N a job of N segments is in progress too (a 40-hour survey is 800 of 3
minutes), its progress sent every 0.5 s as the master sends it, and the Jobs view joins the cycle.

Measure: a 5 ms QTimer on the UI thread; each tick's lateness is the stall the operator
would feel (a click, a repaint delayed that long). Printed: p50 / p99 / max lateness,
overall and per view shown (Live with 16 tiles, Workers with 64 cards, Overview).
"""
from __future__ import annotations

import json
import logging
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from campool_gui.pool.clock import SystemClock
from campool_gui.pool.core import CoreSettings, PoolCore, SendAssign, SendPreview, SendUnassign
from campool_gui.pool.job_service import JobsChanged, JobView, SegmentView
from campool_gui.pool.jobs import JobSettings
from campool_gui.pool.models import Worker, WorkerCapabilities
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine, LineCounts, Zone

log = logging.getLogger(__name__)

TIMER_MS = 5
WARMUP_S = 3.0


@dataclass
class _SimWorker:
    worker_id: str
    cpu: float
    mem: float
    gpu: float | None
    gpu_name: str = ""
    capacity: int = 8
    cameras: dict[str, int] = field(default_factory=dict)  # camera -> epoch
    frames: dict[str, int] = field(default_factory=dict)


class SimulatedPool:
    """The real PoolCore, driven by simulated workers on two threads; offers the Master's
    read side (snapshot, subscribe) and the intents the UI uses while benchmarking."""

    def __init__(self, workers: int, cameras_per_worker: int, *, seed: int = 1, job_segments: int = 0) -> None:
        self.rng = random.Random(seed)
        self.core = PoolCore(SystemClock(), CoreSettings(startup_grace_s=0.0))
        self.lock = threading.Lock()
        self.subs: list = []
        self.sims: dict[str, _SimWorker] = {}
        self.preview: dict[str, tuple[str, int, float]] = {}  # camera -> (worker, width, fps)
        self.heartbeats = 0
        self.preview_frames = 0
        self._stop = threading.Event()
        for i in range(workers):
            wid = f"w{i:03d}"
            gpu = "RTX 4060" if i % 4 == 0 else ""
            caps = WorkerCapabilities(capacity=cameras_per_worker, gpu=bool(gpu), gpu_name=gpu)
            self.core.upsert_worker(Worker(wid, f"edge-{i + 1:02d}", address=f"10.0.{i // 200}.{i % 200 + 10}",
                                           adopted=True, public_key="K" * 40, capabilities=caps))
            self.sims[wid] = _SimWorker(wid, self.rng.uniform(10, 80), self.rng.uniform(20, 70),
                                        self.rng.uniform(10, 90) if gpu else None, gpu, cameras_per_worker)
        for i in range(workers * cameras_per_worker):
            self.core.add_camera(CameraConfig(
                f"cam-{i:04d}", f"rtsp://10.1.{i // 250}.{i % 250}/stream1", name=f"Camera {i + 1:03d}",
                lines=[CountingLine("entry", (40, 260), (600, 260))],
                zones=[Zone("queue", ((60, 280), (300, 280), (300, 350), (60, 350)))], site=f"site-{i % 4}"))
        self._frames = self._make_frames()
        self._threads = [threading.Thread(target=self._telemetry_loop, name="bench-telemetry", daemon=True),
                         threading.Thread(target=self._preview_loop, name="bench-previews", daemon=True)]
        self.job = _SimJob(job_segments, len(self.sims)) if job_segments else None
        self.job_events = 0
        if self.job is not None:
            self._threads.append(threading.Thread(target=self._job_loop, name="bench-job", daemon=True))

    @staticmethod
    def _make_frames(n: int = 12) -> list[bytes]:
        """JPEG previews made once: encoding them is the workers' cost, not the UI's."""
        out = []
        for k in range(n):
            img = np.full((360, 640, 3), (48, 52, 50), np.uint8)
            cv2.rectangle(img, (0, 200), (640, 360), (70, 70, 72), -1)
            for j in range(5):
                x = (k * 17 + j * 120) % 600
                cv2.rectangle(img, (x, 120 + j * 30), (x + 50, 150 + j * 30), (40 + 40 * j, 90, 200 - 30 * j), -1)
            out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes())
        return out

    # ------------------------------------------------------------------ Master-like surface
    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)

    def subscribe(self, cb):
        self.subs.append(cb)
        return lambda: self.subs.remove(cb) if cb in self.subs else None

    def snapshot(self):
        with self.lock:
            return self.core.snapshot()

    def job_views(self) -> list[JobView]:
        return [self.job.view()] if self.job is not None else []

    def _job_loop(self) -> None:
        """The job's progress as the master sends it: a JobsChanged every poll (0.5 s)."""
        assert self.job is not None
        while not self._stop.wait(JobSettings().poll_s):
            self.job.advance()
            self.job_events += 1
            self._emit([JobsChanged((self.job.view(),))])

    def set_preview(self, camera_id: str, on: bool, width: int = 320, fps: float = 2.0) -> None:
        with self.lock:
            self.core.set_preview(camera_id, on, width, fps)
            self._deliver()

    def _emit(self, events: list) -> None:
        for ev in events:
            for cb in list(self.subs):
                cb(ev)

    def _deliver(self) -> list:
        """Play the workers' side of the core's commands (under the lock)."""
        for act in self.core.take_actions():
            sim = self.sims.get(act.worker_id)
            if isinstance(act, SendAssign) and sim is not None:
                sim.cameras[act.camera.camera_id] = act.epoch
                sim.frames.setdefault(act.camera.camera_id, 0)
                self.core.assign_result(act.camera.camera_id, act.worker_id, act.epoch, True)
            elif isinstance(act, SendUnassign) and sim is not None:
                sim.cameras.pop(act.camera_id, None)
                self.preview.pop(act.camera_id, None)
            elif isinstance(act, SendPreview):
                if act.enabled:
                    self.preview[act.camera_id] = (act.worker_id, act.width, act.fps)
                else:
                    self.preview.pop(act.camera_id, None)
        self.core.take_records()
        return self.core.take_events()

    def _heartbeat(self, sim: _SimWorker, now: float) -> p.WorkerStatus:
        sim.cpu = min(99.0, max(2.0, sim.cpu + self.rng.uniform(-4, 4)))
        sim.mem = min(95.0, max(5.0, sim.mem + self.rng.uniform(-1, 1)))
        if sim.gpu is not None:
            sim.gpu = min(99.0, max(1.0, sim.gpu + self.rng.uniform(-5, 5)))
        cams = []
        for cid, epoch in sim.cameras.items():
            sim.frames[cid] = sim.frames.get(cid, 0) + 15
            cams.append(p.CameraTelemetry(cid, epoch, "running", 15.0 + self.rng.uniform(-1, 1),
                                          40 + self.rng.uniform(0, 30), sim.frames[cid], sim.frames[cid], None, 0, 0,
                                          False, "simulated", {"queue": self.rng.randint(0, 6)}))
        gpus = [] if sim.gpu is None else [p.GpuMetrics(0, sim.gpu_name, sim.gpu, 0.0, 0.0, 50.0)]
        return p.WorkerStatus(
            worker_id=sim.worker_id, name=sim.worker_id, version="bench", seq=1, boot_id="bench", clock=now,
            uptime_s=1.0, state="running", capacity=sim.capacity, gpu=sim.gpu_name, cameras=cams,
            system=p.SystemMetrics(sim.cpu, 0.0, sim.mem, 0.0, 0.0, 40.0, 0.0, 0.0, 0.0), gpus=gpus,
            outbox_pending=0, outbox_oldest_ts=None, rejected_messages=0, heartbeat_s=1.0,
            masters=[], storage=p.StorageStatus("ok", 1000.0, 0, ""))

    def _telemetry_loop(self) -> None:
        order = list(self.sims.values())
        step = 1.0 / max(1, len(order))  # heartbeats spread over each second
        last_tick = 0.0
        i = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            now_m = time.monotonic()
            with self.lock:
                sim = order[i % len(order)]
                self.core.heartbeat(sim.worker_id, self._heartbeat(sim, time.time()))
                self.heartbeats += 1
                if now_m - last_tick >= 0.2:
                    self.core.tick()
                    last_tick = now_m
                events = self._deliver()
            self._emit(events)
            i += 1
            next_at += step
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _preview_loop(self) -> None:
        k = 0
        next_at: dict[str, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            for cid, (wid, _width, fps) in list(self.preview.items()):
                if now < next_at.get(cid, 0.0):
                    continue
                next_at[cid] = now + 1.0 / fps
                k += 1
                jpeg = self._frames[k % len(self._frames)]
                x = [float((k * 3 + t * 90) % 560) for t in range(5)]
                tracks = [p.PreviewTrack(t, "car", 0.9, [x[t], 120.0 + t * 30, x[t] + 50, 150.0 + t * 30])
                          for t in range(5)]
                ev = p.PreviewFrame(wid, cid, 1, k, time.time(), 640, 360, tracks,
                                    {"entry": LineCounts(k // 7, k // 11, {"car": {"in": k // 7, "out": k // 11}})},
                                    {"queue": {"car": k % 5}}, jpeg)
                self.preview_frames += 1
                self._emit([ev])
            self._stop.wait(0.01)


class _SimJob:
    """A traffic survey in progress: `segments` segments of 3 minutes, one running on each worker,
    each a minute from start to end (so every poll moves a few dozen progress bars)."""

    SEGMENT_S = 180.0

    def __init__(self, segments: int, workers: int) -> None:
        self.progress = [0.0] * segments
        self.workers = workers
        self.submitted = time.time()

    def _running(self) -> list[int]:
        """The first unfinished segments, one per worker."""
        return [i for i, x in enumerate(self.progress) if x < 1.0][: self.workers]

    def advance(self) -> None:
        for i in self._running():
            self.progress[i] = min(1.0, self.progress[i] + JobSettings().poll_s / 60.0)

    def view(self) -> JobView:
        n = len(self.progress)
        running = set(self._running())
        segs = tuple(SegmentView(i, "/survey/north-cam.mp4", i * self.SEGMENT_S, (i + 1) * self.SEGMENT_S,
                                 "done" if x >= 1.0 else "running" if i in running else "queued", x,
                                 f"w{i % self.workers:03d}" if i in running or x >= 1.0 else None, 1, "")
                     for i, x in enumerate(self.progress))
        done = sum(self.progress) / n
        return JobView("survey", "north survey", "normal", "running" if done < 1.0 else "done", done, None,
                       ("/survey/north-cam.mp4",), int(n * self.SEGMENT_S * 30), segs, 0, 0, self.submitted,
                       None)


@dataclass
class _Lateness:
    """Each timer tick's lateness (ms past its interval), filed under the view on screen."""

    samples: dict[str, list[float]]
    phase: str
    last_ms: float | None = None

    def tick(self, now_ms: float) -> None:
        if self.last_ms is not None:
            self.samples[self.phase].append(max(0.0, now_ms - self.last_ms - TIMER_MS))
        self.last_ms = now_ms

    def switch(self, phase: str) -> None:
        self.phase, self.last_ms = phase, None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run_bench(workers: int = 64, cameras: int = 8, previews: int = 16, preview_fps: float = 5.0,
              seconds: float = 15.0, view: str = "cycle", job_segments: int = 0) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not (os.environ.get("DISPLAY") or
                                                               os.environ.get("WAYLAND_DISPLAY")) else "")
    if not os.environ["QT_QPA_PLATFORM"]:
        del os.environ["QT_QPA_PLATFORM"]
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer

    from campool_gui.ui import live_view, theme
    from campool_gui.ui.application import freeze_heap, make_app
    from campool_gui.ui.bridge import PoolBridge
    from campool_gui.ui.main_window import MainWindow

    grid = next((n for n in live_view.GRID_SIZES if n >= previews), 16)
    live_view.PREVIEW_FPS = preview_fps
    app = make_app()
    theme.apply(app, theme.DARK)
    load_before = os.getloadavg()
    # The same timer in an idle event loop first: what this machine alone costs (other
    # processes competing for the cores show up here, not only in the measurement).
    baseline = _measure_idle(min(3.0, seconds / 4))
    pool = SimulatedPool(workers, cameras, job_segments=job_segments)
    pool.start()
    bridge = PoolBridge(pool)
    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix="campool-bench-ui-")
    settings = QSettings(os.path.join(tmp.name, "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(bridge, settings, tray=False)
    window.resize(1600, 1000)
    window.show()
    window.pages["live"].set_grid(grid)  # type: ignore[attr-defined]

    def spin(sec: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(sec * 1000), loop.quit)
        loop.exec()

    # Warm up: the first snapshot builds 64 cards and the tables (a one-off, not a stall of the
    # steady state this measures); wait until the pool has placed every camera.
    w0 = time.monotonic()
    deadline = w0 + 90
    while time.monotonic() < deadline and bridge.state.totals.cameras_running < workers * cameras:
        spin(0.2)
    placed_s = time.monotonic() - w0
    phases = {"cycle": ["live", "workers", "overview", *(["jobs"] if job_segments else [])]}.get(view, [view])
    for key in phases:  # build each view once before measuring
        window.show_view(key)
        spin(WARMUP_S / len(phases))
    freeze_heap()  # as the application does once its window is up (see application.freeze_heap)

    samples: dict[str, list[float]] = {k: [] for k in phases}
    clock = QElapsedTimer()
    lateness = _Lateness(samples, phases[0])

    def on_tick() -> None:
        lateness.tick(clock.nsecsElapsed() / 1e6)

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(on_tick)
    hb0, job0 = pool.heartbeats, pool.job_events
    cpu0 = time.process_time()
    t0 = time.monotonic()
    clock.start()
    timer.start()
    ui_cpu0 = time.thread_time()
    per = seconds / len(phases)
    live_frames = live_decoded = 0
    live_s = 0.0
    for key in phases:
        window.show_view(key)
        lateness.switch(key)  # a view switch is not a steady-state stall
        f0, d0, s0 = pool.preview_frames, bridge.decoder.decoded_count, time.monotonic()
        spin(per)
        if key == "live":
            live_frames += pool.preview_frames - f0
            live_decoded += bridge.decoder.decoded_count - d0
            live_s += time.monotonic() - s0
    timer.stop()
    ui_cpu = time.thread_time() - ui_cpu0
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    painted = sum(t.frames_shown for t in window.pages["live"].tiles)  # type: ignore[attr-defined]
    result: dict[str, Any] = {
        "workers": workers, "cameras": workers * cameras, "previews": min(previews, grid),
        "preview_fps": preview_fps, "seconds": round(wall, 1), "timer_ms": TIMER_MS,
        "platform": app.platformName(),
        "stall_ms": _stats([x for v in samples.values() for x in v]),
        "per_view": {k: _stats(v) for k, v in samples.items()},
        "heartbeats_per_s": round((pool.heartbeats - hb0) / wall, 1),
        # Previews flow only while Live is on screen (that is the design): rates are over that time.
        "preview_frames_per_s": round(live_frames / live_s, 1) if live_s else 0.0,
        "decoded_per_s": round(live_decoded / live_s, 1) if live_s else 0.0,
        "tiles_painted_frames": painted,
        "process_cpu_percent": round(100 * cpu / wall, 1),
        "ui_thread_cpu_percent": round(100 * ui_cpu / wall, 1),
        "baseline_idle_stall_ms": baseline,
        "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "pool": "PoolCore fed in-process by simulated workers (no sockets)",
        "warmup_placement_s": round(placed_s, 1),
        "cameras_running": bridge.state.totals.cameras_running,
        "job_segments": job_segments,
        "job_events_per_s": round((pool.job_events - job0) / wall, 1) if job_segments else 0.0,
    }
    window.close()
    bridge.close()
    pool.stop()
    tmp.cleanup()
    return result


def _measure_idle(seconds: float) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    lateness: list[float] = []
    clock = QElapsedTimer()
    last: list[float] = []

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if last:
            lateness.append(max(0.0, now - last[0] - TIMER_MS))
            last[0] = now
        else:
            last.append(now)

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    return _stats(lateness)


def _stats(v: list[float]) -> dict[str, float]:
    if not v:
        return {"n": 0}
    return {"n": len(v), "p50": round(statistics.median(v), 2), "p99": round(_percentile(v, 0.99), 2),
            "max": round(max(v), 2)}


def bench_ui_command(args: Any) -> int:
    res = run_bench(args.workers, args.cameras, args.previews, args.preview_fps, args.seconds, args.view,
                    args.job_segments)
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
    else:
        s = res["stall_ms"]
        sys.stdout.write(
            f"UI event-loop stall with {res['workers']} workers x {res['cameras'] // max(1, res['workers'])} cameras "
            f"(telemetry {res['heartbeats_per_s']}/s) and {res['previews']} previews at {res['preview_fps']} fps:\n"
            f"  p50 {s.get('p50')} ms   p99 {s.get('p99')} ms   max {s.get('max')} ms   ({s.get('n')} ticks of "
            f"{res['timer_ms']} ms over {res['seconds']} s)\n")
        for k, v in res["per_view"].items():
            sys.stdout.write(f"  {k:9} p50 {v.get('p50')} ms   p99 {v.get('p99')} ms   max {v.get('max')} ms\n")
        b = res["baseline_idle_stall_ms"]
        sys.stdout.write(f"  idle event loop on this machine first: p99 {b.get('p99')} ms, max {b.get('max')} ms "
                         f"(load average {res['loadavg_1m_before_after'][0]})\n")
        sys.stdout.write(f"  previews while Live is shown: {res['preview_frames_per_s']}/s sent, "
                         f"{res['decoded_per_s']}/s decoded; UI thread CPU {res['ui_thread_cpu_percent']}%; "
                         f"process CPU {res['process_cpu_percent']}%\n")
    return 0
