"""`campool-worker bench --capacity`: how many cameras of one video this box sustains at real time,
with the default (adaptive) detection and with full-rate detection, in one run.

Method: each mode counts the video once, as fast as it can, and its CPU cost is measured
(`time.process_time`: every thread of this process, decoder, model and tracker included).
A camera at real time needs `cpu_s / video_seconds` cores, so the box sustains
``floor(cores * video_seconds / cpu_s)`` of them. This is derived, not run: N concurrent
real-time cameras would measure the same thing, but each try takes the video's length and the
box is shared with other work, which would decide the answer more than the code does; the CPU
cost of one camera is what other load disturbs least. The counts of both modes are printed, so
"identical counts" is checked in the same run. The load average before and after says how busy
the machine was.

Printed: {"cores", "load_before", "load_after", "video_seconds", "modes": {"adaptive": {...},
"every": {...}}, "ratio"} with per mode {"cpu_s", "model_runs", "runs_per_s", "cameras",
"counts"}; ratio = adaptive cameras / full-rate cameras.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
from campool_worker.pipeline.offline import prefetch
from campool_worker.pipeline.sources import open_source


def camera_cost(model: str, video: str, lines: list[CountingLine], detect: str,
                max_frames: int | None = None, classes: list[str] | None = None) -> dict[str, Any]:
    """One camera counting the video once in `detect` mode: its CPU seconds and what it counted."""
    source = open_source(video, realtime=False)
    try:
        if not lines:
            lines = [CountingLine("mid", (0.0, source.height / 2), (float(source.width), source.height / 2))]
        cfg = CameraConfig("capacity", video, lines=lines, model=model, detect=detect, classes=classes)
        pipe = CameraPipeline(cfg, load_detector(model, classes=classes), fps=source.fps)
        n, first, last = 0, None, 0.0
        cpu0 = time.process_time()
        for frame, _ in pipe.process_stream(prefetch(source, max_frames=max_frames)):
            n += 1
            first = frame.media_ts if first is None else first
            last = frame.media_ts
        cpu = time.process_time() - cpu0
        video_s = last - (first or 0.0) + (1.0 / source.fps if source.fps and n else 0.0)
    finally:
        source.close()
    return {"cpu_s": round(cpu, 3), "video_seconds": round(video_s, 3), "frames": n,
            "model_runs": pipe.model_runs, "runs_per_s": round(pipe.model_runs / video_s, 2) if video_s else 0.0,
            "counts": {name: c.to_dict() for name, c in pipe.counts().items()}}


def capacity(model: str, video: str, lines: list[CountingLine], max_frames: int | None = None,
             classes: list[str] | None = None) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    modes = {mode: camera_cost(model, video, lines, mode, max_frames, classes) for mode in ("adaptive", "every")}
    for m in modes.values():
        # cameras at real time: each needs cpu_s / video_seconds cores
        m["cameras"] = math.floor(cores * m["video_seconds"] / m["cpu_s"]) if m["cpu_s"] > 0 else 0
    full = modes["every"]["cameras"]
    return {"cores": cores, "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "video_seconds": modes["every"]["video_seconds"], "modes": modes,
            "same_counts": modes["adaptive"]["counts"] == modes["every"]["counts"],
            "ratio": round(modes["adaptive"]["cameras"] / full, 2) if full else None,
            "method": "derived from one camera's CPU seconds per video second (see campool_worker/harness/capacity.py)"}
