"""What a standby costs per camera: hot (the whole pipeline) vs warm (the stream and its ring).

    python3 -m campool_worker.harness.standby_bench --url rtsp://127.0.0.1:8554/cam \
        --model ../shared/data/models/yolox_nano.onnx [--cameras 2] [--seconds 20] [--json]

(bench/standby_cost.sh starts the tests' gst-rtsp-server on the shared highway video and runs it.)

Each mode runs in a fresh child process, so that one's memory does not stay in the other's
figures: ``idle`` (the worker's imports, the model loaded, no camera), ``hot`` and ``warm``
(``--cameras`` runners of that mode on the stream, as the worker runs them: `CameraRunner`,
`CameraPipeline`, detect_fps 10, line ``near:0,500,1280,500``). After a settling time each child
measures its CPU time over ``--seconds`` of wall time and its RSS at the end (the ring full by
then). Per camera: CPU % of one core, and RSS above ``idle`` divided by the cameras. The warm
child also reports its ring (frames, MB). Printed: one line per mode, or one JSON object with
``--json``; ``warm_vs_hot_cpu`` is the fraction a warm standby costs of a hot one, what the
master's capacity counts (`protocol.WARM_STANDBY_COST`).

Also measured, on frames of the same stream: what keeping one frame costs in each form a warm
ring could hold (``ring_forms``: ms to keep, KiB held, ms to give it back), the figures behind
`frame_ring`'s choice.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

import cv2
import numpy as np
import psutil

from campool_worker.camera import CameraConfig, CountingLine

log = logging.getLogger(__name__)

LINE = "near:0,500,1280,500"
SETTLE_S = 6.0  # streams connected, the model warm, a warm ring filling
MODES = ("idle", "hot", "warm")


def _camera(i: int, url: str, model: str) -> CameraConfig:
    return CameraConfig(f"cam{i}", url, lines=[CountingLine.parse(LINE)], model=model, detect_fps=10.0)


def measure(mode: str, url: str, model: str, cameras: int, seconds: float, buffer_s: float) -> dict[str, Any]:
    """One mode's figures, in this process (run it in a fresh one: see the module doc)."""
    from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
    from campool_worker.pipeline.runner import CameraRunner

    detector = load_detector(model)  # one shared session, as the worker loads it for its cameras

    def factory(config: CameraConfig) -> CameraPipeline:
        return CameraPipeline(config, detector)

    runners = [] if mode == "idle" else [
        CameraRunner(_camera(i, url, model), factory, warm_buffer_s=buffer_s if mode == "warm" else None).start()
        for i in range(cameras)]
    proc = psutil.Process()
    try:
        time.sleep(max(SETTLE_S, buffer_s + 1.0 if mode == "warm" else SETTLE_S))
        states = [r.status().state for r in runners]
        if any(s != "running" for s in states):
            raise RuntimeError(f"{mode}: cameras not running after {SETTLE_S} s: {states} "
                               f"{[r.status().last_error for r in runners]}")
        frames0 = sum(r.status().frames for r in runners)
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = proc.cpu_times(), time.monotonic()
        frames = sum(r.status().frames for r in runners) - frames0
        out: dict[str, Any] = {
            "mode": mode, "cameras": len(runners),
            "cpu_pct": round(100.0 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / (t1 - t0), 1),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "fps_per_camera": round(frames / (t1 - t0) / max(len(runners), 1), 1)}
        if mode == "warm":
            rings = [f for f in (r.ring_figures() for r in runners) if f is not None]
            n = max(len(rings), 1)
            out["ring_frames"] = int(sum(g["frames"] for g in rings) / n)
            out["ring_mb"] = round(sum(g["bytes"] for g in rings) / n / 2**20, 2)
            out["ring_keep_ms"] = round(sum(g["keep_ms"] for g in rings) / max(sum(g["kept"] for g in rings), 1), 2)
        return out
    finally:
        for r in runners:
            r.stop()


def ring_forms(url: str, frames: int = 60) -> dict[str, dict[str, float]]:
    """Per frame: ms to keep it, KiB held, ms to give it back at source size, for each form."""
    from campool_worker.pipeline.sources import open_source

    with open_source(url) as src:
        images = [f.image for f in (src.read() for _ in range(frames)) if f is not None]
    out: dict[str, dict[str, float]] = {}
    h, w = images[0].shape[:2]

    def small(img: np.ndarray, side: int) -> np.ndarray:
        s = side / max(w, h)
        return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)

    def unjpeg(kept: np.ndarray) -> np.ndarray:
        img = cv2.imdecode(kept, cv2.IMREAD_COLOR)
        if img is None:
            raise RuntimeError("a kept JPEG did not decode")
        return img

    forms: dict[str, Any] = {
        "decoded_full": (lambda img: img.copy(), lambda kept: kept),
        "decoded_640": (lambda img: small(img, 640), lambda kept: cv2.resize(kept, (w, h))),
        "jpeg85_full": (lambda img: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1],
                        unjpeg),
        "jpeg85_640": (lambda img: cv2.imencode(".jpg", small(img, 640), [cv2.IMWRITE_JPEG_QUALITY, 85])[1],
                       lambda kept: cv2.resize(unjpeg(kept), (w, h))),
    }
    for name, (keep, give) in forms.items():
        best_keep = best_give = float("inf")
        for _ in range(3):  # the best of three: a loaded box only ever slows a round down
            t0 = time.perf_counter()
            kept = [keep(img) for img in images]
            t1 = time.perf_counter()
            for k in kept:
                give(k)
            t2 = time.perf_counter()
            best_keep, best_give = min(best_keep, t1 - t0), min(best_give, t2 - t1)
        out[name] = {"keep_ms": round(best_keep * 1000 / len(images), 2),
                     "kib": round(sum(k.nbytes for k in kept) / len(kept) / 1024, 1),
                     "replay_ms": round(best_give * 1000 / len(images), 2)}
    return out


def _child(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "campool_worker.harness.standby_bench", "--url", args.url, "--model", args.model,
           "--cameras", str(args.cameras), "--seconds", str(args.seconds), "--buffer-s", str(args.buffer_s),
           "--child", mode]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 120, check=False,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="a live camera (rtsp://...)")
    ap.add_argument("--model", required=True, help="ONNX detector (the shared yolox_nano.onnx)")
    ap.add_argument("--cameras", type=int, default=2, help="runners per mode (the same stream each)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds measured per mode")
    ap.add_argument("--buffer-s", type=float, default=10.0, help="a warm standby's ring, seconds")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.child:
        print(json.dumps(measure(args.child, args.url, args.model, args.cameras, args.seconds, args.buffer_s)))
        return 0
    runs = {mode: _child(args, mode) for mode in MODES}
    idle_mb = runs["idle"]["rss_mb"]
    per_camera = {}
    for mode in ("hot", "warm"):
        r = runs[mode]
        per_camera[mode] = {"cpu_pct": round((r["cpu_pct"] - runs["idle"]["cpu_pct"]) / r["cameras"], 1),
                            "rss_mb": round((r["rss_mb"] - idle_mb) / r["cameras"], 1),
                            "fps": r["fps_per_camera"]}
    result = {"runs": runs, "per_camera": per_camera,
              "warm_vs_hot_cpu": round(per_camera["warm"]["cpu_pct"] / max(per_camera["hot"]["cpu_pct"], 1e-6), 2),
              "ring_forms": ring_forms(args.url)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for mode, fig in per_camera.items():
        print(f"{mode:5s} per camera: {fig['cpu_pct']:5.1f} % CPU (of one core), {fig['rss_mb']:6.1f} MB RSS, "
              f"{fig['fps']:.1f} frames/s")
    print(f"warm costs {result['warm_vs_hot_cpu']:.2f} of a hot standby's CPU; ring {runs['warm'].get('ring_frames')} "
          f"frames, {runs['warm'].get('ring_mb')} MB per camera")
    for name, fig in result["ring_forms"].items():
        print(f"ring form {name:13s}: keep {fig['keep_ms']:5.2f} ms, {fig['kib']:7.1f} KiB, replay "
              f"{fig['replay_ms']:5.2f} ms per frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
