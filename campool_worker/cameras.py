"""One assigned camera inside the daemon: its runner, supervised so it fails and restarts alone.

A `CameraSlot` owns the `CameraRunner` (pipeline/runner.py: source, reconnect, watchdog,
pipeline) of one (camera, epoch). When the runner cannot even be built or ends up "failed"
(a model that does not load), the slot rebuilds it with a backoff (1 s doubling to 60 s), so a
model pushed or fixed later is picked up; the daemon and the other cameras never notice.

Crossings, previews and alerts go to an `EventSink` (the service loop), never to sockets or
SQLite directly: the service thread is the only one that writes the outbox and the PUB socket.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from campool_worker.camera import CameraConfig
from campool_worker.outbox import PendingCrossing
from campool_worker.protocol import CameraTelemetry, PreviewFrame, PreviewTrack

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
BACKOFF_CAP_S = 60.0
TEST_SCHEME = "test://"
WARMUP_FRAMES = 50  # frames replayed before a resumed file starts counting, so tracks exist


class EventSink(Protocol):
    def crossings(self, frame_crossings: list[PendingCrossing]) -> None: ...
    def preview(self, frame: PreviewFrame) -> None: ...
    def alert(self, level: str, code: str, message: str, camera_id: str | None) -> None: ...


@dataclass
class PreviewSettings:
    enabled: bool = False
    width: int = 320
    fps: float = 2.0
    last_sent: float = field(default=0.0)


class CameraSlot:
    """A supervised (camera, epoch). start() returns at once; stop() joins the runner."""

    def __init__(self, camera: CameraConfig, epoch: int, *, start_frame: int | None, count_from_frame: int | None,
                 count_from_ts: float | None = None, worker_id: str, models_dir: Path, sink: EventSink, test_hooks: bool = False,
                 detector_options: dict[str, Any] | None = None) -> None:
        self.camera = camera
        self.epoch = epoch
        self.start_frame = start_frame
        self.count_from_frame = count_from_frame
        self.count_from_ts = count_from_ts
        self._processed_up_to = -1  # last frame index a runner of this slot processed
        self._zone_occupancy: dict[str, int] = {}
        self.worker_id = worker_id
        self.models_dir = models_dir
        self.sink = sink
        self.test_hooks = test_hooks
        self.detector_options = detector_options or {}  # intra_op_threads, inference_workers
        self.preview = PreviewSettings()
        self.detector_name = ""
        self._runner: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=f"camera-{camera.camera_id}", daemon=True)
        self._failures = 0
        self._last_error: str | None = None
        self._state = "starting"
        self._lock = threading.Lock()
        self.ctx = f"camera {camera.camera_id} epoch {epoch}"

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._lock:
            runner = self._runner
        if runner is not None:
            _stop_runner(runner, timeout)
        self._thread.join(timeout)
        self._state = "stopped"

    # ------------------------------------------------------------------ status

    def status_fields(self) -> dict[str, Any]:
        runner = self._runner
        fps = latency = 0.0
        frames, frame_index = 0, -1
        state, error = self._state, self._last_error
        if runner is not None:
            try:
                st = runner.status()
                state = st.state
                fps, latency = _finite(st.fps), _finite(st.latency_ms)
                frames, frame_index = int(st.frames), int(st.frame_index)
                error = st.last_error or error
            except Exception as exc:  # noqa: BLE001 - a broken runner shows as failed, not as a crash
                state, error = "failed", f"status unavailable: {exc}"
        return {"state": state, "fps": fps, "latency_ms": latency, "frames": frames,
                "frame_index": frame_index, "last_error": error}

    def telemetry(self, last_seq: int, backlog: int) -> CameraTelemetry:
        f = self.status_fields()
        return CameraTelemetry(
            camera_id=self.camera.camera_id, epoch=self.epoch, state=f["state"], fps=f["fps"],
            latency_ms=f["latency_ms"], frames=f["frames"], frame_index=max(f["frame_index"], 0),
            last_error=f["last_error"], last_seq=last_seq, backlog=backlog, preview=self.preview.enabled,
            detector=self.detector_name, zones=dict(self._zone_occupancy))

    # ------------------------------------------------------------------ supervision

    def _supervise(self) -> None:
        backoff = BACKOFF_START_S
        while not self._stop.is_set():
            try:
                runner = self._build_runner()
                with self._lock:
                    if self._stop.is_set():
                        _stop_runner(runner, 5.0)
                        return
                    self._runner = runner
                runner.start()
                self._failures = 0
                started = time.monotonic()
                while not self._stop.wait(0.5):
                    st = runner.status()
                    self._processed_up_to = max(self._processed_up_to, st.frame_index)
                    if st.state == "failed":
                        raise RuntimeError(st.last_error or "the camera runner failed")
                    if st.state == "stopped":  # the end of a non-looped file: nothing to restart
                        self._state = "stopped"
                        self._stop.wait()
                        return
                    if time.monotonic() - started > 60:
                        backoff = BACKOFF_START_S  # it ran a while: the next failure starts fresh
            except Exception as exc:  # noqa: BLE001 - every camera failure stays in this camera
                self._failures += 1
                self._last_error = str(exc) or type(exc).__name__
                self._state = "failed"
                with self._lock:
                    runner, self._runner = self._runner, None
                if runner is not None:
                    _stop_runner(runner, 5.0)
                if self._stop.is_set():
                    return
                self._resume_after(self._processed_up_to)
                # The heartbeat shows the state and the service turns the change into an alert.
                log.error("%s failed: %s; restarting in %.0f s", self.ctx, self._last_error, backoff)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, BACKOFF_CAP_S)
                self._state = "starting"

    def _resume_after(self, frame_index: int) -> None:
        """A rebuilt runner goes on after the last processed frame instead of from the original
        start, so crossings already reported under this epoch are not reported again (seekable
        sources; a live stream simply goes on). Frames are committed all-or-nothing, so the next
        frame is exactly where counting must resume; the warm-up gives the tracker its history."""
        if frame_index < 0:
            return
        count_from = max(self.count_from_frame or 0, frame_index + 1)
        self.count_from_frame = count_from
        self.start_frame = max(self.start_frame or 0, count_from - WARMUP_FRAMES)

    def _build_runner(self) -> Any:
        if self.camera.source.startswith(TEST_SCHEME):
            if not self.test_hooks:
                raise ValueError(f"source {self.camera.source!r}: test:// sources exist only for the test suite")
            self.detector_name = "test"
            return BurstRunner(self.camera, self.epoch, lambda c: self._on_crossings([c]), self.start_frame, self.count_from_frame)
        from campool_worker.pipeline.runner import CameraRunner  # heavy imports only when needed

        return CameraRunner(self._resolve_model(self.camera), self._make_pipeline,
                            start_frame=self.start_frame, count_from_frame=self.count_from_frame,
                            count_from_ts=self.count_from_ts, on_crossings=self._on_crossings, on_result=self._on_result,
                            log_context=f"epoch {self.epoch}")

    def _resolve_model(self, camera: CameraConfig) -> CameraConfig:
        """``sha256:<hex>`` (a model the master pushed) -> its file in the models folder."""
        if camera.model and camera.model.startswith("sha256:"):
            path = self.models_dir / f"{camera.model[7:]}.onnx"
            if not path.exists():
                raise FileNotFoundError(f"model {camera.model} is not on this worker; push it from the master")
            return CameraConfig.from_dict({**camera.to_dict(), "model": str(path)})
        return camera

    def _make_pipeline(self, camera: CameraConfig) -> Any:
        from campool_worker.pipeline.pipeline import CameraPipeline, load_detector

        detector = load_detector(camera.model, class_names=camera.labels, confidence=camera.confidence,
                                 classes=camera.classes, **self.detector_options)
        self.detector_name = str(getattr(detector, "provider", "") or getattr(detector, "name", ""))
        return CameraPipeline(camera, detector)

    def update(self, camera: CameraConfig) -> None:
        """New lines, zones, model... under the same epoch, applied between two frames."""
        self.camera = camera
        with self._lock:
            runner = self._runner
        if runner is not None:
            runner.update_config(self._resolve_model(camera) if not camera.source.startswith(TEST_SCHEME) else camera)

    # ------------------------------------------------------------------ runner callbacks (camera thread)

    def _on_crossings(self, frame_crossings: list[Any]) -> None:
        """One frame's crossings, handed on together so the outbox commits a frame all-or-nothing."""
        cam_id = self.camera.camera_id
        self.sink.crossings([PendingCrossing(
            camera_id=cam_id, epoch=self.epoch, line=c.line, direction=c.direction,
            class_name=c.class_name, track_id=int(c.track_id), ts=float(c.ts), frame_index=int(c.frame_index))
            for c in frame_crossings])

    def _on_result(self, frame: Any, result: Any) -> None:
        zones = getattr(result, "zones", None)
        if zones:  # heartbeats carry occupancy so zone alerts work without a preview
            self._zone_occupancy = {str(n): sum(int(v) for v in (getattr(z, "occupancy", None) or {}).values())
                                    for n, z in zones.items()}
        pv = self.preview
        if not pv.enabled:
            return
        now = time.monotonic()
        if now - pv.last_sent < 1.0 / pv.fps:
            return
        pv.last_sent = now
        try:
            self.sink.preview(make_preview(self.worker_id, self.camera.camera_id, self.epoch, frame, result, pv.width))
        except Exception as exc:  # noqa: BLE001 - a preview is never worth a camera
            log.warning("%s: preview failed: %s", self.ctx, exc)


def make_preview(worker_id: str, camera_id: str, epoch: int, frame: Any, result: Any, width: int) -> PreviewFrame:
    import cv2

    img = frame.image
    h, w = img.shape[:2]
    scale = min(1.0, width / max(w, 1))
    small = cv2.resize(img, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else img
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    tracks = [PreviewTrack(int(t.track_id), str(t.class_name), _finite(getattr(t, "score", 0.0)),
                           [_finite(v) * scale for v in list(t.box)[:4]]) for t in getattr(result, "tracks", [])]
    counts = {str(line): c.copy() for line, c in (getattr(result, "counts", None) or {}).items()}
    zones = {}
    for name, z in (getattr(result, "zones", None) or {}).items():
        occ = getattr(z, "occupancy", None) or {}
        zones[str(name)] = {str(k): int(v) for k, v in occ.items()}
    return PreviewFrame(worker_id, camera_id, epoch, int(frame.index), float(frame.ts), small.shape[1], small.shape[0],
                        tracks, counts, zones, jpeg.tobytes(), source_width=w, source_height=h)


def _finite(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


def _stop_runner(runner: Any, timeout: float) -> None:
    try:
        runner.stop(timeout) if _takes_arg(runner.stop) else runner.stop()
    except Exception as exc:  # noqa: BLE001
        log.warning("stopping a camera runner failed: %s", exc)


def _takes_arg(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        return len(inspect.signature(fn).parameters) >= 1
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------- test hook

@dataclass
class _BurstStatus:
    state: str
    fps: float
    latency_ms: float
    frames: int
    frame_index: int
    last_error: str | None


@dataclass
class _BurstCrossing:
    line: str
    direction: str
    class_name: str
    track_id: int
    frame_index: int
    ts: float


class BurstRunner:
    """``test://burst?rate=500&count=N``: emits crossings at ``rate`` per second (one per
    "frame"), for the outbox and failover tests that need many events fast. Honours
    start_frame/count_from_frame like the real runner. Only with ``test_hooks`` on."""

    def __init__(self, camera: CameraConfig, epoch: int, on_crossing: Callable[[Any], None],
                 start_frame: int | None, count_from_frame: int | None) -> None:
        q = parse_qs(urlsplit(camera.source).query)
        self.rate = float(q.get("rate", ["200"])[0])
        self.count = int(q.get("count", ["0"])[0])  # 0 = forever
        self.line = camera.lines[0].name if camera.lines else "line"
        self.on_crossing = on_crossing
        self.index = start_frame or 0
        self.count_from = count_from_frame or 0
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"burst-{camera.camera_id}", daemon=True)
        self._state = "starting"

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        self._state = "running"
        t0 = time.monotonic()
        while not self._stop.is_set():
            if self.count and self.index >= self.count:
                self._state = "stopped"
                return
            if self.index >= self.count_from:
                self.on_crossing(_BurstCrossing(self.line, "in" if self.index % 2 == 0 else "out", "car",
                                                self.index, self.index, time.time()))
            self.index += 1
            self.frames += 1
            delay = t0 + self.frames / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def status(self) -> _BurstStatus:
        return _BurstStatus(self._state, self.rate, 0.0, self.frames, self.index - 1, None)

    def update_config(self, camera: CameraConfig) -> None:
        self.line = camera.lines[0].name if camera.lines else "line"

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._state = "stopped"
