"""One assigned (camera, epoch) inside the daemon: its runner, its telemetry and its previews.

A `CameraSlot` builds the camera's runner: the `CameraRunner` (pipeline/runner.py: the camera's
loop and its one supervisor, which reconnects, restarts a stalled loop and rebuilds a camera
whose model would not load) or, for a ``test://`` source with the test hooks on, the
`BurstRunner` (harness/test_hooks.py). The slot resolves the camera's model through the
`ModelStore` each time the runner builds a pipeline, so a model pushed after the assignment is
picked up by the runner's next rebuild.

A slot also holds its camera's role (issue #12): a primary, or a standby beside another
worker's primary, hot (the whole pipeline, its crossings reported as usual) or warm (the runner
buffers frames and runs no detector). `promote` makes it the primary of its epoch. What it
watched goes to its `CoverageTracker` (coverage.py), which the service loop drains into the
outbox's coverage spans.

Crossings, previews and alerts go to an `EventSink` (the service loop), never to sockets or
SQLite directly: the service thread is the only one that writes the outbox and the PUB socket.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from campool_worker.camera import CameraConfig
from campool_worker.coverage import CoverageTracker, Role
from campool_worker.detect_governor import Allowance
from campool_worker.model_store import ModelStore
from campool_worker.outbox import FrameCrossings, StoredAssignment
from campool_worker.pipeline.runner import CameraRunner, RunnerStatus
from campool_worker.protocol import CameraTelemetry, PreviewFrame, PreviewTrack
from campool_worker.url_secrets import redact_text

if TYPE_CHECKING:
    from campool_worker.pipeline.camera_pipeline import CameraPipeline, Crossing, FrameResult
    from campool_worker.pipeline.sources import Frame

log = logging.getLogger(__name__)

TEST_SCHEME = "test://"


class EventSink(Protocol):
    """Where a camera's output goes (service.WorkerService); called from camera threads."""

    def crossings(self, frame: FrameCrossings) -> None: ...
    def preview(self, frame: PreviewFrame) -> None: ...
    def alert(self, level: str, code: str, message: str, camera_id: str | None) -> None: ...


class Runner(Protocol):
    """What a slot needs of its runner (CameraRunner, or the test hook's BurstRunner)."""

    def start(self) -> Any: ...
    def stop(self, timeout_s: float = ...) -> None: ...
    def status(self) -> RunnerStatus: ...
    def update_config(self, config: CameraConfig) -> None: ...
    def promote(self, count_from_ts: float | None) -> None: ...


@dataclass
class PreviewSettings:
    enabled: bool = False
    width: int = 320
    fps: float = 2.0
    last_sent: float = field(default=0.0)


@dataclass(frozen=True)
class DetectorOptions:
    """How the worker runs its models (settings intra_op_threads and inference_workers)."""

    intra_op_threads: int | None = None  # None: the cores minus a quarter
    inference_workers: int = 1


class CameraSlot:
    """A running (camera, epoch). start() returns at once; stop() stops its runner."""

    def __init__(self, assignment: StoredAssignment, *, worker_id: str, models: ModelStore, sink: EventSink,
                 test_hooks: bool = False, detector_options: DetectorOptions | None = None) -> None:
        self.assignment = assignment
        self.worker_id = worker_id
        self.models = models
        self.sink = sink
        self.test_hooks = test_hooks
        self.detector_options = detector_options or DetectorOptions()
        self.preview = PreviewSettings()
        self.detector_name = ""
        self._zone_occupancy: dict[str, dict[str, int]] = {}   # zone -> class -> objects in it now
        self._runner: Runner | None = None
        self._error: str | None = None  # why there is no runner at all
        self._allowance: Allowance | None = None  # what the detect governor allows it now
        self.coverage = CoverageTracker(assignment.role)
        self.ctx = f"camera {assignment.camera.camera_id} epoch {assignment.epoch}" + (
            f" ({assignment.standby} standby)" if assignment.role == "standby" else "")
        # last_error goes into heartbeats, alerts and the master's history: never with a password

    @property
    def camera(self) -> CameraConfig:
        return self.assignment.camera

    @property
    def epoch(self) -> int:
        return self.assignment.epoch

    @property
    def role(self) -> Role:
        return self.assignment.role

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        try:
            self._runner = self._build_runner()
        except ValueError as exc:  # a source this worker will never run: nothing to retry
            self._error = str(exc)
            log.error("%s cannot run: %s", self.ctx, exc)
            return
        self._runner.start()

    def stop(self, timeout: float = 10.0) -> None:
        runner = self._runner
        if runner is None:
            return
        try:
            runner.stop(timeout)
        except Exception as exc:  # noqa: BLE001 - stopping one camera must not stop the others
            log.warning("%s: stopping its runner failed: %s", self.ctx, exc)

    def update(self, camera: CameraConfig) -> None:
        """New lines, zones, model... under the same epoch, applied between two frames."""
        self.assignment = replace(self.assignment, camera=camera)
        if self._runner is not None:
            self._runner.update_config(camera)

    def promote(self, count_from_ts: float | None) -> bool:
        """Become the primary of this epoch. A warm standby counts its buffered frames from
        ``count_from_ts`` (this worker's clock) on; a hot one only changes its role. False when it
        was the primary already (a repeat changes nothing)."""
        if self.assignment.role == "primary":
            return False
        a = self.assignment
        cut = count_from_ts if a.warm else a.count_from_ts
        self.assignment = replace(a, role="primary", count_from_ts=cut)
        log.info("%s: promoted to primary%s", self.ctx,
                 f"; counting its buffered frames from {count_from_ts!r}" if a.warm else "")
        self.ctx = f"camera {a.camera.camera_id} epoch {a.epoch}"
        if self._runner is not None:
            self._runner.promote(count_from_ts if a.warm else None)
        else:
            self.coverage.set_role("primary")
        return True

    def set_detect_allowance(self, allowance: Allowance | None) -> None:
        """The detector budget the worker allows this camera now (detect_governor.py)."""
        self._allowance = allowance
        setter = getattr(self._runner, "set_detect_budget", None)  # a test:// runner has no detector
        if setter is not None:
            setter(allowance.budget if allowance is not None and allowance.reason else None)

    def set_preview(self, enabled: bool, width: int, fps: float) -> None:
        self.preview.enabled, self.preview.width, self.preview.fps = enabled, width, fps

    # ------------------------------------------------------------------ status

    def runner_status(self) -> RunnerStatus:
        """The runner's status; without a runner (a source this worker refuses) a failed one."""
        runner = self._runner
        if runner is None:
            return RunnerStatus(self.camera.camera_id, "failed" if self._error else "starting", last_error=self._error)
        try:
            return runner.status()
        except Exception as exc:  # noqa: BLE001 - a broken runner shows as failed, not as a crash
            return RunnerStatus(self.camera.camera_id, "failed", last_error=f"status unavailable: {exc}")

    def telemetry(self, last_seq: int, backlog: int, status: RunnerStatus | None = None) -> CameraTelemetry:
        """The camera's line in a heartbeat. ``status``: the runner's status noted before the
        crossings were committed and ``last_seq`` read (see `Assignments.telemetry`)."""
        st = status or self.runner_status()
        error = redact_text(st.last_error) if st.last_error else st.last_error
        return CameraTelemetry(
            camera_id=self.camera.camera_id, epoch=self.epoch, state=st.state, fps=_finite(st.fps),
            latency_ms=_finite(st.latency_ms), frames=int(st.frames), frame_index=max(int(st.frame_index), 0),
            last_error=error, last_seq=last_seq, backlog=backlog, preview=self.preview.enabled,
            detector=self.detector_name if not st.warm else "",
            zones={z: sum(occ.values()) for z, occ in self._zone_occupancy.items()},
            zone_classes={z: dict(occ) for z, occ in self._zone_occupancy.items()}, role=self.role,
            frame_ts=_finite(st.frame_ts), buffered_s=_finite(st.buffered_s), model_runs=int(st.model_runs),
            detect=st.detect, detect_starved=int(st.detect_starved), detect_budget=_finite(st.detect_budget),
            detect_budget_reason=self._allowance.reason if self._allowance is not None else "")

    # ------------------------------------------------------------------ the runner

    def _build_runner(self) -> Runner:
        a = self.assignment
        if a.camera.source.startswith(TEST_SCHEME):
            if not self.test_hooks:
                raise ValueError(f"source {a.camera.source!r}: test:// sources exist only for the test suite")
            from campool_worker.harness.test_hooks import BurstRunner

            self.detector_name = "test"
            return BurstRunner(a.camera, self._on_crossings, a.start_frame, a.count_from_frame,
                               on_zones=self._zones_seen, watch=self.coverage)
        return CameraRunner(a.camera, self._make_pipeline, start_frame=a.start_frame,
                            count_from_frame=a.count_from_frame, count_from_ts=a.count_from_ts,
                            on_crossings=self._on_crossings, on_result=self._on_result,
                            log_context=f"epoch {a.epoch}" + (" warm standby" if a.warm else ""),
                            warm_buffer_s=a.buffer_s if a.warm else None, watch=self.coverage)

    def _make_pipeline(self, camera: CameraConfig) -> CameraPipeline:
        """The runner's pipeline factory (its thread): raises ModelError while a pushed model is
        not here yet, which the runner reports as "failed" and tries again later."""
        from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector

        opts = self.detector_options
        detector = load_detector(self.models.resolve(camera.model), class_names=camera.labels,
                                 confidence=camera.confidence, classes=camera.classes,
                                 intra_op_threads=opts.intra_op_threads, inference_workers=opts.inference_workers)
        self.detector_name = str(getattr(detector, "provider", "") or getattr(detector, "name", ""))
        return CameraPipeline(camera, detector)

    # ------------------------------------------------------------------ runner callbacks (camera thread)

    def _on_crossings(self, frame_crossings: list[Crossing]) -> None:
        """One frame's crossings, handed on together so the outbox commits a frame all-or-nothing."""
        self.sink.crossings(FrameCrossings(self.camera.camera_id, self.epoch, tuple(frame_crossings)))

    def _zones_seen(self, zones: dict[str, dict[str, int]]) -> None:
        """zone -> class -> objects in it now, as the last frame found them (camera thread)."""
        self._zone_occupancy = {z: {str(c): int(n) for c, n in occ.items()} for z, occ in zones.items()}

    def _on_result(self, frame: Frame, result: FrameResult) -> None:
        zones = getattr(result, "zones", None)
        if zones:  # heartbeats carry occupancy so zone alerts and the integrations work without a preview
            self._zones_seen({str(n): getattr(z, "occupancy", None) or {} for n, z in zones.items()})
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


def make_preview(worker_id: str, camera_id: str, epoch: int, frame: Frame, result: FrameResult,
                 width: int) -> PreviewFrame:
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
