"""`campool-worker bench`: the model alone vs the whole pipeline, measured in one run.

(a) model only: the shared session (the same threads and options production uses)
    runs back to back on frames that were decoded and letterboxed beforehand; with a
    dynamic batch dim it runs batches of N (one frame per camera), as production does.
(b) pipeline: N cameras at once, each decoding its own looped copy of the video on a
    reader thread (as live sources do) and running detect -> track -> count on every
    frame (detect = "every": no adaptive or detect_fps throttling, every frame goes
    through the model, so the ratio compares like with like).

Both are measured in alternating rounds and the best round of each is reported:
other load on the machine only slows a measurement down, and taking the best of
both sides keeps a noisy neighbour from flattering (or spoiling) the ratio.
Printed: {"model_only_fps", "pipeline_fps", "ratio", "cameras", "provider", "model_runs",
"images_per_call"} (model_runs: inference calls of the pipeline rounds; images_per_call: their
mean batch, 1 on a CPU, more when cameras are batched on a GPU).

Thread settings (measured on the 2-core box, quiet, 4 cameras): the default, one
inference call at a time on 1 thread, gives model 130 / pipeline 128 images/s;
--intra-threads 2 gives 151 / 127; --inference-workers 2 gives 265 / 170 (more
frames in total, but the model then takes both cores from the decoders).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import TypedDict, Unpack

import numpy as np

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.errors import CampoolError
from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
from campool_worker.pipeline.detectors import OnnxDetector
from campool_worker.pipeline.offline import prefetch
from campool_worker.pipeline.sources import open_source

log = logging.getLogger(__name__)


def model_only_fps(detector: OnnxDetector, blobs: list[np.ndarray], seconds: float) -> float:
    """Images per second of the bare session on ready blobs (one per camera).

    Uses the session exactly as the pipeline does: the same threads per call, and as
    many calls at once as the shared runner has inference workers.
    """
    model = detector.model
    workers = len(detector.runner._threads) if detector.runner is not None else 1
    batch = np.concatenate(blobs) if model.dynamic_batch and len(blobs) > 1 else None
    for _ in range(3):  # warm-up: first runs allocate and tune
        model.run(batch if batch is not None else blobs[0])
    counts = [0] * workers
    go = threading.Barrier(workers + 1)
    deadline = [0.0]

    def loop(k: int) -> None:
        go.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            if batch is not None:
                model.run(batch)
                n += batch.shape[0]
            else:
                for b in blobs[k::workers] or blobs[:1]:
                    model.run(b)
                    n += 1
        counts[k] = n

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(workers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    go.wait()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


class DetectorOptions(TypedDict, total=False):
    """The `load_detector` options a bench run sets (the same for the model-only and the pipeline part)."""

    intra_op_threads: int | None
    inference_workers: int
    providers: list[str] | None


def pipeline_fps(model_path: str, video: str, cameras: int, seconds: float,
                 **detector_options: Unpack[DetectorOptions]) -> tuple[float, list[int]]:
    """Frames per second through decode -> detect -> track -> count, summed over cameras."""
    stop = threading.Event()
    start = threading.Barrier(cameras + 1)
    done = [0] * cameras
    errors: list[BaseException] = []
    sources = [open_source(video, loop=True, realtime=False) for _ in range(cameras)]
    w, h = sources[0].width, sources[0].height

    def camera(i: int) -> None:
        try:
            cfg = CameraConfig(camera_id=f"bench{i}", source=video,
                               lines=[CountingLine("bench", (0.0, h / 2), (float(w), h / 2))], detect="every")
            pipe = CameraPipeline(cfg, load_detector(model_path, **detector_options), fps=sources[i].fps)
            frames = prefetch(sources[i], depth=3)
            results = pipe.process_stream(frames)
            for _ in range(5):  # warm-up outside the timed window
                next(results)
            start.wait()
            n = 0
            for _ in results:
                if stop.is_set():
                    break
                n += 1
                done[i] = n
            results.close()
            frames.close()
        except BaseException as exc:  # noqa: BLE001 - any failure in a bench thread is re-raised by the main thread
            errors.append(exc)
            try:
                start.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=camera, args=(i,), name=f"bench-cam{i}", daemon=True)
               for i in range(cameras)]
    for t in threads:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    while not errors and time.perf_counter() - t0 < seconds:
        time.sleep(0.05)
    counted = sum(done)
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(timeout=10)
    for s in sources:
        s.close()
    if errors:
        raise errors[0]
    return counted / elapsed, list(done)


def parse_providers(text: str | None) -> list[str] | None:
    """--providers: names ONNX Runtime knows, in the order to try them (None: the worker's order)."""
    if not text:
        return None
    import onnxruntime as ort

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ort.get_all_providers()]
    if unknown or not names:
        raise CampoolError(f"--providers: {', '.join(unknown) or repr(text)} is not an ONNX Runtime execution "
                           f"provider; this build has {', '.join(ort.get_available_providers())}")
    missing = [n for n in names if n not in ort.get_available_providers()]
    if missing:
        log.warning("--providers: %s not in this onnxruntime build (it has %s); the next one is used",
                    ", ".join(missing), ", ".join(ort.get_available_providers()))
    return names


def capacity_command(args: argparse.Namespace) -> int:
    from campool_worker.camera import ConfigError
    from campool_worker.harness.capacity import capacity

    try:
        lines = [CountingLine.parse(t) for t in getattr(args, "line", [])]
    except ConfigError as exc:
        raise CampoolError(str(exc)) from None
    max_frames = getattr(args, "max_frames", None)
    if max_frames is not None and max_frames <= 0:
        raise CampoolError("--max-frames must be a positive number of frames")
    text = getattr(args, "classes", None)
    classes = [c.strip() for c in text.split(",") if c.strip()] if text else None
    out = capacity(args.model, args.video, lines, max_frames, classes)
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        for mode, m in out["modes"].items():
            sys.stdout.write(f"{mode}: {m['cameras']} camera(s) at real time ({m['cpu_s']} CPU s for "
                             f"{m['video_seconds']} s of video, {m['runs_per_s']} detector runs/s)\n")
        sys.stdout.write(f"same counts: {out['same_counts']}; load {out['load_before']} -> {out['load_after']} "
                         f"on {out['cores']} cores\n")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    if getattr(args, "capacity", False):
        return capacity_command(args)
    if args.cameras < 1 or args.cameras > 256:
        raise CampoolError("--cameras must be between 1 and 256")
    if not args.seconds > 0:
        raise CampoolError("--seconds must be a positive number")
    threads = getattr(args, "intra_threads", None)
    workers = getattr(args, "inference_workers", None)
    workers = 1 if workers is None else workers
    if (threads is not None and threads < 1) or workers < 1:
        raise CampoolError("--intra-threads and --inference-workers must be at least 1")
    options: DetectorOptions = {"intra_op_threads": threads, "inference_workers": workers,
                                "providers": parse_providers(getattr(args, "providers", None))}
    detector = load_detector(args.model, **options)
    if not isinstance(detector, OnnxDetector):
        raise CampoolError("bench needs an ONNX model (--model PATH)")
    with open_source(args.video) as src:
        read = [src.read() for _ in range(args.cameras)]
    frames = [f for f in read if f is not None]  # a short file gives fewer frames than cameras
    if not frames:
        raise CampoolError(f"{args.video!r} has no frame to benchmark on")
    blobs = [detector.preprocess(frames[i % len(frames)].image)[0] for i in range(args.cameras)]
    rounds = 3
    per = max(args.seconds / rounds, 1.0)
    sys.stderr.write(f"bench: {detector.name} on {detector.provider}, {detector.model.intra_op_threads} "
                     f"thread(s) per call, {workers} inference worker(s), {args.cameras} camera(s), "
                     f"{rounds} rounds of {per:g} s model only + {per:g} s pipeline\n")
    models, pipes = [], []
    runner = detector.runner
    calls0, images0 = (runner.calls, runner.images) if runner is not None else (0, 0)
    for r in range(rounds):
        # Alternating rounds, best of each: other work on the machine only ever slows a
        # measurement down, so the best round is the closest to the machine's real figure.
        models.append(model_only_fps(detector, blobs, per))  # the bare session: not through the runner
        fps, per_cam = pipeline_fps(args.model, args.video, args.cameras, per, **options)
        pipes.append(fps)
        sys.stderr.write(f"bench: round {r + 1}: model only {models[-1]:.1f} images/s, pipeline {fps:.1f} "
                         f"frames/s (frames per camera {per_cam})\n")
    model, pipe = max(models), max(pipes)
    calls = (runner.calls - calls0) if runner is not None else 0
    images = (runner.images - images0) if runner is not None else 0
    out = {
        "model_only_fps": round(model, 2),
        "pipeline_fps": round(pipe, 2),
        "ratio": round(pipe / model, 3) if model else 0.0,
        "cameras": args.cameras,
        "provider": detector.provider,
        "model_runs": calls,
        "images_per_call": round(images / calls, 3) if calls else 0.0,
    }
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        sys.stdout.write(f"model only: {out['model_only_fps']} images/s\npipeline:   {out['pipeline_fps']} "
                         f"frames/s ({args.cameras} camera(s))\nratio:      {out['ratio']}\n"
                         f"provider:   {out['provider']}\n")
    return 0
