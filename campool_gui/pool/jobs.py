"""Jobs: recorded files counted across the pool, exactly, as a pure state machine (issue #13).

A `Job` is one or more files with lines, zones, classes, a model, a priority and a report
interval. `JobBoard.submit` cuts each file into `JobSegment`s of a few minutes (frames
[start, end) with a tracker warm-up before start; see campool_worker/pipeline/segments.py for
why the joined segments equal one pass). The board decides, on `tick(room)`, which queued
segment goes to which worker:

* Priority queue: critical > high > normal > low, then the older job, then the segment's
  order. A higher-priority job overtakes the queued segments of lower ones; running segments
  are never stopped for it (they finish).
* Room: `room` is what each usable worker's live cameras leave of its capacity (the core's
  load model, `PoolCore.job_room`); live cameras always come first, and a worker that takes
  a camera stops a segment that no longer fits (it comes back "preempted" and is queued
  again, not counted as a failure).
* Faults: a segment that fails is retried after 1, 2, 4 s, at most 3 times on one worker,
  then on another; one that failed 3 times on every usable worker goes to the dead-letter
  list with its error, and the job completes without it, marked partial with the missing
  time range. A worker that dies (gone from `room`) or stops answering loses its running
  segments: they are queued again at once and run elsewhere.
* Exactly once: every start is a new attempt; a reply of an old attempt is ignored; a
  segment's result is taken once (its state turns done) and stored once, keyed by
  (job, segment) (job_store.py), so a master restarted mid-job resumes with what is stored.

No sockets, no threads, no sleeping: inputs are method calls, outputs are `take_actions()`
(commands to send: SegmentCommand) and `take_records()` (what to persist before sending).
The JobService (job_service.py) runs it on the master's pool thread with the real clock.
"""
from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from campool_worker import protocol as p
from campool_worker.camera import PRIORITIES, CameraConfig, CountingLine, Zone

from .clock import Clock

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = (1.0, 2.0, 4.0)
TRIES_PER_WORKER = 3
SegmentState = Literal["queued", "retry_wait", "starting", "running", "done", "dead"]
JobState = Literal["queued", "running", "done", "partial", "failed", "cancelled"]


class JobError(ValueError):
    """A job that cannot be queued; the text says what to change. Nothing was queued."""


@dataclass(frozen=True)
class JobSettings:
    segment_s: float = 180.0      # a segment's length in seconds of video (a few minutes)
    warmup_s: float = 2.0         # tracker history before a segment (= pipeline.segments.WARMUP_SECONDS)
    poll_s: float = 0.5           # how often a running segment is asked how far it is
    start_timeout_s: float = 10.0  # no answer to RunSegment: try again (same attempt, idempotent)
    silent_after_s: float = 15.0  # a running segment whose worker answers nothing this long is lost


# A job's detector runs on a fixed grid of media time: which frames it sees is then a function of the
# frame index alone, the same in a segment that starts after a seek as in one pass over the file,
# which is what makes the joined segments exact. Adaptive detection (the cameras' default) decides
# from the history before a cut, which a segment's warm-up does not replay (measured: 91 against 92
# in on four joined highway copies). 10 a second counts the shared videos exactly at a third of
# full-rate detection's cost; None runs the detector on every frame.
JOB_DETECT_FPS = 10.0


@dataclass(frozen=True)
class JobSpec:
    """What the operator asks for, validated where it enters (command line, dialog)."""

    files: tuple[str, ...]
    lines: tuple[CountingLine, ...] = ()
    zones: tuple[Zone, ...] = ()
    classes: tuple[str, ...] | None = None
    model: str | None = None
    priority: str = "normal"
    interval_min: float = 15.0
    start_time: float | None = None  # recording start of the first file (epoch s); None: from the file
    name: str = ""
    detect_fps: float | None = JOB_DETECT_FPS  # None: every frame
    confidence: float = 0.3

    def __post_init__(self) -> None:
        if not self.files:
            raise JobError("a job needs at least one video file or a folder of them")
        if not self.lines and not self.zones:
            raise JobError("a job needs at least one counting line (--line NAME:x1,y1,x2,y2) or zone; "
                           "nothing would be counted")
        if self.priority not in PRIORITIES:
            raise JobError(f"priority {self.priority!r} is not one of {', '.join(PRIORITIES)}")
        if not (math.isfinite(self.interval_min) and 1 / 60 <= self.interval_min <= 24 * 60):
            raise JobError(f"the report interval must be 1 s to 24 h (in minutes), not {self.interval_min}")

    def camera(self, job_id: str, path: str) -> CameraConfig:
        """The camera config a worker counts a segment of `path` with."""
        return CameraConfig(camera_id=f"job-{job_id}"[:64], source=path, lines=list(self.lines),
                            zones=list(self.zones), model=self.model,
                            classes=list(self.classes) if self.classes else None,
                            detect_fps=self.detect_fps, detect="every", confidence=self.confidence)

    def to_dict(self) -> dict[str, Any]:
        return {"files": list(self.files), "lines": [ln.to_dict() for ln in self.lines],
                "zones": [z.to_dict() for z in self.zones], "classes": list(self.classes) if self.classes else None,
                "model": self.model, "priority": self.priority, "interval_min": self.interval_min,
                "start_time": self.start_time, "name": self.name, "detect_fps": self.detect_fps,
                "confidence": self.confidence}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        return cls(files=tuple(d["files"]), lines=tuple(CountingLine.from_dict(x) for x in d["lines"]),
                   zones=tuple(Zone.from_dict(x) for x in d["zones"]),
                   classes=tuple(d["classes"]) if d.get("classes") else None, model=d.get("model"),
                   priority=d.get("priority", "normal"), interval_min=float(d.get("interval_min", 15.0)),
                   start_time=d.get("start_time"), name=d.get("name", ""),
                   detect_fps=d.get("detect_fps", JOB_DETECT_FPS), confidence=float(d.get("confidence", 0.3)))


@dataclass(frozen=True)
class MediaInfo:
    """What the master learned of one file before cutting it (media_probe.py)."""

    path: str
    frames: int
    fps: float
    width: int
    height: int
    start_time: float  # recording start, epoch seconds
    start_source: str = "given"  # given | metadata | mtime: where start_time came from

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "frames": self.frames, "fps": self.fps, "width": self.width,
                "height": self.height, "start_time": self.start_time, "start_source": self.start_source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MediaInfo:
        return cls(str(d["path"]), int(d["frames"]), float(d["fps"]), int(d["width"]), int(d["height"]),
                   float(d["start_time"]), str(d.get("start_source", "given")))


@dataclass
class JobSegment:
    job_id: str
    index: int
    file_idx: int
    start: int
    end: int
    warmup: int
    state: SegmentState = "queued"
    attempt: int = 0
    worker_id: str | None = None
    tries: dict[str, int] = field(default_factory=dict)  # worker -> failed tries there
    error: str = ""
    frames: int = 0  # frames of [start, end) done (progress)
    skipped: int = 0
    ended_at: int | None = None
    retried: int = 0  # starts after the first (failures, lost workers, preemptions)
    not_before: float = 0.0  # a retry waits until then (clock.now())
    sent_at: float = 0.0
    heard_at: float = 0.0
    polled_at: float = 0.0
    crossings: list[p.JobCrossing] | None = None  # the result, once done (kept in memory for the report)

    @property
    def key(self) -> tuple[str, int]:
        return self.job_id, self.index

    @property
    def total(self) -> int:
        return self.end - self.start

    @property
    def done_frames(self) -> int:
        if self.state == "done":
            return self.total
        return min(self.frames, self.total) if self.state == "running" else 0


@dataclass
class Job:
    job_id: str
    spec: JobSpec
    media: list[MediaInfo]
    segments: list[JobSegment]
    seq: int
    submitted_at: float  # wall
    state: JobState = "queued"
    finished_at: float | None = None
    started_mono: float | None = None  # clock.now() of the first segment start (for the ETA)

    @property
    def rank(self) -> int:
        return PRIORITIES.index(self.spec.priority)

    @property
    def total_frames(self) -> int:
        return sum(s.total for s in self.segments)

    @property
    def progress(self) -> float:
        """0..1 of the frames counted (dead segments count as handled)."""
        total = self.total_frames
        handled = sum(s.total if s.state == "dead" else s.done_frames for s in self.segments)
        return handled / total if total else 1.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "partial", "failed", "cancelled")

    def missing(self) -> list[dict[str, Any]]:
        """The stretches the result lacks: dead segments, undecodable frames, files that ended early."""
        out = []
        for s in self.segments:
            m = self.media[s.file_idx]
            if s.state == "dead":
                out.append({"file": m.path, "start_s": round(s.start / m.fps, 3), "end_s": round(s.end / m.fps, 3),
                            "reason": s.error})
            elif s.state == "done" and s.skipped:
                out.append({"file": m.path, "start_s": round(s.start / m.fps, 3), "end_s": round(s.end / m.fps, 3),
                            "reason": f"{s.skipped} undecodable frame(s) skipped in this stretch"})
        return out


@dataclass(frozen=True)
class SegmentCommand:
    """A command for a worker about one segment (RunSegment, QuerySegment or DropSegment)."""

    worker_id: str
    message: p.RunSegment | p.QuerySegment | p.DropSegment


@dataclass(frozen=True)
class JobSaved:
    job: Job


@dataclass(frozen=True)
class SegmentSaved:
    segment: JobSegment


@dataclass(frozen=True)
class SegmentResultSaved:
    segment: JobSegment
    crossings: tuple[p.JobCrossing, ...]


JobRecord = JobSaved | SegmentSaved | SegmentResultSaved


def cut_segments(job_id: str, media: list[MediaInfo], settings: JobSettings, min_segments: int = 1) -> list[JobSegment]:
    """Each file in segments of about settings.segment_s; a job shorter than that is still cut in
    `min_segments` (the workers that could take a part), never below a few warm-ups long."""
    total_s = sum(m.duration_s for m in media)
    seg_s = settings.segment_s
    if min_segments > 1 and total_s / min_segments < seg_s:
        seg_s = max(total_s / min_segments, 4 * settings.warmup_s)
    out: list[JobSegment] = []
    for fi, m in enumerate(media):
        per = max(1, round(seg_s * m.fps))
        n = max(1, round(m.frames / per))
        warm = max(1, math.ceil(settings.warmup_s * m.fps))
        # Equal work, not equal ranges: every segment but the first also decodes and detects its
        # warm-up, so the first is longer by one warm-up (the pool's end waits for the slowest part).
        work = m.frames + (n - 1) * warm
        if work / n - warm <= warm:
            bounds = [m.frames * k // n for k in range(n + 1)]
        else:
            bounds = [0, *(round(k * work / n - (k - 1) * warm) for k in range(1, n)), m.frames]
        for a, b in itertools.pairwise(bounds):
            if b > a:
                out.append(JobSegment(job_id, len(out), fi, a, b, warm if a else 0))
    return out


class JobBoard:
    """Every job and segment of this master, and the decisions about them (see the module doc)."""

    def __init__(self, clock: Clock, settings: JobSettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or JobSettings()
        self.jobs: dict[str, Job] = {}
        self._seq = 0
        self._actions: list[SegmentCommand] = []
        self._records: list[JobRecord] = []
        self._changed: set[str] = set()

    # ------------------------------------------------------------------ outputs

    def take_actions(self) -> list[SegmentCommand]:
        out, self._actions = self._actions, []
        return out

    def take_records(self) -> list[JobRecord]:
        out, self._records = self._records, []
        return out

    def take_changed(self) -> set[str]:
        """Job ids whose state or progress changed since the last call."""
        out, self._changed = self._changed, set()
        return out

    def dead_letters(self) -> list[JobSegment]:
        return [s for j in self.jobs.values() for s in j.segments if s.state == "dead"]

    # ------------------------------------------------------------------ inputs

    def submit(self, job_id: str, spec: JobSpec, media: list[MediaInfo], *, min_segments: int = 1) -> Job:
        if job_id in self.jobs:
            raise JobError(f"a job {job_id!r} exists already")
        if not media:
            raise JobError("the job has no video file to count")
        self._seq += 1
        job = Job(job_id, spec, list(media), cut_segments(job_id, media, self.settings, min_segments), self._seq,
                  self.clock.wall())
        self.jobs[job_id] = job
        self._records.append(JobSaved(job))
        self._records.extend(SegmentSaved(replace(s)) for s in job.segments)
        self._changed.add(job_id)
        log.info("job %s: %d file(s), %d frames in %d segment(s), priority %s", job_id, len(media), job.total_frames,
                 len(job.segments), spec.priority)
        return job

    def restore(self, jobs: list[Job]) -> None:
        """Jobs from the store after a restart: what was running is queued again (a new attempt, so
        anything the old one still sends is ignored) and its old worker is told to drop it."""
        for job in jobs:
            self.jobs[job.job_id] = job
            self._seq = max(self._seq, job.seq)
            for s in job.segments:
                if s.state in ("starting", "running", "retry_wait"):
                    if s.worker_id:
                        self._drop(s)
                    s.state, s.worker_id, s.frames, s.not_before = "queued", None, 0, 0.0
            self._changed.add(job.job_id)
            self._settle(job)

    def cancel(self, job_id: str) -> None:
        job = self.jobs[job_id]
        for s in job.segments:
            if s.state in ("starting", "running"):
                self._drop(s)
            if s.state not in ("done", "dead"):
                s.state = "dead"
                s.error = "cancelled"
                self._save(s)
        job.state, job.finished_at = "cancelled", self.clock.wall()
        self._records.append(JobSaved(job))
        self._changed.add(job_id)

    def tick(self, room: dict[str, float]) -> None:
        """Time passed; `room`: usable worker -> camera slots its live cameras leave free."""
        now = self.clock.now()
        live = set(room)
        for job in self.jobs.values():
            for s in job.segments:
                if s.state in ("starting", "running") and s.worker_id not in live:
                    self._lost(s, f"worker {s.worker_id} is gone")
                elif s.state == "running" and now - s.heard_at > self.settings.silent_after_s:
                    self._lost(s, f"worker {s.worker_id} stopped answering about it")
                elif s.state == "retry_wait" and now >= s.not_before:
                    s.state = "queued"
        free = {w: r - self._running_on(w) for w, r in room.items()}
        for s in self._queue():
            choice = self._pick(s, free)
            if choice is None:
                if not self._can_ever_run(s, live):
                    self._dead(s)
                continue
            free[choice] -= 1
            self._start(s, choice)
        for job in self.jobs.values():
            for s in job.segments:
                if s.state == "running" and now - s.polled_at >= self.settings.poll_s and s.worker_id:
                    s.polled_at = now
                    self._actions.append(SegmentCommand(s.worker_id, p.QuerySegment(s.job_id, s.index, s.attempt)))
                elif s.state == "starting" and now - s.sent_at >= self.settings.start_timeout_s and s.worker_id:
                    s.sent_at = now  # no answer: ask again under the same attempt (a repeat is a no-op)
                    self._actions.append(SegmentCommand(s.worker_id, self._run_message(s)))

    def start_answered(self, job_id: str, index: int, attempt: int, reply: p.Message | None, error: str = "") -> None:
        """The worker's reply to RunSegment (None with `error`: no reply)."""
        s = self._current(job_id, index, attempt, ("starting",))
        if s is None:
            return
        now = self.clock.now()
        if isinstance(reply, p.Ok):
            s.state, s.heard_at, s.polled_at = "running", now, now
            self._changed.add(job_id)
        elif isinstance(reply, p.Error) and reply.code in ("capacity", "draining"):
            # No room after all (or its file is still being copied there): the try never began, so
            # it is no retry; its attempt number is free again (that worker runs nothing under it).
            s.state, s.worker_id = "queued", None
            s.attempt -= 1
            if s.attempt and s.retried:
                s.retried -= 1
        elif isinstance(reply, p.Error):
            self._failed(s, reply.message)
        else:
            # Timed out: the command may or may not have arrived; tick() asks again (idempotent).
            log.info("job %s segment %d: no answer to run it (%s); asking again", job_id, index, error)

    def status(self, worker_id: str, st: p.SegmentStatus) -> None:
        """A worker's SegmentStatus (the answer to QuerySegment)."""
        s = self._current(st.job_id, st.segment, st.attempt, ("running", "starting"))
        if s is None or s.worker_id != worker_id:
            return
        s.heard_at = self.clock.now()
        if st.state == "running":
            if s.state == "starting":
                s.state = "running"
            if st.frames != s.frames:
                s.frames = st.frames
                self._changed.add(s.job_id)
        elif st.state == "done":
            self._done(s, st)
        elif st.state == "failed":
            if st.error.startswith("preempted"):
                self._requeue(s, st.error)
            else:
                self._failed(s, st.error)
        else:  # unknown: the worker restarted and lost it
            self._lost(s, f"worker {worker_id} no longer has it (restarted?)")

    def query_unanswered(self, job_id: str, index: int, attempt: int) -> None:
        """A QuerySegment timed out: nothing to do now; silent_after_s decides when it is lost."""

    # ------------------------------------------------------------------ the decisions

    def _queue(self) -> list[JobSegment]:
        ready = [(j.rank, j.seq, s.index, s) for j in self.jobs.values() if not j.finished
                 for s in j.segments if s.state == "queued"]
        return [s for *_, s in sorted(ready, key=lambda t: t[:3])]

    def _running_on(self, worker_id: str) -> int:
        return sum(1 for j in self.jobs.values() for s in j.segments
                   if s.worker_id == worker_id and s.state in ("starting", "running"))

    def _pick(self, s: JobSegment, free: dict[str, float]) -> str | None:
        ok = [w for w, f in free.items() if f >= 1.0 - 1e-9 and s.tries.get(w, 0) < TRIES_PER_WORKER]
        if not ok:
            return None
        if s.worker_id in ok:  # a retry goes back to the worker it failed on until that has had 3 tries
            return s.worker_id
        return max(ok, key=lambda w: (free[w], -s.tries.get(w, 0), w))

    def _can_ever_run(self, s: JobSegment, live: set[str]) -> bool:
        """False once every usable worker has failed it TRIES_PER_WORKER times (the dead letter)."""
        if not s.tries:
            return True
        return any(s.tries.get(w, 0) < TRIES_PER_WORKER for w in live) or not live

    def _start(self, s: JobSegment, worker_id: str) -> None:
        job = self.jobs[s.job_id]
        now = self.clock.now()
        if s.attempt:
            s.retried += 1
        s.attempt += 1
        s.state, s.worker_id, s.frames, s.sent_at, s.heard_at = "starting", worker_id, 0, now, now
        if job.state == "queued":
            job.state, job.started_mono = "running", now
            self._records.append(JobSaved(job))
        self._save(s)
        self._actions.append(SegmentCommand(worker_id, self._run_message(s)))
        self._changed.add(s.job_id)

    def _run_message(self, s: JobSegment) -> p.RunSegment:
        job = self.jobs[s.job_id]
        cam = job.spec.camera(job.job_id, job.media[s.file_idx].path)
        return p.RunSegment(s.job_id, s.index, s.attempt, cam, s.start, s.end, s.warmup)

    def _current(self, job_id: str, index: int, attempt: int, states: tuple[str, ...]) -> JobSegment | None:
        job = self.jobs.get(job_id)
        if job is None or not 0 <= index < len(job.segments):
            return None
        s = job.segments[index]
        return s if s.attempt == attempt and s.state in states else None

    def _done(self, s: JobSegment, st: p.SegmentStatus) -> None:
        s.state, s.frames, s.skipped, s.ended_at, s.error = "done", st.frames, st.skipped, st.ended_at, ""
        s.crossings = list(st.crossings)
        self._records.append(SegmentResultSaved(replace(s), tuple(st.crossings)))
        self._drop(s)
        self._changed.add(s.job_id)
        self._settle(self.jobs[s.job_id])

    def _failed(self, s: JobSegment, error: str) -> None:
        wid = s.worker_id or "?"
        s.tries[wid] = s.tries.get(wid, 0) + 1
        n = s.tries[wid]
        s.error = error
        log.warning("job %s segment %d failed on worker %s (try %d there): %s", s.job_id, s.index, wid, n, error)
        self._drop(s)
        delay = RETRY_BACKOFF_S[min(n, len(RETRY_BACKOFF_S)) - 1]
        s.state, s.not_before = "retry_wait", self.clock.now() + delay
        if n >= TRIES_PER_WORKER:
            s.worker_id = None  # another worker next
        self._save(s)
        self._changed.add(s.job_id)

    def _lost(self, s: JobSegment, why: str) -> None:
        # Not a try against the segment: a dead worker says nothing about the file.
        log.warning("job %s segment %d: %s; running it again elsewhere", s.job_id, s.index, why)
        self._requeue(s, why)

    def _requeue(self, s: JobSegment, why: str) -> None:
        self._drop(s)
        s.state, s.worker_id, s.frames, s.error = "queued", None, 0, why
        self._save(s)
        self._changed.add(s.job_id)

    def _dead(self, s: JobSegment) -> None:
        log.error("job %s segment %d goes to the dead letters: %s", s.job_id, s.index, s.error)
        s.state = "dead"
        self._save(s)
        self._changed.add(s.job_id)
        self._settle(self.jobs[s.job_id])

    def _drop(self, s: JobSegment) -> None:
        if s.worker_id and s.attempt:
            self._actions.append(SegmentCommand(s.worker_id, p.DropSegment(s.job_id, s.index, s.attempt)))

    def _save(self, s: JobSegment) -> None:
        self._records.append(SegmentSaved(replace(s, tries=dict(s.tries), crossings=None)))

    def _settle(self, job: Job) -> None:
        if job.finished or any(s.state not in ("done", "dead") for s in job.segments):
            return
        if all(s.state == "dead" for s in job.segments):
            job.state = "failed"
        else:
            job.state = "partial" if job.missing() else "done"
        job.finished_at = self.clock.wall()
        self._records.append(JobSaved(job))
        self._changed.add(job.job_id)
        log.info("job %s %s: %d segment(s), %d retried", job.job_id, job.state, len(job.segments),
                 sum(s.retried for s in job.segments))


def eta_s(job: Job, now: float) -> float | None:
    """Seconds left at the rate so far (None before any progress)."""
    if job.finished:
        return 0.0
    if job.started_mono is None:
        return None
    done = job.progress
    elapsed = now - job.started_mono
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed * (1 - done) / done
