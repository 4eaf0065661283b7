"""How much warm-up a segment needs: joined segments against one pass, crossing by crossing.

    python3 -m campool_worker.harness.segment_cuts VIDEO --model M --line NAME:x1,y1,x2,y2 [--cuts ...]

The detector runs once per frame of the file (its output is a pure function of the frame,
so caching it is the same as running it again per segment); the tracker and counters then
replay every cut layout and warm-up in seconds. Cuts: evenly spaced, and right on the frame
of each crossing of the single pass and one either side of it (the hardest cut: the counter
fires on the first frame of a segment, or on the last of the one before; every crossing's frame
at once, so segments are as short as a few frames). Printed: per
warm-up, how many layouts joined equal to the single pass, and the first difference.
The real path (seek + warm-up through `count_segment`) is checked by the integration tests.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
from campool_worker.pipeline.detectors import Detections
from campool_worker.pipeline.sources import Frame, VideoFileSource

Key = tuple[int, str, str, str]


def _detect_all(path: str, config: CameraConfig) -> tuple[list[Frame], list[Detections], float]:
    detector = load_detector(config.model, confidence=config.confidence, classes=config.classes)
    pipe = CameraPipeline(config, detector)
    source = VideoFileSource(path)
    frames: list[Frame] = []
    dets: list[Detections] = []
    try:
        while (f := source.read()) is not None:
            dets.append(detector.detect([f.image], min_score=pipe.min_score)[0])
            frames.append(Frame(image=f.image[:1, :1], index=f.index, ts=f.ts, media_ts=f.media_ts))
    finally:
        source.close()
    return frames, dets, source.fps


def _replay(config: CameraConfig, frames: list[Frame], dets: list[Detections], fps: float,
            start: int, end: int, warmup: int) -> list[Key]:
    detector = load_detector(config.model, confidence=config.confidence, classes=config.classes)
    pipe = CameraPipeline(config, detector, fps=fps, count_from_frame=start)
    out: list[Key] = []
    for i in range(max(0, start - warmup), end):
        fr = pipe.process_detections(frames[i], dets[i])
        out.extend((c.frame_index, c.line, c.direction, c.class_name) for c in fr.crossings)
    return out


def measure(path: str, config: CameraConfig, warmups: list[int], extra_cuts: int = 6) -> dict[str, Any]:
    frames, dets, fps = _detect_all(path, config)
    n = len(frames)
    single = _replay(config, frames, dets, fps, 0, n, 0)
    # Even cuts; a cut on every crossing's frame (each fires on its segment's first frame); a cut one
    # frame after each (each fires on its segment's last frame); one frame before (the frame before last).
    layouts: list[list[int]] = [[n * k // (extra_cuts + 1) for k in range(1, extra_cuts + 1)]]
    for shift in (0, 1, -1):
        layouts.append(sorted({f + shift for f, *_ in single if 0 < f + shift < n}))
    report: dict[str, Any] = {"video": path, "frames": n, "fps": round(fps, 3), "crossings": len(single),
                              "layouts": len(layouts), "by_warmup": {}}
    for w in warmups:
        ok, first_diff = 0, None
        for cuts in layouts:
            bounds = [0, *sorted(set(cuts)), n]
            joined: list[Key] = []
            for a, b in itertools.pairwise(bounds):
                joined.extend(_replay(config, frames, dets, fps, a, b, w))
            if sorted(joined) == sorted(single):
                ok += 1
            elif first_diff is None:
                first_diff = {"cuts": cuts, "missing": sorted(set(single) - set(joined)),
                              "extra": sorted(set(joined) - set(single))}
        report["by_warmup"][str(w)] = {"identical": ok, "of": len(layouts), "first_difference": first_diff}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="segment_cuts", description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--model", required=True)
    p.add_argument("--line", action="append", required=True)
    p.add_argument("--warmups", default="0,10,20,30,45,60,90", help="warm-up frames to try, comma-separated")
    a = p.parse_args(argv)
    config = CameraConfig(camera_id="cuts", source=a.video, model=a.model,
                          lines=[CountingLine.parse(s) for s in a.line])
    rep = measure(a.video, config, [int(w) for w in a.warmups.split(",")])
    sys.stdout.write(json.dumps(rep) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
