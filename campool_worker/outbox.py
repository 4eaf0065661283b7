"""The worker's SQLite store: count events until the master acks them, and the assignments.

One file (``worker.db``), WAL journal, ``synchronous=FULL``, one writer: the service loop thread
owns the `Outbox` (the camera threads hand their crossings to it through a queue), so there is
never write contention; the busy timeout only covers an outside reader (a test, an operator with
the sqlite3 shell). An event gets its ``seq`` inside the transaction that stores it, so a
SIGKILL at any moment leaves either the event with its seq or neither; seqs of one
(camera_id, epoch) start at 1 and have no gaps (``seqs`` keeps the last one even after the
events are acked and deleted).

A write that fails (the disk is full, an I/O error, a read-only mount) raises `OutboxWriteError`
and leaves nothing of itself behind: the transaction is rolled back, the seqs it would have used
are used by the next commit. The caller decides what to do with what it could not store (the
service holds crossings in memory and retries, see storage_watch.py); the outbox never guesses.
The WAL is kept small (`WAL_AUTOCHECKPOINT_PAGES`, `WAL_SIZE_LIMIT`) because on a nearly full disk
it is the file that grows first: SQLite's default (1000 pages, and a WAL file that never shrinks)
would take 4 MB of a disk the events themselves barely need.

Coverage spans (coverage.py) are kept beside the events, in a table of their own with a seq per
(camera_id, epoch) (``span_seqs`` keeps the last one): `record_spans` stores what the cameras'
trackers told (a new span gets the next seq, an open one is updated in place under its seq),
`ack_spans` deletes what the master stored *and* will not change any more (closed spans), and a
start after a SIGKILL closes the span that was open then (`close_open_spans`): its end is the
last commit. An assignment keeps its role (a standby, hot or warm, is resumed as one).

Schema 2 (issue #12) added the spans tables and the assignments' role columns; a version-1 file
is upgraded in place when it is opened.

Opening a file that may be damaged, and the worker id kept beside it, are outbox_file.py's job.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from campool_worker.camera import CameraConfig, CountEvent
from campool_worker.coverage import Role, SpanUpdate
from campool_worker.errors import CampoolError
from campool_worker.protocol.messages import CoverageSpan

if TYPE_CHECKING:
    from campool_worker.pipeline.camera_pipeline import Crossing

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
WAL_AUTOCHECKPOINT_PAGES = 256  # ~1 MiB of WAL between checkpoints (SQLite's default: 1000 pages)
WAL_SIZE_LIMIT = 1 << 20  # a WAL grown past this by one big transaction is cut back at the next reset
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    line TEXT NOT NULL, direction TEXT NOT NULL, class_name TEXT NOT NULL,
    track_id INTEGER NOT NULL, ts REAL NOT NULL, frame_index INTEGER NOT NULL,
    committed_at REAL NOT NULL, sent_at REAL,
    PRIMARY KEY (camera_id, epoch, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seqs (
    camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    last_frame INTEGER NOT NULL,  -- frame of the last committed event: where a restarted file resumes
    PRIMARY KEY (camera_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS assignments (
    camera_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, config TEXT NOT NULL,
    start_frame INTEGER, count_from_frame INTEGER, count_from_ts REAL, assigned_at REAL NOT NULL,
    role TEXT NOT NULL DEFAULT 'primary', standby TEXT NOT NULL DEFAULT 'hot', buffer_s REAL NOT NULL DEFAULT 10.0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spans (
    camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    start_ts REAL NOT NULL, end_ts REAL NOT NULL, role TEXT NOT NULL, closed INTEGER NOT NULL,
    committed_at REAL NOT NULL, sent_at REAL,
    PRIMARY KEY (camera_id, epoch, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS span_seqs (
    camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    PRIMARY KEY (camera_id, epoch)
) WITHOUT ROWID;
"""
# Columns added since schema 1, added to a version-1 file when it is opened.
_ADDED_COLUMNS = {
    "assignments": [("role", "TEXT NOT NULL DEFAULT 'primary'"), ("standby", "TEXT NOT NULL DEFAULT 'hot'"),
                    ("buffer_s", "REAL NOT NULL DEFAULT 10.0")],
}
Standby = Literal["hot", "warm"]
SpanKey = tuple[str, int]  # (camera_id, epoch)


class OutboxError(CampoolError):
    """The outbox cannot be used at all (another process holds it, a newer worker wrote it, the
    folder is not readable); the text says what to do."""


class OutboxWriteError(CampoolError):
    """A write the outbox could not make (disk full, I/O error, read-only): nothing of it was
    stored. ``reason`` is SQLite's own words, e.g. "database or disk is full"."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# SQLite's primary result codes that mean the file itself is not a sound database ...
DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
# ... and those a full disk gives (an I/O error: the -shm file could not be made; the disk is full).
NO_ROOM_CODES = frozenset({10, 13})  # SQLITE_IOERR, SQLITE_FULL


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite's error says the file is damaged (as opposed to locked, unreadable or full)."""
    code = _primary_code(exc)
    if code is not None:
        return code in DAMAGE_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def is_no_room(exc: sqlite3.Error) -> bool:
    """Whether SQLite's error may come from a full disk (an I/O error or "database or disk is full")."""
    code = _primary_code(exc)
    if code is not None:
        return code in NO_ROOM_CODES
    return "disk" in str(exc)


@dataclass(frozen=True)
class FrameCrossings:
    """The crossings one frame of (camera, epoch) produced, not yet committed. A frame is the
    unit of a commit: a restarted file resumes after the last committed frame, which is exact
    only if no frame is ever half stored."""

    camera_id: str
    epoch: int
    crossings: Sequence[Crossing]


@dataclass
class StoredAssignment:
    camera: CameraConfig
    epoch: int
    start_frame: int | None
    count_from_frame: int | None
    count_from_ts: float | None = None
    role: Role = "primary"  # "standby": a shadow lease beside another worker's primary (see protocol)
    standby: Standby = "hot"  # a standby: the whole pipeline, or the stream and its recent frames
    buffer_s: float = 10.0  # a warm standby: seconds of frames it keeps

    @property
    def warm(self) -> bool:
        """A warm standby: it buffers frames and counts nothing until it is promoted."""
        return self.role == "standby" and self.standby == "warm"


class Outbox:
    """Count events from commit to ack, plus the persisted assignments. Not thread-safe by
    design: one thread (the service loop) owns it."""

    def __init__(self, path: str | os.PathLike[str], *, exclusive: bool = False) -> None:
        """Open (or create) the outbox. A file SQLite finds damaged raises `sqlite3.DatabaseError`
        (see `is_damage`; outbox_file.py keeps such a file aside); a newer schema raises OutboxError.

        ``exclusive``: hold the file locked until closed, which lets SQLite keep the WAL index in
        memory instead of the shared-memory file (``-shm``) it would otherwise have to make on the
        disk. For a start on a full disk only: meanwhile no other process can read the outbox."""
        self.path = Path(path)
        self.exclusive = exclusive
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        if self.exclusive:  # before the first WAL access, or SQLite has made its -shm already
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a count committed is a count kept, power cut included
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        row = self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if row is not None:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise OutboxError(f"outbox {self.path} was written by a newer campool-worker (schema {row[0]}); "
                                  "upgrade this worker")
        self._db.executescript(_SCHEMA)
        self._upgrade()
        if row is None or int(row[0]) < SCHEMA_VERSION:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE SET "
                             "value=excluded.value", (str(SCHEMA_VERSION),))
        self._last_seq: dict[tuple[str, int], int] = {}
        self._last_frame: dict[tuple[str, int], int] = {}
        for cam, ep, last, frame in self._db.execute("SELECT camera_id, epoch, last_seq, last_frame FROM seqs"):
            self._last_seq[(cam, ep)] = last
            self._last_frame[(cam, ep)] = frame
        self._span_seq: dict[SpanKey, int] = dict(
            ((cam, ep), last) for cam, ep, last in self._db.execute("SELECT camera_id, epoch, last_seq FROM span_seqs"))
        # The open span of each (camera, epoch) and its start: a tracker's update with that start
        # extends it. Spans left open by an earlier run are not here: close_open_spans ends them.
        self._open_spans: dict[SpanKey, tuple[int, float]] = {}

    def _upgrade(self) -> None:
        """Give a version-1 file the columns added since (its new tables CREATE made already)."""
        for table, columns in _ADDED_COLUMNS.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT (the connection runs in autocommit mode). Any SQLite error,
        in the body or at COMMIT, rolls back what is left of the transaction and becomes an
        OutboxWriteError. On a full disk SQLite may already have rolled back by itself, so the
        ROLLBACK is sent only while a transaction is open, and its own failure is not news."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxWriteError(f"cannot write the outbox {self.path}: {exc}", str(exc)) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ the file

    def files(self) -> list[Path]:
        """The files the outbox takes on disk: the database and its WAL (what grows)."""
        return [self.path, self.path.with_name(self.path.name + "-wal")]

    def quick_check(self) -> str | None:
        """SQLite's first complaint about the file's structure, or None when it is sound. Reads
        every page once (milliseconds for an outbox of an hour of counts)."""
        rows = self._db.execute("PRAGMA quick_check(5)").fetchall()
        problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
        return "; ".join(problems) if problems else None

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and cut the WAL to zero bytes: on a full disk this can
        give back up to `WAL_SIZE_LIMIT` before a retry. False when SQLite could not (it needs
        room in the database file for pages that are new there)."""
        try:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        return not busy

    # ------------------------------------------------------------------ events

    def commit(self, frames: Iterable[FrameCrossings], now: float | None = None,
               sent: bool = True) -> list[CountEvent]:
        """Store the crossings of these frames in one transaction, giving each its seq (in the
        order given). Returns the stored events. Raises OutboxWriteError when SQLite cannot
        store them: then nothing of them is stored and no seq is used up.
        ``sent``: the caller publishes them right after (if it dies first, the resend timer sees
        an old ``sent_at`` and sends them anyway)."""
        now = time.time() if now is None else now
        events: list[CountEvent] = []
        touched: dict[tuple[str, int], int] = {}
        last_frames: dict[tuple[str, int], int] = {}
        for frame in frames:
            key = (frame.camera_id, frame.epoch)
            for c in frame.crossings:
                seq = touched.get(key, self._last_seq.get(key, 0)) + 1
                touched[key] = seq
                # int()/float(): the tracker may hand numpy scalars, which SQLite cannot bind.
                frame_index = int(c.frame_index)
                last_frames[key] = max(last_frames.get(key, self._last_frame.get(key, -1)), frame_index)
                events.append(CountEvent(frame.camera_id, frame.epoch, seq, c.line, c.direction,
                                         c.class_name, int(c.track_id), float(c.ts), frame_index))
        if not events:
            return []
        with self._tx():
            self._db.executemany(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(e.camera_id, e.epoch, e.seq, e.line, e.direction, e.class_name, e.track_id, e.ts,
                  e.frame_index, now, now if sent else None) for e in events])
            self._db.executemany(
                "INSERT INTO seqs VALUES (?,?,?,?) ON CONFLICT(camera_id, epoch) DO UPDATE SET "
                "last_seq=excluded.last_seq, last_frame=excluded.last_frame",
                [(cam, ep, seq, last_frames[(cam, ep)]) for (cam, ep), seq in touched.items()])
        self._last_seq.update(touched)  # only after the commit: a failed commit reuses the seqs
        self._last_frame.update(last_frames)
        return events

    def mark_sent(self, events: list[CountEvent], now: float | None = None) -> None:
        now = time.time() if now is None else now
        ranges: dict[tuple[str, int], list[int]] = {}
        for e in events:
            r = ranges.setdefault((e.camera_id, e.epoch), [e.seq, e.seq])
            r[0], r[1] = min(r[0], e.seq), max(r[1], e.seq)
        with self._tx():
            self._db.executemany(
                "UPDATE events SET sent_at=? WHERE camera_id=? AND epoch=? AND seq BETWEEN ? AND ?",
                [(now, cam, ep, lo, hi) for (cam, ep), (lo, hi) in ranges.items()])

    def ack(self, camera_id: str, epoch: int, up_to_seq: int) -> int:
        """Delete what the master has stored. Returns how many events went."""
        with self._tx():
            cur = self._db.execute("DELETE FROM events WHERE camera_id=? AND epoch=? AND seq<=?",
                                   (camera_id, epoch, up_to_seq))
            # Seq counters of old epochs are kept only while their events are: nothing will use them again.
            self._db.execute(
                "DELETE FROM seqs WHERE camera_id=? AND epoch<? AND NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.camera_id=seqs.camera_id AND e.epoch=seqs.epoch)",
                (camera_id, epoch))
        return cur.rowcount

    def pending(self, *, camera_id: str | None = None, after: tuple[str, int, int] | None = None,
                sent_before: float | None = None, limit: int = 500) -> list[CountEvent]:
        """Unacked events in (camera, epoch, seq) order, a page at a time: ``after`` is the key of
        the last event of the previous page; ``sent_before`` keeps only events not published since."""
        rows = self._page("SELECT camera_id, epoch, seq, line, direction, class_name, track_id, ts, frame_index "
                          "FROM events", camera_id, after, sent_before, limit)
        return [CountEvent(*row) for row in rows]

    def _page(self, select: str, camera_id: str | None, after: tuple[str, int, int] | None,
              sent_before: float | None, limit: int) -> list[tuple[Any, ...]]:
        """One page of unacked rows of ``select`` (events or spans, keyed by camera, epoch and seq)."""
        sql = select
        where: list[str] = []
        args: list[str | int | float] = []
        if camera_id is not None:
            where.append("camera_id=?")
            args.append(camera_id)
        if after is not None:
            where.append("(camera_id, epoch, seq) > (?, ?, ?)")
            args.extend(after)
        if sent_before is not None:
            where.append("(sent_at IS NULL OR sent_at < ?)")
            args.append(sent_before)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY camera_id, epoch, seq LIMIT ?"
        args.append(limit)
        return list(self._db.execute(sql, args))

    def iter_pending(self, camera_id: str | None = None, page: int = 500) -> Iterator[list[CountEvent]]:
        after = None
        while True:
            batch = self.pending(camera_id=camera_id, after=after, limit=page)
            if not batch:
                return
            yield batch
            last = batch[-1]
            after = (last.camera_id, last.epoch, last.seq)

    def counts(self) -> tuple[int, float | None]:
        """(events pending, commit time of the oldest)."""
        n, oldest = self._db.execute("SELECT count(*), min(committed_at) FROM events").fetchone()
        return int(n), oldest

    def backlog(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT camera_id, count(*) FROM events GROUP BY camera_id").fetchall())

    def last_seq(self, camera_id: str, epoch: int) -> int:
        return self._last_seq.get((camera_id, epoch), 0)

    def last_frame(self, camera_id: str, epoch: int) -> int | None:
        """Frame index of the last committed event of (camera, epoch), None when none yet."""
        frame = self._last_frame.get((camera_id, epoch), -1)
        return None if frame < 0 else frame

    # ------------------------------------------------------------------ coverage spans

    def record_spans(self, updates: Iterable[tuple[str, int, SpanUpdate]], now: float | None = None,
                     sent: bool = True) -> list[CoverageSpan]:
        """Store what the cameras' trackers told, in one transaction: an update with the start of
        its (camera, epoch)'s open span extends (or closes) that span under its seq; any other gets
        the next seq (and ends a span still open there). Returns the spans as stored now, to send.
        Raises OutboxWriteError, and then nothing of it is stored and no seq used."""
        now = time.time() if now is None else now
        open_spans = dict(self._open_spans)
        seqs: dict[SpanKey, int] = {}
        rows: dict[tuple[str, int, int], CoverageSpan] = {}
        for camera_id, epoch, u in updates:
            key = (camera_id, epoch)
            current = open_spans.get(key)
            if current is not None and current[1] == u.start_ts:
                seq = current[0]
            else:
                if current is not None:  # ended without being told so: keep it as last stored
                    self._closed_row(camera_id, epoch, current[0], rows)
                seq = seqs.get(key, self._span_seq.get(key, 0)) + 1
                seqs[key] = seq
            rows[(camera_id, epoch, seq)] = CoverageSpan(camera_id, epoch, seq, float(u.start_ts), float(u.end_ts),
                                                         u.role, u.closed)
            if u.closed:
                open_spans.pop(key, None)
            else:
                open_spans[key] = (seq, u.start_ts)
        if not rows:
            return []
        with self._tx():
            self._db.executemany(
                "INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(camera_id, epoch, seq) DO UPDATE SET "
                "end_ts=max(end_ts, excluded.end_ts), closed=excluded.closed, sent_at=excluded.sent_at",
                [(sp.camera_id, sp.epoch, sp.seq, sp.start_ts, sp.end_ts, sp.role, int(sp.closed), now,
                  now if sent else None) for sp in rows.values()])
            self._db.executemany(
                "INSERT INTO span_seqs VALUES (?,?,?) ON CONFLICT(camera_id, epoch) DO UPDATE SET "
                "last_seq=excluded.last_seq", [(cam, ep, seq) for (cam, ep), seq in seqs.items()])
        self._span_seq.update(seqs)  # only after the commit: a failed one uses no seq
        self._open_spans = open_spans
        return list(rows.values())

    def _closed_row(self, camera_id: str, epoch: int, seq: int, rows: dict[tuple[str, int, int], CoverageSpan]) -> None:
        """The stored span (camera, epoch, seq), closed, into ``rows`` (unless it is there already)."""
        if (camera_id, epoch, seq) in rows:
            rows[(camera_id, epoch, seq)] = replace(rows[(camera_id, epoch, seq)], closed=True)
            return
        row = self._db.execute("SELECT start_ts, end_ts, role FROM spans WHERE camera_id=? AND epoch=? AND seq=?",
                               (camera_id, epoch, seq)).fetchone()
        if row is not None:
            rows[(camera_id, epoch, seq)] = CoverageSpan(camera_id, epoch, seq, row[0], row[1], row[2], True)

    def close_open_spans(self) -> list[CoverageSpan]:
        """Close every span an earlier run left open (a SIGKILL, a power cut): its end is its last
        commit. Returns them, closed, to send. Raises OutboxWriteError (tried again later)."""
        rows = self._db.execute("SELECT camera_id, epoch, seq, start_ts, end_ts, role FROM spans WHERE closed=0 "
                                "ORDER BY camera_id, epoch, seq").fetchall()
        mine = {(cam, ep, seq) for (cam, ep), (seq, _) in self._open_spans.items()}
        stale = [CoverageSpan(cam, ep, seq, start, end, role, True) for cam, ep, seq, start, end, role in rows
                 if (cam, ep, seq) not in mine]
        if not stale:
            return []
        with self._tx():
            self._db.executemany("UPDATE spans SET closed=1, sent_at=NULL WHERE camera_id=? AND epoch=? AND seq=?",
                                 [(sp.camera_id, sp.epoch, sp.seq) for sp in stale])
        return stale

    def pending_spans(self, *, camera_id: str | None = None, after: tuple[str, int, int] | None = None,
                      sent_before: float | None = None, limit: int = 500) -> list[CoverageSpan]:
        """Spans the master has not acked for good (closed and acked are gone), by (camera, epoch,
        seq), a page at a time (``after``: the key of the previous page's last); ``sent_before``
        keeps only those not sent since."""
        rows = self._page("SELECT camera_id, epoch, seq, start_ts, end_ts, role, closed FROM spans",
                          camera_id, after, sent_before, limit)
        return [CoverageSpan(cam, ep, seq, start, end, role, bool(closed))
                for cam, ep, seq, start, end, role, closed in rows]

    def mark_spans_sent(self, spans: list[CoverageSpan], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._tx():
            self._db.executemany("UPDATE spans SET sent_at=? WHERE camera_id=? AND epoch=? AND seq=?",
                                 [(now, sp.camera_id, sp.epoch, sp.seq) for sp in spans])

    def ack_spans(self, camera_id: str, epoch: int, up_to_seq: int) -> int:
        """Delete the closed spans of (camera, epoch) the master has stored (seq <= up_to_seq); an
        open one stays, it will grow. Returns how many went."""
        with self._tx():
            cur = self._db.execute("DELETE FROM spans WHERE camera_id=? AND epoch=? AND seq<=? AND closed=1",
                                   (camera_id, epoch, up_to_seq))
            self._db.execute(
                "DELETE FROM span_seqs WHERE camera_id=? AND epoch<? AND NOT EXISTS "
                "(SELECT 1 FROM spans s WHERE s.camera_id=span_seqs.camera_id AND s.epoch=span_seqs.epoch)",
                (camera_id, epoch))
        return cur.rowcount

    def span_backlog(self) -> int:
        """Spans not acked for good (open ones included)."""
        return int(self._db.execute("SELECT count(*) FROM spans").fetchone()[0])

    # ------------------------------------------------------------------ assignments

    def save_assignment(self, a: StoredAssignment) -> None:
        with self._tx():
            self._db.execute(
                "INSERT INTO assignments (camera_id, epoch, config, start_frame, count_from_frame, count_from_ts, "
                "assigned_at, role, standby, buffer_s) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(camera_id) DO UPDATE SET "
                "epoch=excluded.epoch, config=excluded.config, start_frame=excluded.start_frame, "
                "count_from_frame=excluded.count_from_frame, count_from_ts=excluded.count_from_ts, "
                "assigned_at=excluded.assigned_at, role=excluded.role, standby=excluded.standby, "
                "buffer_s=excluded.buffer_s",
                (a.camera.camera_id, a.epoch, json.dumps(a.camera.to_dict()), a.start_frame, a.count_from_frame,
                 a.count_from_ts, time.time(), a.role, a.standby, a.buffer_s))

    def delete_assignment(self, camera_id: str) -> None:
        with self._tx():
            self._db.execute("DELETE FROM assignments WHERE camera_id=?", (camera_id,))

    def assignments(self) -> list[StoredAssignment]:
        out = []
        for cam_id, epoch, config, start, count_from, from_ts, role, standby, buffer_s in self._db.execute(
                "SELECT camera_id, epoch, config, start_frame, count_from_frame, count_from_ts, role, standby, "
                "buffer_s FROM assignments ORDER BY camera_id"):
            try:
                if role not in ("primary", "standby") or standby not in ("hot", "warm"):
                    raise ValueError(f"role {role!r} / standby {standby!r}")
                out.append(StoredAssignment(CameraConfig.from_dict(json.loads(config)), epoch, start, count_from,
                                            from_ts, role, standby, float(buffer_s)))
            except (ValueError, TypeError) as exc:
                log.error("stored assignment of camera %s (epoch %s) cannot be read (%s); dropping it", cam_id,
                          epoch, exc)
        return out

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Only a change is written: a worker that starts on a full disk does not fail on what it
        already knows."""
        if self.get_meta(key) == value:
            return
        with self._tx():
            self._db.execute("INSERT INTO meta VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                             (key, value))

