"""The jobs on the master: the `JobBoard` run on the pool thread, its commands sent through the links.

Every tick the board hears what room the live cameras leave (`PoolCore.job_room`), decides,
and its records are committed to the history (job_store.py) before its commands go out, so a
master killed between the two resumes from what it said it would do. Replies come back on a
link's thread and are posted to the pool thread. Subscribers hear `JobsChanged` with a fresh
`JobView` of every job that moved (the Jobs view and the command line read these).

Files: the master sends the path first; a worker that can read it reads it. One that cannot
answers ``Error("source")``: the master then pushes the file's bytes to that worker with the model
push (model_push.ModelDistributor: resumable chunks, checked by sha256, stored by content, once
per worker), and from then on sends that worker the segment as ``sha256:<hex>``. While the copy
runs, that worker's segments of the file are queued again for others (not counted as failures);
a push that fails makes the next "cannot read" a failure like any other (retries, dead letter).
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from campool_worker import protocol as p

from . import job_store
from .clock import Clock
from .core import PoolCore
from .job_report import JobReport, build_report
from .jobs import Job, JobBoard, JobError, JobSegment, JobSettings, JobSpec, MediaInfo, SegmentCommand, eta_s
from .links import Links
from .media_probe import check_shapes, expand_files, probe_all
from .model_push import ModelDistributor
from .store import Store

log = logging.getLogger(__name__)

__all__ = ["JobError", "JobService", "JobView", "JobsChanged", "SegmentView", "prepare"]


@dataclass(frozen=True)
class SegmentView:
    index: int
    file: str
    start_s: float
    end_s: float
    state: str
    progress: float
    worker_id: str | None
    attempt: int
    error: str


@dataclass(frozen=True)
class JobView:
    """One job as the UI and the command line show it (a snapshot; never changes)."""

    job_id: str
    name: str
    priority: str
    state: str
    progress: float
    eta_s: float | None
    files: tuple[str, ...]
    frames: int
    segments: tuple[SegmentView, ...]
    retried: int
    dead: int
    submitted_at: float
    finished_at: float | None


@dataclass(frozen=True)
class JobsChanged:
    jobs: tuple[JobView, ...]


def prepare(spec: JobSpec) -> tuple[JobSpec, list[MediaInfo]]:
    """Check and probe a job's files (any thread but the pool's or the UI's: it reads the files).
    JobError with one line on bad input; nothing is queued then."""
    files = tuple(expand_files(list(spec.files)))
    if spec.model is not None and not spec.model.startswith("sha256:") and not os.path.isfile(spec.model):
        raise JobError(f"model {spec.model!r} not found; give the path of an ONNX model")
    media = probe_all(list(files), spec.start_time)
    check_shapes(spec.lines, spec.zones, media)
    return replace(spec, files=files), media


def job_view(job: Job, now: float) -> JobView:
    segs = tuple(SegmentView(s.index, job.media[s.file_idx].path, s.start / job.media[s.file_idx].fps,
                             s.end / job.media[s.file_idx].fps, s.state,
                             (s.done_frames / s.total) if s.total else 1.0, s.worker_id, s.attempt, s.error)
                 for s in job.segments)
    return JobView(job.job_id, job.spec.name or job.job_id, job.spec.priority, job.state, job.progress,
                   eta_s(job, now), tuple(m.path for m in job.media), job.total_frames, segs,
                   sum(s.retried for s in job.segments), sum(1 for s in job.segments if s.state == "dead"),
                   job.submitted_at, job.finished_at)


class JobService:
    def __init__(self, core: PoolCore, store: Store, links: Links, clock: Clock, *,
                 post: Callable[[Callable[[], None]], None], emit: Callable[[list[object]], None],
                 settings: JobSettings | None = None, command_timeout_s: float = 5.0,
                 files: ModelDistributor | None = None) -> None:
        self.board = JobBoard(clock, settings)
        self._files = files
        self._refs: dict[tuple[str, str], str] = {}  # (worker, path) -> sha256 ref of its pushed copy
        self._pushing: set[tuple[str, str]] = set()
        self._push_failed: dict[tuple[str, str], str] = {}
        self._core = core
        self._store = store
        self._links = links
        self._clock = clock
        self._post = post
        self._emit = emit
        self._timeout = command_timeout_s

    # ------------------------------------------------------------------ pool thread

    def restore(self) -> None:
        self.board.restore(self._store.read(job_store.load_jobs))
        self.flush()

    def prepare(self, spec: JobSpec) -> tuple[JobSpec, list[MediaInfo]]:
        return prepare(spec)

    def submit(self, spec: JobSpec, media: list[MediaInfo], *, job_id: str | None = None,
               min_segments: int | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex[:12]
        want = len(self._core.job_room()) if min_segments is None else min_segments
        self.board.submit(job_id, spec, media, min_segments=max(1, want))
        self.flush()
        return job_id

    def cancel(self, job_id: str) -> None:
        if job_id not in self.board.jobs:
            raise JobError(f"there is no job {job_id!r}")
        self.board.cancel(job_id)
        self.flush()

    def tick(self) -> None:
        self.board.tick(self._core.job_room())
        self.flush()

    def flush(self) -> None:
        records = self.board.take_records()
        if records:
            try:
                job_store.save(self._store, records).result(10.0)
            except Exception:
                log.exception("could not store %d job record(s)", len(records))
        for action in self.board.take_actions():
            self._send(action)
        changed = self.board.take_changed()
        if changed:
            now = self._clock.now()
            self._emit([JobsChanged(tuple(job_view(self.board.jobs[j], now) for j in sorted(changed)))])

    def views(self) -> list[JobView]:
        now = self._clock.now()
        return [job_view(j, now) for j in sorted(self.board.jobs.values(), key=lambda j: j.seq)]

    def report(self, job_id: str) -> JobReport:
        job = self.board.jobs.get(job_id)
        if job is None:
            raise JobError(f"there is no job {job_id!r}")
        return build_report(job)

    def crossings(self, job_id: str) -> list[tuple[int, p.JobCrossing]]:
        """(file index, crossing) of every done segment, in file and frame order."""
        job = self.board.jobs.get(job_id)
        if job is None:
            raise JobError(f"there is no job {job_id!r}")
        return [(s.file_idx, c) for s in job.segments if s.state == "done" for c in (s.crossings or [])]

    def segment(self, job_id: str, index: int) -> JobSegment:
        return self.board.jobs[job_id].segments[index]

    # ------------------------------------------------------------------ the wire

    def _send(self, action: SegmentCommand) -> None:
        msg = action.message
        link = self._links.get(action.worker_id)
        if link is None:
            if isinstance(msg, p.RunSegment):
                self.board.start_answered(msg.job_id, msg.segment, msg.attempt, None, "no link to the worker")
            return
        if isinstance(msg, p.RunSegment):
            key = (action.worker_id, msg.camera.source)
            if key in self._pushing:  # its copy is on the way: others may take the segment meanwhile
                self.board.start_answered(msg.job_id, msg.segment, msg.attempt,
                                          p.Error("capacity", "the recording is being copied to this worker"))
                return
            if key in self._refs:
                msg = replace(msg, camera=replace(msg.camera, source=self._refs[key]))
                action = SegmentCommand(action.worker_id, msg)
        fut = link.send(msg, timeout=self._timeout)
        fut.add_done_callback(partial(self._answered, action))

    def _push(self, worker_id: str, msg: p.RunSegment) -> bool:
        """Start copying the segment's file to a worker that cannot read it; False when that is no
        way out (no distributor, already a pushed copy, or a copy that failed before)."""
        path = msg.camera.source
        key = (worker_id, path)
        link = self._links.get(worker_id)
        if self._files is None or link is None or path.startswith("sha256:") or key in self._push_failed:
            return False
        if key in self._pushing:
            return True
        self._pushing.add(key)
        log.info("worker %s cannot read %s: sending it the file's bytes", worker_id, path)

        def done(fut: concurrent.futures.Future[str]) -> None:
            def apply() -> None:
                self._pushing.discard(key)
                try:
                    self._refs[key] = fut.result()
                    log.info("worker %s holds %s as %s", worker_id, path, self._refs[key])
                except Exception as exc:  # noqa: BLE001 - the next refusal then counts as a failure
                    self._push_failed[key] = str(exc)
                    log.warning("could not copy %s to worker %s: %s", path, worker_id, exc)
            self._post(apply)

        self._files.ensure(link, path).add_done_callback(done)
        return True

    def _answered(self, action: SegmentCommand, fut: concurrent.futures.Future[p.Message]) -> None:
        """A link's thread: the reply goes to the pool thread."""
        try:
            reply: p.Message | None = fut.result()
            error = ""
        except Exception as exc:  # noqa: BLE001 - a timeout or a closed link: the board decides
            reply, error = None, str(exc)
        self._post(partial(self._apply_reply, action, reply, error))

    def _apply_reply(self, action: SegmentCommand, reply: p.Message | None, error: str) -> None:
        msg: Any = action.message
        if isinstance(msg, p.RunSegment):
            if isinstance(reply, p.Error) and reply.code == "source" and self._push(action.worker_id, msg):
                reply = p.Error("capacity", "the recording is being copied to this worker")
            self.board.start_answered(msg.job_id, msg.segment, msg.attempt, reply, error)
        elif isinstance(msg, p.QuerySegment):
            if isinstance(reply, p.SegmentStatus):
                self.board.status(action.worker_id, reply)
            elif isinstance(reply, p.Error) and reply.code == "unknown_type":
                self.board.status(action.worker_id, p.SegmentStatus(msg.job_id, msg.segment, msg.attempt, "failed",
                                                                    error=reply.message))
        self.flush()
