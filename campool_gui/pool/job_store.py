"""Jobs in the master's history database (schema v5): what a restarted master resumes from.

Writes go through the store's writer thread (`Store.submit`), in the order the board made its
records, before the commands they announce are sent. A segment's result is stored in one
transaction with its row turning "done", and only if the row was not done already: a result
that arrives twice (a lost reply asked again, a restarted master) is counted once.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from concurrent.futures import Future

from campool_worker import protocol as p

from .jobs import Job, JobRecord, JobSaved, JobSegment, JobSpec, MediaInfo, SegmentResultSaved, SegmentSaved
from .store import Store


def _save_job(conn: sqlite3.Connection, job: Job) -> None:
    conn.execute(
        "INSERT INTO jobs(job_id, name, spec, media, priority, state, seq, submitted_at, finished_at) "
        "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(job_id) DO UPDATE SET state=excluded.state, "
        "finished_at=excluded.finished_at",
        (job.job_id, job.spec.name, json.dumps(job.spec.to_dict()), json.dumps([m.to_dict() for m in job.media]),
         job.spec.priority, job.state, job.seq, job.submitted_at, job.finished_at))


def _save_segment(conn: sqlite3.Connection, s: JobSegment) -> None:
    # A done row is final: a late state of an older attempt never undoes it.
    conn.execute(
        "INSERT INTO job_segments(job_id, idx, file_idx, start_frame, end_frame, warmup, state, attempt, worker_id, "
        "tries, error, frames, skipped, ended_at, retried) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(job_id, idx) DO UPDATE SET state=excluded.state, attempt=excluded.attempt, "
        "worker_id=excluded.worker_id, tries=excluded.tries, error=excluded.error, frames=excluded.frames, "
        "skipped=excluded.skipped, ended_at=excluded.ended_at, retried=excluded.retried WHERE state != 'done'",
        (s.job_id, s.index, s.file_idx, s.start, s.end, s.warmup, s.state, s.attempt, s.worker_id,
         json.dumps(s.tries), s.error, s.frames, s.skipped, s.ended_at, s.retried))


def _save_result(conn: sqlite3.Connection, s: JobSegment, crossings: tuple[p.JobCrossing, ...]) -> bool:
    row = conn.execute("SELECT state FROM job_segments WHERE job_id=? AND idx=?", (s.job_id, s.index)).fetchone()
    if row is not None and row[0] == "done":
        return False
    _save_segment(conn, s)
    conn.executemany(
        "INSERT OR IGNORE INTO job_crossings(job_id, idx, n, frame_index, media_ts, line, direction, class_name) "
        "VALUES (?,?,?,?,?,?,?,?)",
        [(s.job_id, s.index, n, c.frame_index, c.media_ts, c.line, c.direction, c.class_name)
         for n, c in enumerate(crossings)])
    return True


def apply(conn: sqlite3.Connection, records: Iterable[JobRecord]) -> None:
    for r in records:
        if isinstance(r, JobSaved):
            _save_job(conn, r.job)
        elif isinstance(r, SegmentSaved):
            _save_segment(conn, r.segment)
        elif isinstance(r, SegmentResultSaved):
            _save_result(conn, r.segment, r.crossings)


def save(store: Store, records: list[JobRecord]) -> Future[None]:
    records = list(records)
    return store.submit(lambda conn: apply(conn, records))


def load_jobs(conn: sqlite3.Connection) -> list[Job]:
    """Every stored job with its segments, and the crossings of the done ones."""
    jobs: dict[str, Job] = {}
    for job_id, spec, media, state, seq, submitted, finished in conn.execute(
            "SELECT job_id, spec, media, state, seq, submitted_at, finished_at FROM jobs ORDER BY seq"):
        jobs[job_id] = Job(job_id, JobSpec.from_dict(json.loads(spec)),
                           [MediaInfo.from_dict(m) for m in json.loads(media)], [], int(seq), float(submitted),
                           state, finished)
    for row in conn.execute(
            "SELECT job_id, idx, file_idx, start_frame, end_frame, warmup, state, attempt, worker_id, tries, error, "
            "frames, skipped, ended_at, retried FROM job_segments ORDER BY job_id, idx"):
        job = jobs.get(row[0])
        if job is None:
            continue
        job.segments.append(JobSegment(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                                       json.loads(row[9]), row[10], row[11], row[12], row[13], row[14]))
    for s in (s for j in jobs.values() for s in j.segments if s.state == "done"):
        s.crossings = crossings(conn, s.job_id, s.index)
    return list(jobs.values())


def crossings(conn: sqlite3.Connection, job_id: str, index: int | None = None) -> list[p.JobCrossing]:
    q = "SELECT frame_index, media_ts, line, direction, class_name FROM job_crossings WHERE job_id=?"
    args: tuple[object, ...] = (job_id,)
    if index is not None:
        q, args = q + " AND idx=?", (job_id, index)
    return [p.JobCrossing(*r) for r in conn.execute(q + " ORDER BY idx, n", args)]
