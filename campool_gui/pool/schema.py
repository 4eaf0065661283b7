"""The master's SQLite schema, as numbered migrations (the one source of truth for tables).

`migrate(db)` brings a file of any older version to `LATEST`, one step at a time, each step
in its own transaction, recording the version in `PRAGMA user_version`. Never edit a
released step: add the next one.

Index design (the chart queries must answer in well under 100 ms over 30 days):
- count_events is WITHOUT ROWID with primary key (camera_id, epoch, seq): the idempotency
  key is the table's clustering key, so INSERT OR IGNORE costs one B-tree probe;
- counts_minute / counts_hour are WITHOUT ROWID keyed (camera_id, bucket, line,
  direction, class_name): a chart of one camera over a range is one contiguous range scan
  (30 days of hours is ~720 buckets x lines x directions x classes, a few thousand rows);
- the rollups are maintained by a trigger on count_events that fires only for rows really
  inserted (a duplicate ignored by INSERT OR IGNORE never fires it) and not fenced, so a
  resent event can never be counted twice in a chart.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import sqlite_utils

log = logging.getLogger(__name__)


def _v1(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("workers").create({
        "worker_id": str, "name": str, "host": str, "cmd_port": int, "pub_port": int, "pair_port": int,
        "public_key": str, "site": str, "groups": str, "draining": int, "adopted_at": float, "updated_at": float,
    }, pk="worker_id", not_null={"public_key"})
    db.table("cameras").create({
        "camera_id": str, "name": str, "source": str, "config": str, "pin": str, "pin_return": int,
        "target_fps": float, "created_at": float, "updated_at": float,
    }, pk="camera_id", not_null={"config"})
    # lines and zones of each camera, queryable on their own (history labels, exports)
    db.table("camera_shapes").create({
        "camera_id": str, "name": str, "kind": str, "points": str,
    }, pk=("camera_id", "name"), foreign_keys=[("camera_id", "cameras", "camera_id")])
    db.execute("""
        CREATE TABLE assignments (
            camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, worker_id TEXT NOT NULL, reason TEXT,
            started_at REAL NOT NULL, ended_at REAL, start_frame INTEGER, count_from_frame INTEGER,
            cut_frame INTEGER, cut_ts REAL,
            PRIMARY KEY (camera_id, epoch)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX assignments_worker ON assignments(worker_id, started_at)")
    db.execute("""
        CREATE TABLE count_events (
            camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
            line TEXT NOT NULL, direction TEXT NOT NULL, class_name TEXT NOT NULL, track_id INTEGER,
            ts REAL NOT NULL, frame_index INTEGER, worker_id TEXT, fenced INTEGER NOT NULL DEFAULT 0,
            received_at REAL,
            PRIMARY KEY (camera_id, epoch, seq)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX count_events_ts ON count_events(camera_id, ts)")
    for table, col in (("counts_minute", "minute"), ("counts_hour", "hour")):
        db.execute(f"""
            CREATE TABLE {table} (
                camera_id TEXT NOT NULL, {col} INTEGER NOT NULL, line TEXT NOT NULL,
                direction TEXT NOT NULL, class_name TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (camera_id, {col}, line, direction, class_name)
            ) WITHOUT ROWID""")
        db.execute(f"CREATE INDEX {table}_time ON {table}({col})")
    db.execute("""
        CREATE TRIGGER count_events_rollup AFTER INSERT ON count_events WHEN NEW.fenced = 0
        BEGIN
            INSERT INTO counts_minute VALUES (NEW.camera_id, CAST(NEW.ts / 60 AS INTEGER), NEW.line,
                NEW.direction, NEW.class_name, 1)
                ON CONFLICT (camera_id, minute, line, direction, class_name) DO UPDATE SET n = n + 1;
            INSERT INTO counts_hour VALUES (NEW.camera_id, CAST(NEW.ts / 3600 AS INTEGER), NEW.line,
                NEW.direction, NEW.class_name, 1)
                ON CONFLICT (camera_id, hour, line, direction, class_name) DO UPDATE SET n = n + 1;
        END""")
    db.execute("""
        CREATE TABLE worker_metrics (
            worker_id TEXT NOT NULL, minute INTEGER NOT NULL, samples INTEGER NOT NULL,
            cpu REAL, mem REAL, gpu REAL, gpu_temp REAL, disk REAL, backlog INTEGER, fps REAL,
            PRIMARY KEY (worker_id, minute)
        ) WITHOUT ROWID""")
    db.table("alerts").create({
        "id": int, "kind": str, "subject": str, "severity": str, "message": str, "state": str,
        "raised_at": float, "last_seen": float, "count": int, "value": float, "acked_at": float,
        "resolved_at": float,
    }, pk="id")
    db.table("alerts").create_index(["state", "raised_at"])


def _v2(db: sqlite_utils.Database) -> None:
    """Zone occupancy history (peak per minute), reported by the workers' heartbeats."""
    db.execute("""
        CREATE TABLE zone_minute (
            camera_id TEXT NOT NULL, minute INTEGER NOT NULL, zone TEXT NOT NULL, peak INTEGER NOT NULL,
            PRIMARY KEY (camera_id, minute, zone)
        ) WITHOUT ROWID""")


def _v3(db: sqlite_utils.Database) -> None:
    """Coverage (issue #12): the spans of time each (camera, epoch) was watched, as the workers tell
    them, and the cut from which a promoted standby's epoch counts.

    A span is kept as it arrived (worker clock) with the clock offset the master estimated then, and
    its master-time bounds (``start_wall`` / ``end_wall``) for the range scans of the history charts:
    spans last at most about a minute, so (camera_id, end_wall) >= start finds those of a range.
    ``closed`` 0: still growing (updated in place under its seq until it is closed)."""
    db.execute("""
        CREATE TABLE coverage_spans (
            camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
            start_ts REAL NOT NULL, end_ts REAL NOT NULL, role TEXT NOT NULL, closed INTEGER NOT NULL,
            worker_id TEXT, clock_offset REAL NOT NULL DEFAULT 0, start_wall REAL NOT NULL, end_wall REAL NOT NULL,
            received_at REAL,
            PRIMARY KEY (camera_id, epoch, seq)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX coverage_spans_end ON coverage_spans(camera_id, end_wall)")
    db.execute("CREATE INDEX coverage_spans_start ON coverage_spans(camera_id, start_wall)")
    # A standby epoch counts from its promotion's cut (count_from_ts: the standby's clock); a
    # standby never promoted has no row and its spans never count.
    db.execute("""
        CREATE TABLE promotions (
            camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, count_from_ts REAL NOT NULL, promoted_at REAL,
            PRIMARY KEY (camera_id, epoch)
        ) WITHOUT ROWID""")


def _v4(db: sqlite_utils.Database) -> None:
    """Live standby (issue #12): a lease's role. A standby's epoch is issued (and kept, so no lease
    reuses it) before it is current; a promotion makes it the primary (its cut is in promotions)."""
    db.execute("ALTER TABLE assignments ADD COLUMN role TEXT NOT NULL DEFAULT 'primary'")


def _v5(db: sqlite_utils.Database) -> None:
    """Jobs over recorded files (issue #13): a job (its spec and the files' media facts as JSON), its
    segments with their state, and each segment's crossings, stored once with the segment's result
    (the segment row turns "done" in the same transaction, so a result that arrives twice, from a
    lost reply or a master restarted mid-job, is counted once)."""
    db.execute("""
        CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, media TEXT NOT NULL,
            priority TEXT NOT NULL, state TEXT NOT NULL, seq INTEGER NOT NULL, submitted_at REAL NOT NULL,
            finished_at REAL
        )""")
    db.execute("""
        CREATE TABLE job_segments (
            job_id TEXT NOT NULL, idx INTEGER NOT NULL, file_idx INTEGER NOT NULL, start_frame INTEGER NOT NULL,
            end_frame INTEGER NOT NULL, warmup INTEGER NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL,
            worker_id TEXT, tries TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '',
            frames INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0, ended_at INTEGER,
            retried INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, idx)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE job_crossings (
            job_id TEXT NOT NULL, idx INTEGER NOT NULL, n INTEGER NOT NULL, frame_index INTEGER NOT NULL,
            media_ts REAL NOT NULL, line TEXT NOT NULL, direction TEXT NOT NULL, class_name TEXT NOT NULL,
            PRIMARY KEY (job_id, idx, n)
        ) WITHOUT ROWID""")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
LATEST = len(MIGRATIONS)


class MigrationFailed(RuntimeError):
    """A step could not be applied; the file was left at its old version, unchanged. Not a sign of a
    damaged file (history_file.py moves those aside): an upgrade must never set the history aside."""


def version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database, target: int | None = None) -> int:
    """Apply the missing steps up to `target` (all of them by default); return the version the file is at."""
    latest = len(MIGRATIONS)  # read now, not at import: the upgrade tests add the next release's step
    target = latest if target is None else target
    current = version(db)
    if current > latest:
        raise RuntimeError(f"the history database is version {current}, newer than this program knows "
                           f"({latest}); upgrade campool-gui or point it at another data folder")
    conn = db.conn
    for step in range(current, target):
        log.info("history database: migrating to version %d", step + 1)
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](db)
            conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            raise MigrationFailed(f"cannot upgrade the history database from version {step} to {step + 1} "
                                  f"({exc}); it is unchanged, at version {step}: start the previous campool-gui "
                                  "on it, or report this") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version(db)
