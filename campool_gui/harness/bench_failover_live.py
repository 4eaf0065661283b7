"""`campool-gui bench-failover --live`: fail the worker holding a live RTSP camera, audit the counts.

Real parts on this machine: one gst-rtsp-server camera per camera looping the shared highway
video at real time (rtsp_camera.py, always on: the stream runs on whether anyone watches, like
a camera), a master in this process and two worker processes counting vehicles on the line
``near:0,500,1280,500`` with YOLOX-nano at 10 detections per second, each camera with the
`--standby` setting. Halfway through the run the worker holding the most cameras is SIGKILLed
(or SIGSTOPped for N seconds, or cut off from the LAN for N seconds: `--kill partition`, every
worker then runs in a network namespace of its own, see netns.py; or left alone: `--kill none`
measures the audit's own noise). `--kill camera` fails the stream instead: every camera's server
is killed, like a camera losing power, and started again N seconds later; nobody can watch it
meanwhile, so nothing may be promoted, and every worker watching it must record the hole.
The cameras stream a copy of the video with a key frame every 2 s (the file itself has one
every 8.3 s, which would make every new client wait for a picture far longer than a real
camera makes it). A killed worker is restarted after the run window, as a service manager would, so what its
outbox still held reaches the master before the audit.

The audit (live_audit.py): the offline count of the file, placed on each camera's timeline by
the loop starts the camera reported, against the crossings the master stored, over the run
window less a warm-up at the start and a tail at the end (the same window for both sides).
Printed: lost and duplicated crossings, the seconds from the kill to the first frame elsewhere,
the outage the master recorded (from its coverage history, when the store has one), and what a
standby costs (CPU and memory of a worker that holds only standbys, per camera, from psutil).
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import shutil
import signal
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from campool_gui.harness.audit import Crossing, reference_crossings
from campool_gui.harness.bench_failover import shared_file, wait_until
from campool_gui.harness.launcher import LocalWorker
from campool_gui.harness.live_audit import (
    MatchResult,
    TimedCrossing,
    loop_crossings,
    map_to_stream,
    match_crossings,
    percentile,
)
from campool_gui.harness.netns import HostAddress, Namespace, NetnsUnavailable, unique_tag
from campool_gui.harness.rtsp_camera import RtspCamera, gi_rtsp_missing
from campool_gui.pool import coverage
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.views import CameraChanged, CameraView
from campool_worker.camera import CameraConfig, CountingLine

log = logging.getLogger(__name__)

KillKind = Literal["sigkill", "sigstop", "partition", "camera", "none"]
# --stop-s when not given: how long each kind of outage lasts
DEFAULT_STOP_S: dict[str, float] = {"sigstop": 15.0, "partition": 30.0, "camera": 10.0}
LINE = "near:0,500,1280,500"
VEHICLES = ["car", "truck", "bus", "motorcycle"]


class BenchUnavailable(RuntimeError):
    """What the live bench needs and this machine lacks (the RTSP server, the shared data)."""


@dataclass
class LiveBenchSettings:
    standby: str = "none"            # none | warm | hot: CameraConfig.standby of every camera
    cameras: int = 1
    workers: int = 2
    duration_s: float = 90.0         # from every camera running to the end of the window
    kill: KillKind = "sigkill"
    stop_s: float = 15.0             # sigstop: seconds before SIGCONT; partition: before the heal;
                                     # camera: before the server starts again
    warmup_s: float = 15.0           # left out at the start of the window, on both sides: a fresh
                                     # runner misses a few crossings in its first ~10 s (4 of 125 in
                                     # a 90 s run without a kill, all at 8.6-10.5 s; 2 at 10.9 and
                                     # 11.7 s in another); one loop of the file is left out
    tail_s: float = 5.0              # and at its end (events in flight)
    tolerance_s: float = 0.5         # how far a stored crossing may lie from its reference one
    detect_fps: float | None = 10.0  # None: the camera's default (adaptive detection)
    gop_frames: int = 60             # the camera's key frame interval: 2 s, a camera's usual setting
    keep: str | None = None          # keep the data folders here


@dataclass
class Handover:
    """What the master showed of a camera's move after the kill."""

    camera_id: str
    from_epoch: int
    to_epoch: int | None = None
    to_worker: str | None = None
    first_frame_wall: float | None = None   # estimated time of the new holder's first frame (a
                                            # standby promoted: its frames never stopped, so the kill)
    seen_wall: float | None = None          # when the master heard it run under the new epoch
    down_wall: float | None = None          # --kill camera: when the master heard the stream was down
    back_wall: float | None = None          # and when it ran again after that, under any epoch


class HandoverRecorder:
    """The first moment each camera runs under a later epoch than the one killed (a pool subscriber)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watch: dict[str, Handover] = {}
        self.since = 0.0

    def arm(self, cameras: list[CameraView], at: float) -> None:
        """Watch these cameras from `at` (the kill) on."""
        with self.lock:
            self.since = at
            self.watch = {c.camera_id: Handover(c.camera_id, c.epoch) for c in cameras}

    def __call__(self, ev: object) -> None:
        if not isinstance(ev, CameraChanged):
            return
        c, now = ev.camera, time.time()
        with self.lock:
            h = self.watch.get(c.camera_id)
            st = c.status
            if h is not None and h.back_wall is None:
                if c.state != "running" or (st is not None and st.state != "running"):
                    h.down_wall = h.down_wall or now
                elif h.down_wall is not None:
                    h.back_wall = now
            if h is None or h.to_epoch is not None or st is None or c.state != "running":
                return
            if st.epoch == c.epoch and c.epoch > h.from_epoch:
                # A worker announces a camera's change to running at once (it looks ten times a
                # second), so a camera that starts after the kill was first seen running within
                # about 0.1 s of its first frame; dating that frame back by frames / fps instead
                # was up to a second early, as a fresh stream's first frames arrive in a burst. A
                # promoted standby ran all along (its frames span the kill): its outage is none.
                ran = (st.frames - 1) / st.fps if st.frames > 1 and st.fps > 0 else 0.0
                h.to_epoch, h.to_worker, h.seen_wall = c.epoch, c.worker_id, now
                h.first_frame_wall = self.since if ran >= now - self.since else now

    def done(self) -> bool:
        with self.lock:
            return all(h.to_epoch is not None for h in self.watch.values())


@dataclass
class ProcessCost:
    cpu_percent: float
    rss_mib: float


def _measure(pids: dict[str, int], seconds: float) -> dict[str, ProcessCost]:
    """CPU % (of one core) and resident memory of each process over `seconds`."""
    procs = {}
    for name, pid in pids.items():
        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)
            procs[name] = p
        except psutil.Error:
            continue
    time.sleep(seconds)
    out = {}
    for name, p in procs.items():
        try:
            out[name] = ProcessCost(round(p.cpu_percent(None), 1), round(p.memory_info().rss / 2**20, 1))
        except psutil.Error:
            continue
    return out


def _standby_worker(c: CameraView) -> str | None:
    """Where the pool put this camera's standby, when the pool says so (issue #12 gives CameraView a
    `standby` with its `worker_id`; a build without it places none)."""
    value = getattr(getattr(c, "standby", None), "worker_id", None)
    return value if isinstance(value, str) and value else None


def _recorded_gaps(master: Master, camera_id: str, start: float, end: float) -> tuple[list[tuple[float, float]] | None,
                                                                                      str]:
    """The intervals nobody watched the camera in [start, end], as the master recorded them
    (`Master.coverage`, issue #12's coverage history), or None and why there are none."""
    query = getattr(master, "coverage", None)
    if not callable(query):
        return None, "the master records no coverage (coverage history, issue #12 item 3, is not in this build)"
    try:
        coverage = query(start, end, "minute", camera_id)
    except Exception as exc:  # noqa: BLE001 - a figure of the report is lost, not the run
        return None, f"the master's coverage query failed: {exc}"
    if getattr(coverage, "since", None) is None:
        return None, "the master has no coverage spans of this camera (its workers sent none)"
    gaps = []
    for g in getattr(coverage, "gaps", ()):
        a, b = float(g[0]), float(g[1])
        if b > start and a < end:   # the buckets are whole minutes: judge the window only
            gaps.append((max(a, start), min(b, end)))
    return gaps, ""


@dataclass
class CameraAudit:
    camera_id: str
    loops: int
    loop_period_s: list[float]
    audit: MatchResult
    handover: Handover | None
    recorded_gap_s: float | None
    recorded_gaps: list[tuple[float, float]] | None
    recorded_gap_reason: str
    standby_worker: str | None = None
    loop_starts: list[float] = field(default_factory=list)
    fps: float = 0.0
    # per worker (by name) that watched the camera in any role, the stretches of the window its own
    # coverage spans leave out, whether or not they counted (a standby's never count unpromoted)
    holes_by_worker: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def outage(self, kill_wall: float | None) -> tuple[int, int] | None:
        """Crossings the stream showed between the kill and the first frame elsewhere, and how
        many of them are lost: nobody watched, so without a standby all of them."""
        h = self.handover
        if kill_wall is None or h is None or h.first_frame_wall is None:
            return None
        shown = [t for t in self.audit.expected_ts if kill_wall <= t <= h.first_frame_wall]
        lost = [t for t in self.audit.lost_ts if kill_wall <= t <= h.first_frame_wall]
        return len(shown), len(lost)

    def frame_of(self, ts: float) -> list[int]:
        """[loop, frame of the file] of a stream time: where to look in the video."""
        k = max((i for i, t in enumerate(self.loop_starts) if t <= ts + 1e-6), default=0)
        return [k, round((ts - self.loop_starts[k]) * self.fps)] if self.loop_starts else [0, 0]


@dataclass
class LiveBenchResult:
    settings: LiveBenchSettings
    window: tuple[float, float]
    kill_wall: float | None
    victim: str | None
    cameras: list[CameraAudit] = field(default_factory=list)
    costs_before_kill: dict[str, dict[str, Any]] = field(default_factory=dict)
    idle_cost: dict[str, ProcessCost] = field(default_factory=dict)
    standby_cost: dict[str, Any] | None = None
    standby_cost_reason: str = ""
    fenced_events: int = 0
    restart_wall: float | None = None    # --kill camera: when the servers started again

    def summary(self) -> dict[str, Any]:
        """The one JSON object `--json` prints."""
        audits = [c.audit for c in self.cameras]
        residuals = [abs(r) for a in audits for r in a.residuals_s]
        outages = [c.handover.first_frame_wall - self.kill_wall for c in self.cameras
                   if c.handover is not None and c.handover.first_frame_wall is not None
                   and self.kill_wall is not None]
        # when the master heard each camera run under its new epoch (a promotion: the standby's)
        takeovers = [c.handover.seen_wall - self.kill_wall for c in self.cameras
                     if c.handover is not None and c.handover.seen_wall is not None and self.kill_wall is not None]
        gaps = [c.recorded_gap_s for c in self.cameras if c.recorded_gap_s is not None]
        backs = [c.handover.back_wall - self.kill_wall for c in self.cameras
                 if c.handover is not None and c.handover.back_wall is not None and self.kill_wall is not None]
        reasons = sorted({c.recorded_gap_reason for c in self.cameras if c.recorded_gap_s is None})
        return {
            "live": True, "standby": self.settings.standby, "kill": self.settings.kill,
            "stop_s": self.settings.stop_s if self.settings.kill in DEFAULT_STOP_S else None,
            "cameras": self.settings.cameras, "workers": self.settings.workers,
            "duration_s": self.settings.duration_s, "warmup_s": self.settings.warmup_s,
            "tail_s": self.settings.tail_s, "tolerance_s": self.settings.tolerance_s,
            "gop_frames": self.settings.gop_frames,
            "detect_fps": self.settings.detect_fps,   # None: adaptive detection
            "window_s": round(self.window[1] - self.window[0], 3),
            "kill_at_s": round(self.kill_wall - self.window[0] + self.settings.warmup_s, 3)
            if self.kill_wall is not None else None,
            "expected": sum(a.expected for a in audits), "stored": sum(a.stored for a in audits),
            "matched": sum(a.matched for a in audits), "lost": sum(a.lost for a in audits),
            "duplicated": sum(a.duplicated for a in audits),
            "reclassified": sum(a.reclassified for a in audits),
            "latency_s": round(statistics.median([a.offset_s for a in audits]), 4) if audits else None,
            "residual_p50_s": _round(percentile(residuals, 0.5)),
            "residual_p95_s": _round(percentile(residuals, 0.95)),
            "residual_max_s": _round(max(residuals) if residuals else None),
            "first_frame_s": round(max(outages), 3) if outages else None,
            "takeover_s": round(max(takeovers), 3) if takeovers else None,
            # --kill camera: from the power loss until the master heard each camera run again
            "stream_back_s": round(max(backs), 3) if backs else None,
            "promoted": sum(1 for c in self.cameras if c.handover is not None and c.handover.to_epoch is not None),
            "recorded_gap_s": round(max(gaps), 3) if gaps else None,
            "recorded_gap_reason": "; ".join(reasons) if not gaps else "",
            "standby_cost": self.standby_cost, "standby_cost_reason": self.standby_cost_reason,
            "worker_cost_before_kill": self.costs_before_kill,
            "worker_idle_cost": {k: asdict(v) for k, v in self.idle_cost.items()},
            "fenced_events": self.fenced_events,
            "per_camera": {c.camera_id: {
                "loops": c.loops, "loop_period_s": c.loop_period_s, "expected": c.audit.expected,
                "stored": c.audit.stored, "matched": c.audit.matched, "lost": c.audit.lost,
                "duplicated": c.audit.duplicated, "reclassified": c.audit.reclassified,
                "latency_s": round(c.audit.offset_s, 4),
                "lost_at_s": [round(t - self.window[0] + self.settings.warmup_s, 2) for t in c.audit.lost_ts],
                "duplicated_at_s": [round(t - self.window[0] + self.settings.warmup_s, 2)
                                    for t in c.audit.duplicated_ts],
                "lost_loop_frame": [c.frame_of(t) for t in c.audit.lost_ts],
                "outage_expected": (c.outage(self.kill_wall) or (None, None))[0],
                "outage_lost": (c.outage(self.kill_wall) or (None, None))[1],
                "duplicated_loop_frame": [c.frame_of(t) for t in c.audit.duplicated_ts],
                "first_frame_s": round(c.handover.first_frame_wall - self.kill_wall, 3)
                if c.handover and c.handover.first_frame_wall and self.kill_wall else None,
                "to_worker": c.handover.to_worker if c.handover else None,
                "recorded_gap_s": c.recorded_gap_s, "standby_worker": c.standby_worker,
                "recorded_gaps_at_s": [[self._at(a), self._at(b)] for a, b in c.recorded_gaps or []],
                "holes_by_worker_at_s": {w: [[self._at(a), self._at(b)] for a, b in holes]
                                         for w, holes in c.holes_by_worker.items()},
                "stream_back_s": round(c.handover.back_wall - self.kill_wall, 3)
                if c.handover and c.handover.back_wall and self.kill_wall else None,
            } for c in self.cameras},
        }


    def _at(self, wall: float) -> float:
        """A wall-clock second as seconds into the run (the kill_at_s scale)."""
        return round(wall - self.window[0] + self.settings.warmup_s, 2)


def _round(v: float | None) -> float | None:
    return round(v, 4) if v is not None else None


def _reference(cfg: CameraConfig, video: Path) -> tuple[list[Any], int, float]:
    """One loop's crossings (steady state), the loop's frames and the file's frame rate."""
    import cv2
    cap = cv2.VideoCapture(str(video))
    frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    if frames <= 0 or fps <= 0:
        raise BenchUnavailable(f"cannot read the length and rate of {video}")
    offline = CameraConfig(cfg.camera_id, str(video), lines=cfg.lines, model=cfg.model, classes=cfg.classes,
                           detect_fps=cfg.detect_fps, loop=True)
    cache = _reference_cache(offline, video)
    try:
        per_loop = [Crossing(**c) for c in json.loads(cache.read_text())]
        log.info("offline reference from %s", cache)
    except (OSError, ValueError, TypeError):
        per_loop = loop_crossings(reference_crossings(offline, 2 * frames - 1), frames)
        part = cache.with_name(f"{cache.name}.{os.getpid()}.part")
        part.write_text(json.dumps([asdict(c) for c in per_loop]))
        part.replace(cache)   # whole or not at all: another bench may be reading it
    return per_loop, frames, fps


def _reference_cache(offline: CameraConfig, video: Path) -> Path:
    """Where the offline count of this camera's file is kept between runs (it costs 10-30 s of CPU
    on a 2-core box): keyed by the file, the model, the camera's counting settings and the pipeline's
    own code, so any change to what decides the count makes a fresh one."""
    import campool_worker.pipeline as pipeline_pkg

    h = hashlib.sha256()
    for f in [video, Path(offline.model or "")]:
        st = f.stat() if f.is_file() else None
        h.update(f"{f.resolve()}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0};".encode())
    h.update(repr((offline.lines, offline.classes, offline.detect_fps, offline.detect, offline.detect_budget,
                   offline.detect_floor)).encode())
    for src in sorted(Path(pipeline_pkg.__file__).parent.glob("*.py")):
        h.update(src.read_bytes())
    folder = Path(tempfile.gettempdir()) / "campool-rtsp-camera"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"reference-{h.hexdigest()[:24]}.json"


def run_live_failover_bench(s: LiveBenchSettings) -> LiveBenchResult:
    if s.workers < 2:
        raise ValueError("bench-failover --live needs at least 2 workers (one is killed)")
    reason = gi_rtsp_missing()
    if reason:
        raise BenchUnavailable(f"no RTSP test camera here: {reason}")
    video, model = shared_file("videos/highway.mp4"), shared_file("models/yolox_nano.onnx")
    if video is None or model is None:
        raise BenchUnavailable("the shared data (videos/highway.mp4, models/yolox_nano.onnx) is not there; "
                               "set CAMPOOL_SHARED_DATA to the folder holding them")
    tmp = Path(s.keep) if s.keep else Path(tempfile.mkdtemp(prefix="campool-live-failover-"))
    with contextlib.ExitStack() as lan:
        # A partition needs every worker on a host of its own (whichever holds the camera is cut
        # off), and the cameras at an address each host reaches through its own link.
        hosts: list[Namespace | None] = [None] * s.workers
        cam_ip = "127.0.0.1"
        if s.kill == "partition":
            try:
                for i in range(s.workers):
                    hosts[i] = lan.enter_context(Namespace(*unique_tag(i)))
                cam_ip = lan.enter_context(HostAddress(f"10.213.254.{1 + os.getpid() % 250}")).ip
            except NetnsUnavailable as exc:
                raise BenchUnavailable(f"--kill partition: {exc}") from exc
        return _run(s, tmp, video, model, hosts, cam_ip)


def _run(s: LiveBenchSettings, tmp: Path, video: Path, model: Path, hosts: list[Namespace | None],
         cam_ip: str) -> LiveBenchResult:
    cams = [RtspCamera(video, path=f"/cam{i + 1}", always_on=True, gop_frames=s.gop_frames or None, address=cam_ip)
            for i in range(s.cameras)]
    master = Master(MasterSettings(data_dir=tmp / "master", zeroconf=False))
    rec = HandoverRecorder()
    # Room for every camera and its standby on each worker: the survivor takes them all.
    # A partitioned worker's RTSP client stops reading: over TCP the test camera then aborts (see
    # rtsp_camera.py), which no real camera does; its workers take the stream over UDP instead.
    udp = {"OPENCV_FFMPEG_CAPTURE_OPTIONS": "rtsp_transport;udp"} if s.kill == "partition" else None
    local = [LocalWorker(f"live-w{i + 1}", tmp / f"w{i + 1}", None, capacity=2 * s.cameras,
                         netns=h.name if h else None, bind=h.ip if h else "127.0.0.1", env=udp)
             for i, h in enumerate(hosts)]
    configs = [CameraConfig(f"cam{i + 1}", cam.url, lines=[CountingLine.parse(LINE)], model=str(model),
                            classes=VEHICLES, detect_fps=s.detect_fps, standby=s.standby)
               for i, cam in enumerate(cams)]
    try:
        # Before the clock starts (it takes some CPU), and of the file the cameras really stream.
        reference = _reference(configs[0], cams[0].served_video())
        for cam in cams:
            cam.start()
            cam.wait_first_loop()
        master.start()
        master.subscribe(rec)
        ids: dict[str, str] = {}
        for lw in local:
            lw.master_key = master.public_key
            lw.start()
            ids[lw.name] = master.add_worker(*lw.adopt_args())
        wait_until(lambda: all(w.state.value in ("online", "busy") for w in master.snapshot().workers)
                   and len(master.snapshot().workers) == len(local), 30, "every worker online")
        idle = _measure({lw.name: lw.pid for lw in local}, 2.0)
        for cfg in configs:
            master.add_camera(cfg)
        wait_until(lambda: all(c.state == "running" for c in master.snapshot().cameras), 60, "every camera running")
        t_run = time.time()
        t_end = t_run + s.duration_s
        t_kill = t_run + s.duration_s / 2
        time.sleep(max(0.0, min(t_run + s.warmup_s, t_kill - 5.0) - time.time()))
        costs = _measure({lw.name: lw.pid for lw in local}, max(1.0, t_kill - time.time()))
        snap = master.snapshot()
        standby_at = {c.camera_id: _standby_worker(c) for c in snap.cameras}
        result = LiveBenchResult(s, (t_run + s.warmup_s, t_end - s.tail_s), None, None, idle_cost=idle)
        result.costs_before_kill = _cost_table(costs, local, ids, snap.cameras)
        result.standby_cost, result.standby_cost_reason = _standby_cost(s, costs, idle, local, ids, snap.cameras)
        victim: LocalWorker | None = None
        loops_before: dict[str, list[float]] = {}
        if s.kill == "camera":
            result.kill_wall = time.time()
            rec.arm(list(snap.cameras), result.kill_wall)
            for cfg, cam in zip(configs, cams):
                loops_before[cfg.camera_id] = cam.loops()
                cam.stop()
            log.info("killed the cameras' RTSP servers for %.0f s", s.stop_s)
            time.sleep(s.stop_s)
            result.restart_wall = time.time()
            for cam in cams:
                cam.start()
        elif s.kill != "none":
            holding = {lw.name: [c for c in snap.cameras if c.worker_id == ids[lw.name]] for lw in local}
            victim = max(local, key=lambda lw: (len(holding[lw.name]), lw.name))
            host = hosts[local.index(victim)]
            result.victim, result.kill_wall = victim.name, time.time()
            rec.arm(holding[victim.name], result.kill_wall)
            if s.kill == "sigkill":
                victim.kill()
            elif s.kill == "sigstop":
                victim.signal(signal.SIGSTOP)
            elif host is not None:
                host.cut()
            log.info("killed (%s) %s holding %s", s.kill, victim.name, [c.camera_id for c in holding[victim.name]])
            if s.kill in ("sigstop", "partition"):
                time.sleep(s.stop_s)
                if host is not None:
                    host.heal()
                else:
                    victim.signal(signal.SIGCONT)
            try:
                wait_until(rec.done, max(5.0, t_end - time.time()), "the cameras running elsewhere")
            except TimeoutError:
                log.warning("not every camera ran again elsewhere before the end of the run")
        time.sleep(max(0.0, t_end - time.time()))
        if victim is not None and s.kill == "sigkill":
            # Same folder and ports: the master's link reconnects, and the outbox delivers what the
            # worker had committed and not yet delivered before the kill.
            victim.start()
        time.sleep(4.0)    # the last events reach the store
        master.store.flush()
        result.fenced_events = master.snapshot().totals.events_fenced
        per_loop, _frames, fps = reference
        names = {wid: name for name, wid in ids.items()}
        for cfg, cam in zip(configs, cams):
            starts = loops_before.get(cfg.camera_id, []) + cam.loops()
            expected = map_to_stream(per_loop, starts, fps, until=t_end + s.tolerance_s)
            if result.restart_wall is not None and result.kill_wall is not None:
                # the loop cut by the camera's power loss never showed the rest of its crossings
                first_back = next((t for t in cam.loops() if t >= result.restart_wall), result.restart_wall)
                expected = [x for x in expected if not result.kill_wall <= x.ts < first_back]
            stored = [TimedCrossing(e.ts, e.line, e.direction, e.class_name)
                      for e in master.store.stored_events(cfg.camera_id)]
            audit = match_crossings(expected, stored, *result.window, tolerance=s.tolerance_s)
            gaps, why = _recorded_gaps(master, cfg.camera_id, *result.window)
            gap_s = round(sum(b - a for a, b in gaps), 3) if gaps is not None else None
            with rec.lock:
                h = rec.watch.get(cfg.camera_id)
            result.cameras.append(CameraAudit(
                cfg.camera_id, len(starts), [round(b - a, 4) for a, b in itertools.pairwise(starts)], audit, h,
                gap_s, gaps, why, standby_at.get(cfg.camera_id), starts, fps,
                _holes_by_worker(master, cfg.camera_id, *result.window, names)))
        return result
    finally:
        master.stop()
        for lw in local:
            lw.stop()
        for cam in cams:
            cam.stop()
        if not s.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _holes_by_worker(master: Master, camera_id: str, start: float, end: float,
                     names: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    """Per worker (by its bench name) that watched the camera, what of [start, end] it did not see."""
    watched = master.store.watched_by_worker(camera_id, start, end)
    return {names.get(wid, wid): [(round(a, 3), round(b, 3)) for a, b in coverage.gaps(spans, start, end)]
            for wid, spans in sorted(watched.items())}


def _cost_table(costs: dict[str, ProcessCost], local: list[LocalWorker], ids: dict[str, str],
                cameras: tuple[CameraView, ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for lw in local:
        wid = ids[lw.name]
        cost = costs.get(lw.name)
        out[lw.name] = {"primary": sorted(c.camera_id for c in cameras if c.worker_id == wid),
                        "standby": sorted(c.camera_id for c in cameras if _standby_worker(c) == wid),
                        **(asdict(cost) if cost else {})}
    return out


def _standby_cost(s: LiveBenchSettings, costs: dict[str, ProcessCost], idle: dict[str, ProcessCost],
                  local: list[LocalWorker], ids: dict[str, str],
                  cameras: tuple[CameraView, ...]) -> tuple[dict[str, Any] | None, str]:
    """CPU and memory per standby camera: a worker holding standbys only, less its idle figures."""
    if s.standby == "none":
        return None, "standby none: no standby to measure"
    for lw in local:
        wid = ids[lw.name]
        standbys = [c for c in cameras if _standby_worker(c) == wid]
        primaries = [c for c in cameras if c.worker_id == wid]
        if standbys and not primaries and lw.name in costs and lw.name in idle:
            busy, base = costs[lw.name], idle[lw.name]
            n = len(standbys)
            return {"mode": s.standby, "worker": lw.name, "cameras": n,
                    "cpu_percent_per_camera": round((busy.cpu_percent - base.cpu_percent) / n, 1),
                    "rss_mib_per_camera": round((busy.rss_mib - base.rss_mib) / n, 1)}, ""
    return None, (f"standby {s.standby} was asked for, but the pool placed no standby (the snapshot names no "
                  "standby worker for any camera: the pool side of issue #12 is not in this build); "
                  "the cameras ran without one")


def print_table(summary: dict[str, Any]) -> None:
    """The readable form of the summary (the CLI's output)."""
    rows = [("standby", summary["standby"]), ("kill", summary["kill"] + (f" {summary['stop_s']:g} s"
                                                                       if summary["stop_s"] else "")),
            ("window", f"{summary['window_s']:.1f} s (warm-up {summary['warmup_s']:g} s, tail "
                       f"{summary['tail_s']:g} s)"),
            ("expected crossings", summary["expected"]), ("stored", summary["stored"]),
            ("matched", summary["matched"]), ("lost", summary["lost"]), ("duplicated", summary["duplicated"]),
            ("reclassified", summary["reclassified"]),
            ("latency / residual p95", f"{summary['latency_s']} s / {summary['residual_p95_s']} s "
                                       f"(tolerance {summary['tolerance_s']:g} s)"),
            ("first frame after kill", f"{summary['first_frame_s']} s"),
            ("recorded gap", f"{summary['recorded_gap_s']} s" if summary["recorded_gap_s"] is not None
             else f"n/a: {summary['recorded_gap_reason']}"),
            ("standby cost", summary["standby_cost"] if summary["standby_cost"] is not None
             else f"n/a: {summary['standby_cost_reason']}")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for name, c in summary["worker_cost_before_kill"].items():
        print(f"{'worker ' + name:<{width}}  cpu {c.get('cpu_percent')} %  rss {c.get('rss_mib')} MiB  "
              f"primary {c['primary']}  standby {c['standby']}")
    for cid, c in summary["per_camera"].items():
        print(f"{cid:<{width}}  expected {c['expected']} lost {c['lost']} at {c['lost_at_s']} s, "
              f"duplicated {c['duplicated']} at {c['duplicated_at_s']} s; loops {c['loops']}")


def _detect_fps(args: Any) -> float | None:
    """--detect-fps: a fixed rate, 10 when not given; 0 leaves the camera's default (adaptive)."""
    value = getattr(args, "detect_fps", None)
    if value is None:
        return LiveBenchSettings.detect_fps
    return float(value) or None


def bench_failover_live(args: Any) -> int:
    """The CLI entry of `bench-failover --live`."""
    s = LiveBenchSettings(
        standby=args.standby or "none", cameras=int(args.cameras or 1), workers=int(args.workers or 2),
        duration_s=float(args.duration or 90.0), kill=args.kill or "sigkill",
        stop_s=float(args.stop_s if args.stop_s is not None else DEFAULT_STOP_S.get(args.kill or "sigkill", 15.0)),
        keep=args.keep, detect_fps=_detect_fps(args))
    try:
        result = run_live_failover_bench(s)
    except BenchUnavailable as exc:
        print(f"bench-failover --live: {exc}")
        return 2
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print_table(summary)
    return 0
