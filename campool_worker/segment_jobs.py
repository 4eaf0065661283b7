"""The worker's job segments: counted on their own threads with the capacity the cameras leave.

`SegmentJobs` runs `RunSegment` commands (see protocol/, "Jobs over recorded files"). Each
segment takes one camera slot while it runs; the command handler asks `room()` before it
starts one, and a camera assigned later always gets its slot: `make_room(free)` stops the
newest segments until the running ones fit, and their status says "preempted" so the master
runs them elsewhere. A finished result is kept (in memory: a worker that restarts has lost
it, and says "unknown", so the master runs the segment again) until `DropSegment`, or for
KEEP_DONE_S at most, so a lost reply is answered again by the next `QuerySegment`.

A recording this worker cannot read at the master's path is pushed by the master into the model
store (content-addressed, resumable, sha256-checked: the same mechanism as a model) and named
``sha256:<hex>`` in the segment's source; `ModelStore.resolve` turns it into the stored file.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from campool_worker import protocol as p
from campool_worker.camera_slot import DetectorOptions
from campool_worker.model_store import ModelStore

log = logging.getLogger(__name__)

Key = tuple[str, int, int]  # (job_id, segment, attempt)
KEEP_DONE_S = 3600.0
MAX_KEPT = 256  # finished results kept at most (the oldest go first)


@dataclass
class _Run:
    msg: p.RunSegment
    started: float
    thread: threading.Thread | None = None
    state: str = "running"  # running | done | failed
    frames: int = 0
    crossings: list[p.JobCrossing] = field(default_factory=list)
    skipped: int = 0
    ended_at: int | None = None
    error: str = ""
    finished: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = ""

    def status(self) -> p.SegmentStatus:
        m = self.msg
        return p.SegmentStatus(m.job_id, m.segment, m.attempt, self.state,  # type: ignore[arg-type]
                               self.frames, m.end - m.start, list(self.crossings) if self.state == "done" else [],
                               self.skipped, self.ended_at, self.error)


class SegmentJobs:
    """The segments this worker runs or has finished. Thread-safe (command loop + segment threads)."""

    def __init__(self, models: ModelStore, options: DetectorOptions | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._models = models
        self._options = options or DetectorOptions()
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[Key, _Run] = {}

    @property
    def running(self) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values() if r.state == "running")

    def start(self, msg: p.RunSegment, free_slots: float) -> p.Message:
        """Start `msg` if a slot is free (`free_slots`: what the cameras leave of the capacity)."""
        key = (msg.job_id, msg.segment, msg.attempt)
        with self._lock:
            self._expire()
            run = self._runs.get(key)
            if run is not None:
                return p.Ok(f"segment {msg.segment} of job {msg.job_id} is {run.state} already")
            busy = sum(1 for r in self._runs.values() if r.state == "running")
            if busy + 1 > free_slots + 1e-9:
                return p.Error("capacity", f"no free slot for a job segment: {busy} segment(s) run beside the "
                               f"cameras, which leave {max(free_slots, 0):g} slot(s)")
            run = _Run(msg, self._clock())
            self._runs[key] = run
        run.thread = threading.Thread(target=self._count, args=(run,), daemon=True,
                                      name=f"segment-{msg.job_id}-{msg.segment}")
        run.thread.start()
        log.info("job %s segment %d (attempt %d): frames %d..%d of %s after %d warm-up frame(s)", msg.job_id,
                 msg.segment, msg.attempt, msg.start, msg.end, msg.camera.source, msg.warmup)
        return p.Ok(f"segment {msg.segment} of job {msg.job_id} started")

    def query(self, msg: p.QuerySegment) -> p.SegmentStatus:
        with self._lock:
            run = self._runs.get((msg.job_id, msg.segment, msg.attempt))
            if run is None:
                return p.SegmentStatus(msg.job_id, msg.segment, msg.attempt, "unknown")
            return run.status()

    def drop(self, msg: p.DropSegment) -> p.Message:
        with self._lock:
            run = self._runs.pop((msg.job_id, msg.segment, msg.attempt), None)
        if run is None:
            return p.Ok("not here")
        run.stop_reason = "dropped by the master"
        run.stop.set()
        return p.Ok(f"segment {msg.segment} of job {msg.job_id} dropped")

    def make_room(self, free_slots: float) -> int:
        """Stop the newest running segments until they fit in `free_slots` (a camera came first)."""
        with self._lock:
            running = sorted((r for r in self._runs.values() if r.state == "running"), key=lambda r: r.started)
            over = len(running) - max(int(free_slots + 1e-9), 0)
            victims = running[len(running) - over:] if over > 0 else []
        for r in victims:
            r.stop_reason = "preempted: a live camera needs this worker's slot"
            r.stop.set()
            log.info("job %s segment %d: %s", r.msg.job_id, r.msg.segment, r.stop_reason)
        return len(victims)

    def stop_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for r in runs:
            r.stop_reason = "the worker is stopping"
            r.stop.set()
        for r in runs:
            if r.thread is not None:
                r.thread.join(timeout)

    def _expire(self) -> None:
        now = self._clock()
        done = sorted((r.finished or 0.0, k) for k, r in self._runs.items() if r.state != "running")
        for i, (finished, k) in enumerate(done):
            if now - finished > KEEP_DONE_S or len(done) - i > MAX_KEPT:
                del self._runs[k]

    def _count(self, run: _Run) -> None:
        from campool_worker.pipeline.camera_pipeline import load_detector
        from campool_worker.pipeline.segments import Segment, SegmentStopped, count_segment

        msg, cam = run.msg, run.msg.camera
        try:
            detector = load_detector(self._models.resolve(cam.model), class_names=cam.labels,
                                     confidence=cam.confidence, classes=cam.classes,
                                     intra_op_threads=self._options.intra_op_threads,
                                     inference_workers=self._options.inference_workers)

            def progress(n: int) -> None:
                run.frames = n

            source = self._models.resolve(cam.source) or cam.source  # a pushed recording: its stored file
            result = count_segment(cam, Segment(source, msg.start, msg.end, msg.warmup), detector,
                                   progress=progress, stop=run.stop.is_set)
            if len(result.crossings) > p.MAX_SEGMENT_CROSSINGS:
                raise ValueError(f"{len(result.crossings)} crossings in one segment, over "
                                 f"{p.MAX_SEGMENT_CROSSINGS}: cut the job into shorter segments")
            with self._lock:
                run.crossings = [p.JobCrossing(c.frame_index, c.media_ts, c.line, c.direction, c.class_name)
                                 for c in result.crossings]
                run.frames, run.skipped, run.ended_at = result.frames, result.skipped, result.ended_at
                run.state = "done"
        except SegmentStopped:
            run.error, run.state = run.stop_reason or "stopped", "failed"
        except Exception as exc:  # noqa: BLE001 - one bad segment fails alone, with its reason for the master
            log.warning("job %s segment %d failed: %s", msg.job_id, msg.segment, exc)
            run.error, run.state = str(exc)[:500], "failed"
        finally:
            run.finished = self._clock()
        log.info("job %s segment %d (attempt %d): %s in %.1f s%s", msg.job_id, msg.segment, msg.attempt, run.state,
                 run.finished - run.started, f" ({run.error})" if run.error else f", {len(run.crossings)} crossing(s)")
