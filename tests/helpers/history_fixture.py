"""The master's history database as a release left it, for the upgrade tests.

``tests/data/master-history-v2.sql`` was written once by `write_release_dump` with campool 0.1.0
(schema version 2): a worker, a camera with a line and a zone, its leases, count events, zone
peaks, worker metrics, an alert and the master's id. It is a text dump (`iterdump`) so a review
sees what is in it. Never regenerate it: a release that changes the schema adds its own file
beside it, and the tests open every one of them with today's code.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = 1_699_999_200.0  # a whole hour

#: What the dump holds, as the tests check it after the upgrade.
CAMERA = "gate"
WORKER = "w-3f9a"
WORKER_KEY = "eF3qkHok#wJBy@W-^<dp@!5TNg{PQsKecy6:&!^p"  # a CURVE public key (Z85), as pinned at adoption
MASTER_ID = "m0a1b2c3d4e5"
EVENTS = 5                   # crossings of line "L" (3 in, 2 out) in epoch 2, all accepted
ZONE_PEAK = 4


def release_dumps() -> list[Path]:
    return sorted(DATA.glob("master-history-v*.sql"))


def restore_dump(dump: Path, path: Path) -> Path:
    """A database file at ``path`` made from ``dump`` (with its schema version)."""
    text = dump.read_text()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(text)
    finally:
        conn.close()
    return path


def write_release_dump(out: Path) -> None:  # pragma: no cover - run once per schema-changing release
    """Make the database with this release's Store and dump it."""
    import tempfile

    from campool_gui.pool.alerts import Alert
    from campool_gui.pool.core import AlertSaved, CameraSaved, LeaseEnded, LeaseStarted, WorkerSaved
    from campool_gui.pool.fencing import Verdict
    from campool_gui.pool.models import Assignment, Camera, Cut, Worker, WorkerMetrics
    from campool_gui.pool.schema import version
    from campool_gui.pool.store import Store
    from campool_worker.camera import CameraConfig, CountEvent, CountingLine, Zone

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        s = Store(path)
        cfg = CameraConfig(CAMERA, "rtsp://10.0.0.7/stream1", lines=[CountingLine.parse("L:0,100,320,100")],
                           zones=[Zone.parse("yard:0,0,160,0,160,90")])
        w = Worker(WORKER, "gate-box", address="10.0.0.5", cmd_port=7761, pub_port=7762, pair_port=7763,
                   public_key=WORKER_KEY, adopted=True)
        alert = Alert(3, "worker_down", WORKER, "critical", "worker gate-box is not reachable", raised_at=T0,
                      last_seen=T0 + 30)
        s.save_records([WorkerSaved(w), CameraSaved(Camera(cfg, pin=WORKER, target_fps=10.0)),
                        LeaseStarted(Assignment(CAMERA, WORKER, 1, since=0, started_wall=T0), "new"),
                        LeaseEnded(CAMERA, 1, T0 + 60, Cut(CAMERA, 1, frame=600)),
                        LeaseStarted(Assignment(CAMERA, WORKER, 2, since=0, start_frame=590,
                                                count_from_frame=600, started_wall=T0 + 60), "restart"),
                        AlertSaved(alert)]).result(10)
        dirs = ["in", "in", "out", "in", "out"]
        events = [CountEvent(CAMERA, 2, i + 1, "L", d, "car", 10 + i, T0 + 70 + i, 600 + 10 * i)
                  for i, d in enumerate(dirs)]
        s.add_events(events, [Verdict.ACCEPT] * len(events)).result(10)
        s.add_zone_peaks(CAMERA, T0 + 70, {"yard": ZONE_PEAK}).result(10)
        s.add_metrics(WORKER, WorkerMetrics(T0 + 70, cpu_pct=41.0, mem_pct=30.0)).result(10)
        s.set_meta("master_id", MASTER_ID).result(10)
        s.close()
        conn = sqlite3.connect(path)
        try:
            import sqlite_utils
            v = version(sqlite_utils.Database(conn))
            lines = [f"PRAGMA user_version = {v};", *conn.iterdump()]
        finally:
            conn.close()
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":  # python -m tests.helpers.history_fixture  (once, by a release that changes the schema)
    import sys

    write_release_dump(DATA / sys.argv[1] if len(sys.argv) > 1 else DATA / "master-history-v2.sql")
