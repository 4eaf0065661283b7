"""History in SQLite (through sqlite-utils): one writer thread, batched writes, WAL readers.

Writes: any thread calls `add_events`, `save_records`, `add_metrics`... which queue the work
and return a `Future` at once. The writer thread owns the only write connection; it takes
up to `batch_max` queued jobs (waiting at most `batch_wait_s` for more) and commits them
in one transaction, each job in its own savepoint so one bad job fails alone. A future
resolves only after the COMMIT: the master acks count events to a worker from there, so
an acked event is on disk.

Reads: each reading thread gets its own connection (WAL: readers never block the writer
nor each other). Chart queries read the per-minute / per-hour rollups (see schema.py for
the index design).
"""
from __future__ import annotations

import concurrent.futures
import csv
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import sqlite_utils

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent, LineCounts

from . import coverage as cov
from . import schema
from .actions import (
    AlertSaved,
    CameraDeleted,
    CameraSaved,
    LeaseEnded,
    LeaseStarted,
    SettingSaved,
    StandbyPromoted,
    WorkerDeleted,
    WorkerSaved,
)
from .alerts import Alert
from .fencing import Verdict
from .models import Assignment, Camera, Cut, Worker, WorkerCapabilities, WorkerMetrics

log = logging.getLogger(__name__)

BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
RETENTION_EVERY_S = 3600.0

R = TypeVar("R")


class StoreError(RuntimeError):
    """The history database cannot be used; the text says what to do."""


@dataclass(frozen=True)
class Retention:
    """How long each kind of history is kept (days)."""

    events_days: float = 30.0       # raw count events (the rollups outlive them)
    minute_days: float = 90.0
    hour_days: float = 3650.0
    metrics_days: float = 30.0
    alerts_days: float = 90.0       # resolved alerts


@dataclass(frozen=True)
class EventsResult:
    inserted: list[bool]                      # per event: False = a duplicate already stored
    acks: dict[tuple[str, int], int]          # (camera, epoch) -> every seq <= this is stored


@dataclass(frozen=True)
class SpansResult:
    acks: dict[tuple[str, int], int]          # (camera, epoch) -> every span seq <= this is stored closed


_STOP = object()


class Store:
    def __init__(self, path: str | Path, *, retention: Retention | None = None, batch_max: int = 500,
                 batch_wait_s: float = 0.02) -> None:
        self.path = Path(path)
        self.retention = retention or Retention()
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {self.path}: {exc}; "
                             "choose a writable data folder") from None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._local = threading.local()
        self._hw: dict[tuple[str, int], int] = {}
        self._span_hw: dict[tuple[str, int], int] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.stats = {"batches": 0, "jobs": 0, "failed_jobs": 0}
        self._thread = threading.Thread(target=self._run, name="campool-store-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise StoreError(f"cannot open the history database {self.path}: {self._error}") from self._error

    # ------------------------------------------------------------- connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: durable across process crashes
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    # ------------------------------------------------------------- writer thread

    def _run(self) -> None:
        try:
            conn = self._connect()
            self._db = sqlite_utils.Database(conn)
            schema.migrate(self._db)
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            batch = [job]
            deadline = time.monotonic() + self.batch_wait_s
            stop = False
            while len(batch) < self.batch_max:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(conn, batch)
            if stop:
                break
        conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[tuple[Callable[[sqlite3.Connection], Any],
                                                                    concurrent.futures.Future[Any]]]) -> None:
        results: list[tuple[concurrent.futures.Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            # One savepoint name for every job (they never nest): distinct SQL strings per job
            # would churn the connection's statement cache, and CPython 3.11 can then fail a
            # reused executemany with "bad parameter or other API misuse".
            for fn, fut in batch:
                conn.execute("SAVEPOINT job")
                try:
                    value = fn(conn)
                    if isinstance(value, sqlite3.Cursor):
                        # never hand a cursor of the writer's connection to another thread: freeing
                        # it there resets a statement this thread may be running (SQLITE_MISUSE)
                        value = None
                    conn.execute("RELEASE job")
                    results.append((fut, True, value))
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    self.stats["failed_jobs"] += 1
                    log.exception("history database write failed")
                    results.append((fut, False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("history database commit failed (%s); %d writes lost", exc, len(batch))
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._hw.clear()   # the cache may hold seqs that were rolled back
            self._span_hw.clear()
            for _, fut in batch:
                fut.set_exception(StoreError(f"history database write failed: {exc}"))
            return
        self.stats["batches"] += 1
        self.stats["jobs"] += len(batch)
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def submit(self, fn: Callable[[sqlite3.Connection], R]) -> concurrent.futures.Future[R]:
        """Run fn(conn) on the writer thread inside a batch transaction; the future resolves after COMMIT
        (to fn's value; a cursor of the writer's connection resolves to None)."""
        fut: concurrent.futures.Future[R] = concurrent.futures.Future()
        if not self._thread.is_alive():
            fut.set_exception(StoreError("the history database is closed"))
            return fut
        self._queue.put((fn, fut))
        return fut

    def read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """fn(conn) on this thread's read-only connection (for the job store's queries)."""
        return fn(self._reader())

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued before this call is committed."""
        self.submit(lambda conn: None).result(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(30.0)
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------- meta keys

    def meta(self, key: str) -> str | None:
        """The value of a meta key (the master's id, a setting...), None when it is not set."""
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str, *, keep_existing: bool = False) -> concurrent.futures.Future[None]:
        """Set a meta key; with ``keep_existing`` a value already there wins (first writer keeps it)."""
        verb = "INSERT OR IGNORE" if keep_existing else "INSERT OR REPLACE"

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(f"{verb} INTO meta VALUES (?, ?)", (key, value))

        return self.submit(job)

    # ------------------------------------------------------------- count events

    def add_events(self, events: list[CountEvent], verdicts: list[Verdict],
                   worker_id: str = "") -> concurrent.futures.Future[EventsResult]:
        """Store idempotently on (camera, epoch, seq); fenced and shadowed ones are kept (flagged) but never
        counted. Held ones (a standby's, not judged yet) must not be given: they are neither stored nor acked.

        The result's `acks` says, per (camera, epoch) touched, the highest seq up to which every
        event is stored: what the master may ack to the worker.
        """
        rows = [(e.camera_id, e.epoch, e.seq, e.line, e.direction, e.class_name, e.track_id, e.ts, e.frame_index,
                 worker_id, 0 if v is Verdict.ACCEPT else 1, time.time()) for e, v in zip(events, verdicts)]

        def job(conn: sqlite3.Connection) -> EventsResult:
            inserted = []
            for row in rows:
                cur = conn.execute("INSERT OR IGNORE INTO count_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
                inserted.append(cur.rowcount == 1)
            keys = {(r[0], r[1]) for r in rows}
            return EventsResult(inserted, {k: self._advance_hw(conn, k) for k in keys})

        return self.submit(job)

    def _advance_hw(self, conn: sqlite3.Connection, key: tuple[str, int]) -> int:
        hw = self._hw.get(key, 0)
        while True:
            seqs = [r[0] for r in conn.execute(
                "SELECT seq FROM count_events WHERE camera_id=? AND epoch=? AND seq>? ORDER BY seq LIMIT 1000",
                (key[0], key[1], hw))]
            for s in seqs:
                if s != hw + 1:
                    self._hw[key] = hw
                    return hw
                hw = s
            if len(seqs) < 1000:
                self._hw[key] = hw
                return hw

    # ------------------------------------------------------------- coverage spans

    def add_spans(self, spans: list[p.CoverageSpan], worker_id: str = "",
                  clock_offset: float = 0.0) -> concurrent.futures.Future[SpansResult]:
        """Store coverage spans idempotently on (camera, epoch, seq): a new seq is inserted; an open
        span is updated in place as it grows and when it closes; a closed one never changes again
        (a stale resend of its open self is ignored). ``clock_offset``: the worker's clock minus the
        master's as estimated now, kept with the span (at its first arrival) to put it in master time.

        The result's `acks` says, per (camera, epoch) touched, the highest seq up to which every
        span is stored *and closed*: what the master may ack (``AckCounts.spans_up_to``); the worker
        then forgets them, and an open span is never acked (it will still grow).
        """
        now = time.time()
        rows = []
        for sp in spans:
            end = max(sp.end_ts, sp.start_ts)   # a span that ends before it starts watched nothing
            rows.append((sp.camera_id, sp.epoch, sp.seq, sp.start_ts, end, sp.role, 1 if sp.closed else 0, worker_id,
                         clock_offset, sp.start_ts - clock_offset, end - clock_offset, now))

        def job(conn: sqlite3.Connection) -> SpansResult:
            conn.executemany("""
                INSERT INTO coverage_spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT (camera_id, epoch, seq) DO UPDATE SET
                    end_ts = excluded.end_ts, end_wall = excluded.end_ts - coverage_spans.clock_offset,
                    closed = excluded.closed, role = excluded.role, received_at = excluded.received_at
                WHERE coverage_spans.closed = 0
                    AND (excluded.closed = 1 OR excluded.end_ts >= coverage_spans.end_ts)""", rows)
            keys = {(r[0], r[1]) for r in rows}
            return SpansResult({k: self._advance_span_hw(conn, k) for k in keys})

        return self.submit(job)

    def _advance_span_hw(self, conn: sqlite3.Connection, key: tuple[str, int]) -> int:
        hw = self._span_hw.get(key, 0)
        for seq, closed in conn.execute(
                "SELECT seq, closed FROM coverage_spans WHERE camera_id=? AND epoch=? AND seq>? ORDER BY seq",
                (key[0], key[1], hw)):
            if seq != hw + 1 or not closed:
                break
            hw = seq
        self._span_hw[key] = hw
        return hw

    def counted_spans(self, camera_id: str, start: float, end: float) -> list[cov.StoredSpan]:
        """The spans of a camera that touch [start, end) (master time), with their epochs' cuts and
        promotions: what `coverage.StoredSpan.counted` needs to say how much of each counts."""
        conn = self._reader()
        # a camera has a few epochs and tens of thousands of spans a month: their bounds are read once
        bounds: dict[int, tuple[float | None, float | None, float | None]] = {}
        for ep, cut_ts, ended, promoted in conn.execute("""
                SELECT e.epoch, a.cut_ts, a.ended_at, pr.count_from_ts
                FROM (SELECT DISTINCT epoch FROM coverage_spans WHERE camera_id = ?) e
                LEFT JOIN assignments a ON a.camera_id = ? AND a.epoch = e.epoch
                LEFT JOIN promotions pr ON pr.camera_id = ? AND pr.epoch = e.epoch""",
                                                        (camera_id, camera_id, camera_id)):
            bounds[int(ep)] = (cut_ts, ended, promoted)
        rows = conn.execute(
            "SELECT epoch, seq, start_ts, end_ts, role, clock_offset FROM coverage_spans "
            "WHERE camera_id = ? AND end_wall >= ? AND start_wall < ? ORDER BY start_wall", (camera_id, start, end))
        none = (None, None, None)
        return [cov.StoredSpan(camera_id, ep, seq, a, b, role, off, *bounds.get(ep, none))
                for ep, seq, a, b, role, off in rows]

    def watched_by_worker(self, camera_id: str, start: float, end: float) -> dict[str, list[cov.Interval]]:
        """Per worker, the merged stretches of [start, end) (master time) it had frames of the camera,
        in any role and whether or not they counted: where each holder itself saw the stream."""
        out: dict[str, list[cov.Interval]] = {}
        for wid, a, b in self._reader().execute(
                "SELECT worker_id, start_wall, end_wall FROM coverage_spans "
                "WHERE camera_id = ? AND end_wall >= ? AND start_wall < ? ORDER BY start_wall",
                (camera_id, start, end)):
            out.setdefault(str(wid), []).append((max(float(a), start), min(float(b), end)))
        return {wid: cov.merge(spans) for wid, spans in out.items()}

    def gap_reasons(self, camera_id: str, gaps: Iterable[cov.Interval]) -> list[str]:
        """Why nobody watched each gap of a camera (coverage.gap_reason), in the order given."""
        gaps = list(gaps)
        if not gaps:
            return []
        conn = self._reader()
        leases = []
        for ep, wid, started, ended, cut_ts, raw_end in conn.execute("""
                SELECT a.epoch, a.worker_id, a.started_at, a.ended_at, a.cut_ts,
                       (SELECT MAX(end_ts) FROM coverage_spans s WHERE s.camera_id = a.camera_id
                        AND s.epoch = a.epoch)
                FROM assignments a WHERE a.camera_id = ? AND a.started_at < ? AND (a.ended_at IS NULL OR a.ended_at > ?)
                ORDER BY a.epoch""", (camera_id, max(b for _, b in gaps) + 60, min(a for a, _ in gaps) - 60)):
            after_cut = cut_ts is not None and raw_end is not None and raw_end > cut_ts
            leases.append(cov.Lease(int(ep), str(wid), float(started), ended, after_cut))
        return [cov.gap_reason(g, leases) for g in gaps]

    def coverage_since(self, camera_id: str) -> float | None:
        """Master time of the camera's first stored span: before it, whether it was watched is unknown."""
        row = self._reader().execute("SELECT MIN(start_wall) FROM coverage_spans WHERE camera_id = ?",
                                     (camera_id,)).fetchone()
        return None if row[0] is None else float(row[0])

    def coverage(self, start: float, end: float, bucket: str = "hour", camera_id: str | None = None, *,
                 now: float | None = None, tz_offset_s: float | None = None, clip: bool = False) -> cov.Coverage:
        """Watched seconds per bucket of [start, end) and the gaps nobody watched, for one camera or for
        all of them (camera-seconds; the gaps are where no camera with span data was watched).
        ``now`` (default: the wall clock) ends what is known; day buckets start at local midnight.
        The buckets are whole, like the counts' (a range from 10:03:27 has the whole 10:03 minute);
        ``clip`` judges [start, end) only."""
        per = self.coverage_by_camera(start, end, bucket, None if camera_id is None else [camera_id], now=now,
                                      tz_offset_s=tz_offset_s, clip=clip)
        if camera_id is not None:
            return per[camera_id]
        return cov.pool_coverage(list(per.values()))

    def coverage_by_camera(self, start: float, end: float, bucket: str = "hour",
                           camera_ids: Iterable[str] | None = None, *, now: float | None = None,
                           tz_offset_s: float | None = None, clip: bool = False) -> dict[str, cov.Coverage]:
        """`coverage` of each camera (default: every camera the master has; a removed one is not judged
        after it was removed, so it is left out of "all cameras"), by camera id."""
        if bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
        if end <= start:
            raise ValueError("the end of a history range must be after its start")
        now = time.time() if now is None else now
        size = BUCKETS[bucket]
        off = (_local_offset(start) if tz_offset_s is None else tz_offset_s) if bucket == "day" else 0.0
        starts = cov.bucket_starts(start, end, size, off)
        if camera_ids is None:
            camera_ids = [str(r[0]) for r in self._reader().execute("SELECT camera_id FROM cameras ORDER BY 1")]
        # the buckets' own edges bound the spans read: a partial first/last bucket still gets its whole
        lo, hi = (starts[0], starts[-1] + size) if starts and not clip else (start, end)
        return {cid: cov.camera_coverage(cid, self.counted_spans(cid, lo, hi), self.coverage_since(cid), lo, hi, now,
                                         starts, size) for cid in camera_ids}

    # ------------------------------------------------------------- pool records

    def save_records(self, records: Iterable[object]) -> concurrent.futures.Future[None]:
        records = list(records)

        def job(conn: sqlite3.Connection) -> None:
            for r in records:
                _save_record(conn, r)

        return self.submit(job)

    def rewrite_cameras(self, cameras: Iterable[Camera], timeout: float = 30.0) -> None:
        """Rewrite these cameras' rows so that nothing of what they held before stays in the file:
        the overwrite runs with ``secure_delete`` (SQLite zeroes the freed bytes), then the WAL is
        checkpointed into the database and truncated. What the master does once when it moves a
        password that an older version stored in a camera's URL into the keyring. Blocks."""
        records = [CameraSaved(c) for c in cameras]

        def job(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                for r in records:
                    _save_camera(conn, r, time.time())
            finally:
                conn.execute("PRAGMA secure_delete=OFF")

        self.submit(job).result(timeout)
        conn = self._connect()
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def add_metrics(self, worker_id: str, m: WorkerMetrics) -> concurrent.futures.Future[None]:
        """Downsampled: one row per worker per minute, the running mean of the samples."""
        minute = int(m.ts // 60)
        vals = (m.cpu_pct, m.mem_pct, m.gpu_pct, m.gpu_temp_c, m.disk_pct, m.outbox_backlog, m.fps_total)

        def job(conn: sqlite3.Connection) -> None:
            conn.execute("""
                INSERT INTO worker_metrics VALUES (?,?,1,?,?,?,?,?,?,?)
                ON CONFLICT (worker_id, minute) DO UPDATE SET
                    cpu = (cpu * samples + excluded.cpu) / (samples + 1),
                    mem = (mem * samples + excluded.mem) / (samples + 1),
                    gpu = CASE WHEN excluded.gpu IS NULL THEN gpu
                               ELSE (COALESCE(gpu, 0) * samples + excluded.gpu) / (samples + 1) END,
                    gpu_temp = MAX(COALESCE(gpu_temp, excluded.gpu_temp), COALESCE(excluded.gpu_temp, gpu_temp)),
                    disk = COALESCE(excluded.disk, disk),
                    backlog = excluded.backlog,
                    fps = (fps * samples + excluded.fps) / (samples + 1),
                    samples = samples + 1""", (worker_id, minute, *vals))

        return self.submit(job)

    def add_zone_peaks(self, camera_id: str, ts: float, zones: dict[str, int]) -> concurrent.futures.Future[None]:
        minute = int(ts // 60)
        rows = [(camera_id, minute, z, int(n)) for z, n in zones.items()]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany("""INSERT INTO zone_minute VALUES (?,?,?,?)
                ON CONFLICT (camera_id, minute, zone) DO UPDATE SET peak = MAX(peak, excluded.peak)""", rows)

        return self.submit(job)

    def apply_retention(self, now: float | None = None) -> concurrent.futures.Future[dict[str, int]]:
        """Delete history older than the retention settings; returns rows deleted per table."""
        now = time.time() if now is None else now
        r = self.retention
        day = 86400.0

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            out = {}
            for table, sql, arg in (
                ("count_events", "DELETE FROM count_events WHERE ts < ?", now - r.events_days * day),
                ("counts_minute", "DELETE FROM counts_minute WHERE minute < ?", int((now - r.minute_days * day) // 60)),
                ("zone_minute", "DELETE FROM zone_minute WHERE minute < ?",
                 int((now - r.minute_days * day) // 60)),
                ("counts_hour", "DELETE FROM counts_hour WHERE hour < ?",
                 int((now - r.hour_days * day) // 3600)),
                ("worker_metrics", "DELETE FROM worker_metrics WHERE minute < ?",
                 int((now - r.metrics_days * day) // 60)),
                ("alerts", "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?",
                 now - r.alerts_days * day),
                # coverage lives as long as the minute rollups; the spans of a camera's newest epoch stay
                # (still acked by contiguous seq: deleting its first seqs would stall its acks)
                ("coverage_spans", "DELETE FROM coverage_spans WHERE end_wall < ? AND epoch < (SELECT MAX(epoch) "
                 "FROM coverage_spans c WHERE c.camera_id = coverage_spans.camera_id)", now - r.minute_days * day),
            ):
                out[table] = conn.execute(sql, (arg,)).rowcount
            self._hw.clear()   # events of old epochs may be gone: recompute from the table
            self._span_hw.clear()
            return out

        return self.submit(job)

    # ------------------------------------------------------------- reads

    def load_state(self) -> dict[str, Any]:
        """What PoolCore.restore needs after a master restart."""
        conn = self._reader()
        workers = []
        for row in conn.execute("SELECT worker_id, name, host, cmd_port, pub_port, pair_port, public_key, site, "
                                "groups, draining FROM workers"):
            wid, name, host, cmd, pub, pair, key, site, groups, draining = row
            caps = WorkerCapabilities(site=site or "", groups=frozenset(json.loads(groups or "[]")))
            workers.append(Worker(wid, name or wid, address=host or "", cmd_port=cmd or 0, pub_port=pub or 0,
                                  pair_port=pair or 0, public_key=key, adopted=True, draining=bool(draining),
                                  capabilities=caps))
        cameras = []
        for cfg, pin, pin_return, target in conn.execute(
                "SELECT config, pin, pin_return, target_fps FROM cameras ORDER BY camera_id"):
            cameras.append(Camera(CameraConfig.from_dict(json.loads(cfg)), pin=pin, pin_return=bool(pin_return),
                                  target_fps=target))
        # the primary's epoch is current; a standby's epoch is issued above it (issue #12)
        epochs = {cid: ep for cid, ep in conn.execute(
            "SELECT camera_id, MAX(epoch) FROM assignments WHERE role = 'primary' GROUP BY camera_id")}
        issued = {cid: ep for cid, ep in conn.execute(
            "SELECT camera_id, MAX(epoch) FROM assignments GROUP BY camera_id")}
        leases, standbys, cuts = [], [], []
        floors: dict[tuple[str, int], float] = {}
        for cid, ep, wid, reason, started, ended, start, count_from, cut_frame, cut_ts, role, from_ts in conn.execute(
                "SELECT a.camera_id, a.epoch, a.worker_id, a.reason, a.started_at, a.ended_at, a.start_frame, "
                "a.count_from_frame, a.cut_frame, a.cut_ts, a.role, pr.count_from_ts FROM assignments a "
                "LEFT JOIN promotions pr ON pr.camera_id = a.camera_id AND pr.epoch = a.epoch "
                "WHERE a.epoch > (SELECT MAX(epoch) FROM assignments b WHERE b.camera_id = a.camera_id) - 16"):
            if ended is None and role == "primary" and ep == epochs.get(cid):
                leases.append(Assignment(cid, wid, ep, since=0.0, start_frame=start, count_from_frame=count_from,
                                         count_from_ts=from_ts, state="active", started_wall=started))
            elif ended is None and role == "standby":
                mode = "warm" if str(reason or "").startswith("warm") else "hot"
                standbys.append(Assignment(cid, wid, ep, since=0.0, state="active", started_wall=started,
                                           role="standby", mode=mode))
            if from_ts is not None:
                floors[(cid, ep)] = float(from_ts)
            if cut_frame is not None or cut_ts is not None or (ended is not None and role == "standby"):
                cuts.append(Cut(cid, ep, frame=cut_frame, ts=cut_ts, wall=ended))
        last_frames = {}
        for cid, ep in epochs.items():
            row = conn.execute("SELECT MAX(frame_index) FROM count_events WHERE camera_id=? AND epoch=? AND fenced=0",
                               (cid, ep)).fetchone()
            if row[0] is not None:
                last_frames[(cid, ep)] = int(row[0])
        counts: dict[str, dict[str, LineCounts]] = {}
        for cid, line, direction, class_name, n in conn.execute(
                "SELECT camera_id, line, direction, class_name, SUM(n) FROM counts_hour "
                "WHERE direction IN ('in', 'out') GROUP BY camera_id, line, direction, class_name"):
            counts.setdefault(cid, {}).setdefault(line, LineCounts()).add(direction, class_name, int(n))
        alerts = [Alert(*row) for row in conn.execute(
            "SELECT id, kind, subject, severity, message, state, raised_at, last_seen, count, value, acked_at, "
            "resolved_at FROM alerts "
            "WHERE state != 'resolved' OR id > (SELECT COALESCE(MAX(id), 0) - 200 FROM alerts)")]
        settings = {k[len("setting."):]: v for k, v in conn.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'setting.%'")}
        return {"workers": workers, "cameras": cameras, "leases": leases, "epochs": epochs, "cuts": cuts,
                "last_frames": last_frames, "counts": counts, "alerts": alerts, "settings": settings,
                "standbys": standbys, "issued": issued, "floors": floors}

    def counts_series(self, start: float, end: float, bucket: str = "hour", camera_id: str | None = None,
                      line: str | None = None, by_class: bool = True, tz_offset_s: float | None = None
                      ) -> list[dict[str, Any]]:
        """Counts per bucket in [start, end): rows {bucket_ts, camera_id, line, direction, class_name, count}.

        minute buckets read counts_minute, hour and day buckets read counts_hour. Day buckets
        start at local midnight (tz_offset_s: seconds east of UTC; default: this machine's).
        class_name is "all" when by_class is False.
        """
        if bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
        if end <= start:
            raise ValueError("the end of a history range must be after its start")
        table, col, size = ("counts_minute", "minute", 60) if bucket == "minute" else ("counts_hour", "hour", 3600)
        lo, hi = int(start // size), int(-(-end // size))     # buckets overlapping [start, end)
        if bucket == "day":
            off = _local_offset(start) if tz_offset_s is None else tz_offset_s
            key = f"(({col} * 3600 + {off:.0f}) / 86400) * 86400 - {off:.0f}"
        else:
            key = f"{col} * {size}"
        cls = "class_name" if by_class else "'all'"
        where = [f"{col} >= ?", f"{col} < ?"]
        args: list[Any] = [lo, hi]
        if camera_id is not None:
            where.insert(0, "camera_id = ?")
            args.insert(0, camera_id)
        if line is not None:
            where.append("line = ?")
            args.append(line)
        sql = (f"SELECT {key} AS bucket_ts, camera_id, line, direction, {cls} AS cls, SUM(n) FROM {table} "
               f"WHERE {' AND '.join(where)} GROUP BY bucket_ts, camera_id, line, direction, cls "
               f"ORDER BY bucket_ts, camera_id, line, direction, cls")
        return [{"bucket_ts": float(b), "camera_id": c, "line": ln, "direction": d, "class_name": k, "count": int(n)}
                for b, c, ln, d, k, n in self._reader().execute(sql, args)]

    def zone_series(self, camera_id: str, start: float, end: float) -> list[dict[str, Any]]:
        """Peak zone occupancy per minute."""
        rows = self._reader().execute(
            "SELECT minute * 60, zone, peak FROM zone_minute WHERE camera_id = ? AND minute >= ? AND minute < ? "
            "ORDER BY minute, zone", (camera_id, int(start // 60), int(-(-end // 60))))
        return [{"bucket_ts": float(t), "camera_id": camera_id, "line": z, "direction": "occupancy",
                 "class_name": "all", "count": int(n)} for t, z, n in rows]

    def export_csv(self, out: IO[str] | str | Path, start: float, end: float, bucket: str = "hour",
                   camera_id: str | None = None, line: str | None = None, by_class: bool = False) -> int:
        """Write counts by line and period as CSV (local ISO times); returns the number of data rows."""
        rows = self.counts_series(start, end, bucket, camera_id, line, by_class)
        names = {cid: name for cid, name in self._reader().execute("SELECT camera_id, name FROM cameras")}
        if isinstance(out, (str, Path)):
            with open(out, "w", newline="", encoding="utf-8") as fh:
                _write_csv(fh, rows, names, bucket)
        else:
            _write_csv(out, rows, names, bucket)
        return len(rows)

    def assignment_history(self, camera_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        sql = ("SELECT camera_id, epoch, worker_id, reason, started_at, ended_at, start_frame, count_from_frame, "
               "cut_frame, cut_ts FROM assignments")
        args: list[Any] = []
        if camera_id is not None:
            sql += " WHERE camera_id = ?"
            args.append(camera_id)
        sql += " ORDER BY started_at DESC LIMIT ?"
        args.append(limit)
        cols = ("camera_id", "epoch", "worker_id", "reason", "started_at", "ended_at", "start_frame",
                "count_from_frame", "cut_frame", "cut_ts")
        return [dict(zip(cols, r)) for r in self._reader().execute(sql, args)]

    def worker_metrics(self, worker_id: str, start: float, end: float) -> list[dict[str, Any]]:
        cols = ("ts", "samples", "cpu", "mem", "gpu", "gpu_temp", "disk", "backlog", "fps")
        rows = self._reader().execute(
            "SELECT minute * 60, samples, cpu, mem, gpu, gpu_temp, disk, backlog, fps FROM worker_metrics "
            "WHERE worker_id = ? AND minute >= ? AND minute < ? ORDER BY minute",
            (worker_id, int(start // 60), int(-(-end // 60))))
        return [dict(zip(cols, r)) for r in rows]

    def recent_event_keys(self, camera_ids: Iterable[str], received_since: float,
                          ts_from: float) -> set[tuple[str, int, int]]:
        """(camera, epoch, seq) of the counted events received since ``received_since`` (wall time) whose
        own time is ``ts_from`` or later: a reader of today's counts tells by them the events it already
        has from those whose CountsChanged is still on its way (the integrations, at their start)."""
        conn = self._reader()
        out: set[tuple[str, int, int]] = set()
        for cid in camera_ids:
            out.update((cid, ep, seq) for ep, seq in conn.execute(
                "SELECT epoch, seq FROM count_events WHERE camera_id = ? AND ts >= ? AND received_at >= ? "
                "AND fenced = 0", (cid, ts_from, received_since)))
        return out

    def stored_events(self, camera_id: str, *, include_fenced: bool = False) -> list[CountEvent]:
        """Every stored event of a camera (tests, audits)."""
        sql = ("SELECT camera_id, epoch, seq, line, direction, class_name, track_id, ts, frame_index "
               "FROM count_events WHERE camera_id = ?" + ("" if include_fenced else " AND fenced = 0") +
               " ORDER BY frame_index, epoch, seq")
        return [CountEvent(*r) for r in self._reader().execute(sql, (camera_id,))]


class RetentionSchedule:
    """Applies a store's retention now and then every ``every_s`` seconds, off the caller's thread
    (the writer does the deleting); what it removed, or why it failed, goes to the log."""

    def __init__(self, store: Store, every_s: float = RETENTION_EVERY_S, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.every_s = every_s
        self._clock = clock
        self._last = float("-inf")

    def tick(self) -> None:
        if self._clock() - self._last < self.every_s:
            return
        self._last = self._clock()
        self.store.apply_retention().add_done_callback(_log_retention)


def _log_retention(fut: concurrent.futures.Future[dict[str, int]]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("history retention failed: %s; old history is kept until the next run", exc)
    elif any(fut.result().values()):
        log.info("history retention removed %s", ", ".join(f"{n} {t}" for t, n in fut.result().items() if n))


def _write_csv(out: IO[str], rows: list[dict[str, Any]], names: dict[str, str], bucket: str) -> None:
    w = csv.writer(out)
    w.writerow(["period_start", "bucket", "camera_id", "camera_name", "line", "direction", "class", "count"])
    for r in rows:
        w.writerow([time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r["bucket_ts"])), bucket,
                    r["camera_id"], names.get(r["camera_id"], ""), r["line"], r["direction"],
                    r["class_name"], r["count"]])


def _local_offset(ts: float) -> float:
    return float(time.localtime(ts).tm_gmtoff)


def _save_lease_started(conn: sqlite3.Connection, r: LeaseStarted, now: float) -> None:
    a: Assignment = r.assignment
    conn.execute("INSERT OR REPLACE INTO assignments (camera_id, epoch, worker_id, reason, started_at, ended_at, "
                 "start_frame, count_from_frame, cut_frame, cut_ts, role) VALUES (?,?,?,?,?,NULL,?,?,NULL,NULL,?)",
                 (a.camera_id, a.epoch, a.worker_id, r.reason, a.started_wall, a.start_frame, a.count_from_frame,
                  a.role))


def _save_lease_ended(conn: sqlite3.Connection, r: LeaseEnded, now: float) -> None:
    conn.execute("UPDATE assignments SET ended_at = ?, cut_frame = ?, cut_ts = ? WHERE camera_id = ? AND epoch = ?",
                 (r.ended_wall, r.cut.frame, r.cut.ts, r.camera_id, r.epoch))


def _save_standby_promoted(conn: sqlite3.Connection, r: StandbyPromoted, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO promotions VALUES (?,?,?,?)",
                 (r.camera_id, r.epoch, r.count_from_ts, r.promoted_wall))
    # its lease is the camera's primary from now on (load_state: the current epoch is the primary's)
    conn.execute("UPDATE assignments SET role = 'primary' WHERE camera_id = ? AND epoch = ?", (r.camera_id, r.epoch))


def _save_camera(conn: sqlite3.Connection, r: CameraSaved, now: float) -> None:
    c: Camera = r.camera
    cfg = c.config
    conn.execute("""INSERT INTO cameras VALUES (?,?,?,?,?,?,?,?,?)
        ON CONFLICT (camera_id) DO UPDATE SET name = excluded.name, source = excluded.source,
            config = excluded.config, pin = excluded.pin, pin_return = excluded.pin_return,
            target_fps = excluded.target_fps, updated_at = excluded.updated_at""",
                 (cfg.camera_id, cfg.name, cfg.source, json.dumps(cfg.to_dict()), c.pin, int(c.pin_return),
                  c.target_fps, now, now))
    conn.execute("DELETE FROM camera_shapes WHERE camera_id = ?", (cfg.camera_id,))
    conn.executemany("INSERT INTO camera_shapes VALUES (?,?,?,?)",
                     [(cfg.camera_id, ln.name, "line", json.dumps([ln.p1, ln.p2])) for ln in cfg.lines]
                     + [(cfg.camera_id, z.name, "zone", json.dumps(z.points)) for z in cfg.zones])


def _delete_camera(conn: sqlite3.Connection, r: CameraDeleted, now: float) -> None:
    conn.execute("DELETE FROM camera_shapes WHERE camera_id = ?", (r.camera_id,))
    conn.execute("DELETE FROM cameras WHERE camera_id = ?", (r.camera_id,))


def _save_worker(conn: sqlite3.Connection, r: WorkerSaved, now: float) -> None:
    w: Worker = r.worker
    conn.execute("""INSERT INTO workers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT (worker_id) DO UPDATE SET name = excluded.name, host = excluded.host,
            cmd_port = excluded.cmd_port, pub_port = excluded.pub_port, pair_port = excluded.pair_port,
            public_key = excluded.public_key, site = excluded.site, groups = excluded.groups,
            draining = excluded.draining, updated_at = excluded.updated_at""",
                 (w.worker_id, w.name, w.address, w.cmd_port, w.pub_port, w.pair_port,
                  w.public_key, w.capabilities.site, json.dumps(sorted(w.capabilities.groups)), int(w.draining),
                  now, now))


def _delete_worker(conn: sqlite3.Connection, r: WorkerDeleted, now: float) -> None:
    conn.execute("DELETE FROM workers WHERE worker_id = ?", (r.worker_id,))


def _save_setting(conn: sqlite3.Connection, r: SettingSaved, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"setting.{r.key}", r.value))


def _save_alert(conn: sqlite3.Connection, r: AlertSaved, now: float) -> None:
    a: Alert = r.alert
    conn.execute("INSERT OR REPLACE INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                 (a.id, a.kind, a.subject, a.severity, a.message, a.state, a.raised_at, a.last_seen,
                  a.count, a.value, a.acked_at, a.resolved_at))


# How each pool record (actions.py) is written: one function per record type.
_SAVERS: dict[type[Any], Callable[[sqlite3.Connection, Any, float], None]] = {
    LeaseStarted: _save_lease_started,
    LeaseEnded: _save_lease_ended,
    StandbyPromoted: _save_standby_promoted,
    CameraSaved: _save_camera,
    CameraDeleted: _delete_camera,
    WorkerSaved: _save_worker,
    WorkerDeleted: _delete_worker,
    SettingSaved: _save_setting,
    AlertSaved: _save_alert,
}


def _save_record(conn: sqlite3.Connection, r: object) -> None:
    save = _SAVERS.get(type(r))
    if save is None:
        raise TypeError(f"the store does not know how to save {type(r).__name__}; add it to store._SAVERS")
    save(conn, r, time.time())
