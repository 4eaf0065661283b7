"""`campool-worker count VIDEO ...`: count a whole file (or N frames of a stream) once.

This is the interface the product's own checks use, so its JSON shape is stable:
{"frames", "seconds", "fps", "provider", "detect", "model_runs", "video_seconds",
 "lines": {NAME: {"in", "out", "by_class"}}, "zones": {NAME: {"peak", ...}}}
(model_runs: detector calls of one image each; video_seconds: the media time counted;
adaptive detection adds "run_reasons" and "starved"). Progress goes to stderr, the JSON
alone to stdout.
"""
from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path

from campool_worker.camera import (
    DEFAULT_DETECT_BUDGET,
    DEFAULT_DETECT_FLOOR,
    CameraConfig,
    ConfigError,
    CountingLine,
    LineCounts,
    Zone,
)
from campool_worker.errors import CampoolError
from campool_worker.pipeline.camera_pipeline import CameraPipeline, check_geometry, load_detector
from campool_worker.pipeline.sources import Frame, FrameSource, open_source

log = logging.getLogger(__name__)

class _End:
    """The reader's last item: the source has no more frames."""


_END = _End()


def prefetch(source: FrameSource, depth: int = 4,
             max_frames: int | None = None) -> Generator[Frame, None, None]:
    """Frames of `source` decoded on a helper thread, `depth` ahead of the consumer.

    OpenCV decodes with the GIL released, so decoding the next frame overlaps the
    detector working on this one. A SourceError in the reader is raised here.
    """
    q: queue.Queue[Frame | BaseException | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def reader() -> None:
        n = 0
        try:
            while not stop.is_set() and (max_frames is None or n < max_frames):
                frame = source.read()
                if frame is None:
                    break
                n += 1
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            q.put(exc)
            return
        q.put(_END)

    t = threading.Thread(target=reader, name="prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=2)


def build_config(args: argparse.Namespace) -> CameraConfig:
    """The camera the command line describes; ConfigError becomes a one-line CampoolError."""
    try:
        lines = [CountingLine.parse(s) for s in args.line]
        zones = [Zone.parse(s) for s in args.zone]
        classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
        return CameraConfig(camera_id="offline", source=str(args.video), lines=lines, zones=zones,
                            model=args.model, classes=classes, detect_fps=args.detect_fps,
                            detect=getattr(args, "detect", "adaptive"),
                            detect_budget=_or(getattr(args, "detect_budget", None), DEFAULT_DETECT_BUDGET),
                            detect_floor=_or(getattr(args, "detect_floor", None), DEFAULT_DETECT_FLOOR),
                            confidence=0.3 if args.confidence is None else args.confidence)
    except ConfigError as exc:
        raise CampoolError(str(exc)) from None


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


class _Progress:
    def __init__(self, total: int | None) -> None:
        self.total = total
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.tty = sys.stderr.isatty()

    def update(self, n: int, counts: Callable[[], dict[str, LineCounts]], force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < (0.5 if self.tty else 5.0):
            return
        self.last = now
        fps = n / max(now - self.t0, 1e-9)
        of = f"/{self.total}" if self.total else ""
        summary = " ".join(f"{k}: in {v.in_total} out {v.out_total}" for k, v in counts().items())
        text = f"frame {n}{of}  {fps:.1f} fps  {summary}"
        sys.stderr.write(("\r" + text + "\x1b[K") if self.tty else text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def count_command(args: argparse.Namespace) -> int:
    config = build_config(args)
    if args.max_frames is not None and args.max_frames <= 0:
        raise CampoolError("--max-frames must be a positive number of frames")
    source = open_source(args.video, realtime=False)  # a file or synthetic scene: as fast as we can
    annot = None
    events = None
    try:
        check_geometry(config, source.width, source.height)
        detector = load_detector(config.model, labels=args.labels, confidence=config.confidence,
                                 classes=config.classes)
        pipeline = CameraPipeline(config, detector, fps=source.fps)
        if args.annotate:
            from campool_worker.pipeline.annotate import AnnotatedVideo
            annot = AnnotatedVideo(args.annotate, source.fps or 25.0, source.width, source.height)
        if args.events:
            try:
                events = Path(args.events).open("w", encoding="utf-8")
            except OSError as exc:
                raise CampoolError(f"cannot write events to {args.events!r}: {exc.strerror}") from None
        log.info("counting %s with %s (%s)", source.display_url, detector.name, detector.provider)
        total = args.max_frames or source.frame_count
        progress = _Progress(total)
        n = 0
        first_media: float | None = None
        last_media = 0.0
        t0 = time.perf_counter()
        for frame, result in pipeline.process_stream(prefetch(source, max_frames=args.max_frames)):
            n += 1
            if first_media is None:
                first_media = frame.media_ts
            last_media = frame.media_ts
            for c in result.crossings:
                if events is not None:
                    events.write(json.dumps({
                        "camera_id": config.camera_id, "line": c.line, "direction": c.direction,
                        "class_name": c.class_name, "track_id": c.track_id, "frame_index": c.frame_index,
                        "ts": round(c.ts, 3), "media_ts": round(c.media_ts, 3)}) + "\n")
            if annot is not None:
                from campool_worker.pipeline.annotate import draw
                annot.write(draw(frame.image, result, config.lines, config.zones))
            progress.update(n, pipeline.counts)
        seconds = time.perf_counter() - t0
        pipeline.finish()
        progress.update(n, pipeline.counts, force=True)
        progress.done()
    finally:
        source.close()
        if annot is not None:
            annot.close()
        if events is not None:
            events.close()
    lines = {name: c.to_dict() for name, c in pipeline.counts().items()}
    zones = {z.zone.name: z.state.to_dict() for z in pipeline.zones}
    out = {
        "frames": n,
        "seconds": round(seconds, 3),
        "fps": round(n / seconds, 2) if seconds > 0 else 0.0,
        "provider": detector.provider,
        "detect": pipeline.mode,
        "model_runs": pipeline.model_runs,
        **({"run_reasons": dict(sorted(pipeline.planner.reasons.items())), "starved": pipeline.planner.starved}
           if pipeline.planner is not None else {}),
        # the media time the frames cover: the last frame lasts 1/fps too
        "video_seconds": round(last_media - (first_media or 0.0) + (1.0 / source.fps if source.fps and n else 0.0),
                               3),
        "lines": lines,
        "zones": zones,
    }
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        for name, lc in lines.items():
            per = ", ".join(f"{k} {v['in']}/{v['out']}" for k, v in lc["by_class"].items())
            sys.stdout.write(f"line {name}: in {lc['in']}, out {lc['out']}" + (f" ({per})" if per else "") + "\n")
        for name, z in zones.items():
            sys.stdout.write(f"zone {name}: peak {z['peak']}, entries {z['entries']}, "
                             f"mean dwell {z['mean_dwell_s']} s\n")
        sys.stdout.write(f"{n} frames in {out['seconds']} s ({out['fps']} fps) on {out['provider']}; "
                         f"detector ran {out['model_runs']} times ({out['detect']})\n")
    return 0
