"""`campool-gui job run FILE...`: count recorded files across local worker processes (issue #13).

    campool-gui job run FILE|FOLDER... --line NAME:x1,y1,x2,y2 [--line ...] [--zone ...]
        [--classes car,truck] [--model PATH] [--interval-min 15] [--priority normal]
        [--start-time ISO] [--workers N] [--json]

Starts N `campool-worker serve` processes on this machine (the harness's one launcher), a
master without a window in a temporary data folder, queues the job, waits for it and prints
the result. The JSON shape is stable (the product's own checks use it):
``{"counts": {LINE: {"in", "out", "by_class"}}, "intervals": [...], "segments": k,
"retried": r, "seconds": s}`` plus ``state``, ``partial`` and ``missing``. Bad input (not a
video, an unreadable folder, a line outside the picture, no line or zone) is one line on
stderr and exit code 2, before any worker is started.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from campool_gui.pool.job_report import JobReport
from campool_gui.pool.job_service import JobView, prepare
from campool_gui.pool.jobs import JOB_DETECT_FPS, JobError, JobSpec, MediaInfo
from campool_worker.camera import ConfigError, CountingLine, Zone

log = logging.getLogger(__name__)


def add_job_parser(sub: Any) -> None:
    j = sub.add_parser("job", help="count recorded files across the pool (jobs)")
    jsub = j.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    r = jsub.add_parser("run", help="run a job on local worker processes and print its result")
    r.add_argument("files", nargs="+", metavar="FILE", help="video files, or folders of them")
    r.add_argument("--line", action="append", default=[], metavar="NAME:x1,y1,x2,y2", help="counting line (repeatable)")
    r.add_argument("--zone", action="append", default=[], metavar="NAME:x1,y1,...", help="zone polygon (repeatable)")
    r.add_argument("--classes", help="comma-separated class names to count, e.g. car,truck,bus,motorcycle")
    r.add_argument("--model", help="ONNX detector (default: the motion detector; exact only with a model)")
    r.add_argument("--interval-min", type=float, default=15.0, help="report interval in minutes (default 15)")
    r.add_argument("--priority", default="normal", choices=("critical", "high", "normal", "low"))
    r.add_argument("--start-time", help="the recording's start, ISO 8601 (default: the file's metadata, else its "
                                        "modification time minus its duration)")
    r.add_argument("--detect-fps", default=str(JOB_DETECT_FPS),
                   help="detector runs per second of video, on a fixed grid so that the cuts stay exact "
                        f"(default {JOB_DETECT_FPS:g}; 'every': every frame)")
    r.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    r.add_argument("--threads-per-worker", type=int, default=1, help="ONNX threads per worker (default 1)")
    r.add_argument("--segment-s", type=float, default=None, help="segment length in seconds of video (default 180)")
    r.add_argument("--csv", metavar="OUT.csv", help="also write the report table as CSV")
    r.add_argument("--html", metavar="OUT.html", help="also write the printable report")
    r.add_argument("--json", action="store_true", help="print one JSON object")


def spec_from_args(args: argparse.Namespace) -> JobSpec:
    """The job the command line describes; JobError with one line on bad input."""
    try:
        lines = tuple(CountingLine.parse(s) for s in args.line)
        zones = tuple(Zone.parse(s) for s in args.zone)
    except ConfigError as exc:
        raise JobError(str(exc)) from None
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None
    start = None
    if args.start_time:
        try:
            start = datetime.fromisoformat(args.start_time).timestamp()
        except ValueError:
            raise JobError(f"--start-time {args.start_time!r} is not an ISO 8601 time such as "
                           "2026-03-02T07:30:00") from None
    if args.workers < 1:
        raise JobError("--workers must be at least 1")
    detect_fps = _detect_fps(args.detect_fps)
    # Absolute paths: the local workers run in another folder (a relative path would make the
    # master copy the bytes to them).
    files = tuple(str(Path(f).expanduser().absolute()) for f in args.files)
    return JobSpec(files=files, lines=lines, zones=zones, classes=classes, model=args.model,
                   priority=args.priority, interval_min=args.interval_min, start_time=start,
                   detect_fps=detect_fps)


def _detect_fps(text: str) -> float | None:
    if text.strip().lower() == "every":
        return None
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0 < v <= 240:
        raise JobError(f"--detect-fps {text!r}: give detector runs per second of video (0 to 240), or 'every'")
    return v


@dataclass
class LocalJobRun:
    report: JobReport
    view: JobView
    seconds: float  # from submission to the job's end
    killed: str | None = None
    crossings: list[tuple[int, int, str, str, str]] = field(default_factory=list)  # file, frame, line, dir, class
    master_cpu_s: float = 0.0  # CPU seconds this process (the master) used while the job ran


def pinned_cores(workers: int, threads: int) -> list[list[int]] | None:
    """`threads` distinct cores for each of `workers` processes out of the ones this process may
    use, or None where there are too few of them (or no affinity, as on Windows and macOS)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    free = sorted(os.sched_getaffinity(0))
    if len(free) < workers * threads:
        return None
    return [free[i * threads:(i + 1) * threads] for i in range(workers)]


def run_on_local_workers(spec: JobSpec, media: list[MediaInfo], *, workers: int, threads: int = 1,
                         min_segments: int | None = None, segment_s: float | None = None,
                         kill_one: bool = False, timeout_s: float = 3600.0, pin: bool = False,
                         on_progress: Callable[[JobView], None] | None = None) -> LocalJobRun:
    """Run a prepared job on `workers` fresh local worker processes (1 slot each, `threads` ONNX
    threads) and a master in a temporary folder; all of it is gone afterwards. kill_one: SIGKILL
    the worker of the first segment once it is a third done (its segment is redone elsewhere).
    pin: each worker on `threads` cores of its own (Linux; see `pinned_cores`), so that "T threads"
    is T cores for the whole process, its decoding included, and N workers never share one."""
    from dataclasses import replace

    from campool_gui.harness.launcher import LocalWorker
    from campool_gui.pool.job_service import JobsChanged
    from campool_gui.pool.master import Master, MasterSettings

    tmp = Path(tempfile.mkdtemp(prefix="campool-job-"))
    settings = MasterSettings(data_dir=tmp / "master", zeroconf=False)
    if segment_s is not None:
        settings.jobs = replace(settings.jobs, segment_s=segment_s)
    master = Master(settings)
    master.start()
    env = {"CAMPOOL_INTRA_OP_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    cores = pinned_cores(workers, threads) if pin else None
    local = [LocalWorker(f"job-w{i + 1}", tmp / f"w{i + 1}", master.public_key, capacity=1, env=env,
                         cpus=cores[i] if cores else None)
             for i in range(workers)]
    done = threading.Event()
    latest: dict[str, JobView] = {}

    def heard(ev: object) -> None:
        if isinstance(ev, JobsChanged):
            for v in ev.jobs:
                latest[v.job_id] = v
                if v.state in ("done", "partial", "failed", "cancelled"):
                    done.set()

    master.subscribe(heard)
    killed: str | None = None
    try:
        for lw in local:
            lw.spawn()
        ids = {}
        for lw in local:
            lw.wait_listening()
            ids[master.add_worker(*lw.adopt_args())] = lw
        deadline = time.monotonic() + 30
        while len(master.job_room()) < workers:
            if time.monotonic() > deadline:
                raise JobError(f"the {workers} local worker(s) did not come up within 30 s; see {tmp}")
            time.sleep(0.05)
        t0, cpu0 = time.monotonic(), time.process_time()
        job_id = master.queue_job(spec, media, min_segments=min_segments)
        last_print = 0.0
        while not done.wait(0.1):
            view = latest.get(job_id)
            if time.monotonic() - t0 > timeout_s:
                raise JobError(f"the job did not finish within {timeout_s:.0f} s")
            if view is None:
                continue
            if kill_one and killed is None:
                seg = view.segments[0]
                if seg.state == "running" and seg.progress >= 0.33 and seg.worker_id in ids:
                    killed = seg.worker_id
                    ids[killed].kill()
                    log.info("SIGKILLed worker %s mid-segment (%.0f %% of segment 0)", killed, seg.progress * 100)
            if on_progress is not None and time.monotonic() - last_print >= 1.0:
                last_print = time.monotonic()
                on_progress(view)
        seconds = time.monotonic() - t0
        master_cpu_s = time.process_time() - cpu0
        report = master.job_report(job_id)
        view = latest[job_id]
        crossings = [(fi, c.frame_index, c.line, c.direction, c.class_name) for fi, c in master.job_crossings(job_id)]
    finally:
        master.stop()
        for lw in local:
            lw.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return LocalJobRun(report, view, seconds, killed, crossings, master_cpu_s)


def job_command(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", False):  # stderr carries progress and errors; the master's INFO lines are noise
        logging.getLogger().setLevel(logging.WARNING)
    try:
        spec, media = prepare(spec_from_args(args))
    except JobError as exc:
        sys.stderr.write(f"campool-gui: error: {exc}\n")
        return 2

    def progress(v: JobView) -> None:
        sys.stderr.write(f"job {v.job_id}: {v.progress * 100:.0f} % ({v.state}, "
                         f"{sum(s.state == 'running' for s in v.segments)} segment(s) running)\n")

    try:
        run = run_on_local_workers(spec, media, workers=args.workers, threads=args.threads_per_worker,
                                   segment_s=args.segment_s, on_progress=progress)
    except JobError as exc:
        sys.stderr.write(f"campool-gui: error: {exc}\n")
        return 1
    from campool_gui.pool.job_report import to_csv, to_html

    rep = run.report
    if args.csv:
        Path(args.csv).write_text(to_csv(rep), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(to_html(rep), encoding="utf-8")
    out = {**rep.to_dict(), "seconds": round(run.seconds, 3)}
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        for name, lc in out["counts"].items():
            per = ", ".join(f"{k} {v['in']}/{v['out']}" for k, v in lc["by_class"].items())
            sys.stdout.write(f"line {name}: in {lc['in']}, out {lc['out']}" + (f" ({per})" if per else "") + "\n")
        sys.stdout.write(f"{rep.segments} segment(s), {rep.retried} retried, {out['seconds']} s; {rep.state}\n")
        for m in rep.missing:
            sys.stdout.write(f"missing: {m['file']} {m['start_s']}-{m['end_s']} s: {m['reason']}\n")
    return 0 if rep.state in ("done", "partial") else 1
