"""`campool-gui bench-jobs`: a job over K joined copies of the highway video, pool against one worker.

    campool-gui bench-jobs --workers N --threads-per-worker T --copies K [--kill-one] --json

K copies of the shared highway video are written one after the other into one file (OpenCV's
VideoWriter, mp4v; ffmpeg is not needed), so the file is long enough to cut. Then, in one run:
(a) the pool: N fresh local worker processes, one slot and T ONNX threads each, count it as a
job cut into at least N segments (with --kill-one the worker of the first segment is SIGKILLed
a third of the way into it, and its segment is redone by another);
(b) the single pass: the same file as one segment on one fresh worker with the same T threads.
Both are timed from the job's submission to its end (the workers are up and adopted before),
so both pay the same model load and scheduling. Each worker runs on T cores of its own (CPU
affinity, all its threads: ONNX's and the decoder's) where the machine has N x T of them, the
single pass on T as well: the speedup is then what the pool's cutting, scheduling and warm-up
cost, not the single pass's decoder borrowing a core that the pool's workers keep busy
(--no-pin: no affinity; "pinned" says which ran). --repeat R runs the two R times, alternated,
and takes each side's fastest (identical must hold for every run). Printed: {"pool_counts", "single_counts",
"identical", "pool_seconds", "single_seconds", "speedup", "segments", "retried"}, plus the
machine's load average before the run (other processes share the cores).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2

from campool_gui.harness.bench_failover import shared_file
from campool_gui.job_cli import LocalJobRun, pinned_cores, run_on_local_workers
from campool_gui.pool.job_service import prepare
from campool_gui.pool.jobs import JobError, JobSpec
from campool_worker.camera import CountingLine

log = logging.getLogger(__name__)

LINE = "near:0,500,1280,500"


def join_copies(video: Path, copies: int, out: Path) -> Path:
    """`copies` copies of `video`, frame after frame, in one mp4 file."""
    writer: cv2.VideoWriter | None = None
    try:
        for _ in range(copies):
            cap = cv2.VideoCapture(str(video))
            fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                if writer is None:
                    h, w = img.shape[:2]
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                writer.write(img)
            cap.release()
    finally:
        if writer is not None:
            writer.release()
    return out


def run_jobs_bench(*, workers: int = 2, threads: int = 1, copies: int = 4, kill_one: bool = False,
                   pin: bool = True, repeat: int = 1) -> dict[str, Any]:
    video, model = shared_file("videos/highway.mp4"), shared_file("models/yolox_nano.onnx")
    if video is None or model is None:
        raise JobError("bench-jobs needs the shared data (videos/highway.mp4, models/yolox_nano.onnx); set "
                       "CAMPOOL_SHARED_DATA to its folder")
    if workers < 2 and kill_one:
        raise JobError("--kill-one needs at least 2 workers")
    if repeat < 1:
        raise JobError("--repeat must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="campool-bench-jobs-"))
    pools: list[LocalJobRun] = []
    singles: list[LocalJobRun] = []
    try:
        joined = join_copies(video, copies, tmp / f"highway-x{copies}.mp4")
        spec, media = prepare(JobSpec(files=(str(joined),), lines=(CountingLine.parse(LINE),), model=str(model)))
        load = os.getloadavg()[0]
        pinned = pin and pinned_cores(workers, threads) is not None
        # Alternated, so that a slow spell of the machine (another tenant of the host, a busy core)
        # falls on both sides; each side's fastest run is its figure, all of them are printed.
        for _ in range(repeat):
            pools.append(run_on_local_workers(spec, media, workers=workers, threads=threads, min_segments=workers,
                                              kill_one=kill_one, pin=pinned))
            singles.append(run_on_local_workers(spec, media, workers=1, threads=threads, min_segments=1,
                                                pin=pinned))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pool, single = min(pools, key=lambda r: r.seconds), min(singles, key=lambda r: r.seconds)
    pc, sc = pool.report.counts_dict(), single.report.counts_dict()
    identical = all(r.report.counts_dict() == sc and r.report.state == "done" for r in [*pools, *singles])
    return {"pool_counts": pc, "single_counts": sc, "identical": identical,
            "pool_seconds": round(pool.seconds, 3), "single_seconds": round(single.seconds, 3),
            "speedup": round(single.seconds / pool.seconds, 3) if pool.seconds > 0 else 0.0,
            "segments": pool.report.segments, "retried": pool.report.retried,
            "workers": workers, "threads_per_worker": threads, "copies": copies, "frames": media[0].frames,
            "killed": pool.killed, "pinned": pinned, "repeat": repeat,
            "runs_s": {"pool": [round(r.seconds, 3) for r in pools], "single": [round(r.seconds, 3) for r in singles]},
            "master_cpu_s": {"pool": round(pool.master_cpu_s, 2), "single": round(single.master_cpu_s, 2)},
            "loadavg_1min_before": round(load, 2), "cpus": os.cpu_count()}


def bench_jobs(args: argparse.Namespace) -> int:
    try:
        out = run_jobs_bench(workers=args.workers, threads=args.threads_per_worker, copies=args.copies,
                             kill_one=args.kill_one, pin=not args.no_pin, repeat=args.repeat)
    except JobError as exc:
        sys.stderr.write(f"campool-gui: error: {exc}\n")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        sys.stdout.write(f"pool {out['pool_seconds']} s on {out['workers']} workers, single {out['single_seconds']} s: "
                         f"speedup {out['speedup']}; identical {out['identical']}; {out['segments']} segments, "
                         f"{out['retried']} retried\n")
    return 0 if out["identical"] else 1
