"""Installing a newer version keeps what the last one stored: the master's history database of a
release (tests/data/master-history-v*.sql, made by that release's Store) opens in today's Master,
is migrated to today's schema and to the next release's, and keeps its workers, cameras, counts,
leases, alerts and id; a migration that fails leaves the file as it was (never set aside as damaged)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from campool_gui.pool import schema
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.store import Retention, StoreError
from campool_worker.camera import LineCounts
from tests.helpers import history_fixture as fx

DUMPS = fx.release_dumps()
# The release files' times are fixed (2023): keep them, whatever today's date; retention is another test's job.
KEEP_ALL = Retention(events_days=36500, minute_days=36500, hour_days=36500, metrics_days=36500, alerts_days=36500)


def _open_master(data_dir: Path) -> Master:
    m = Master(MasterSettings(data_dir=data_dir, zeroconf=False, retention=KEEP_ALL))
    m.start()   # links to the stored worker's address (10.0.0.5, unreachable here): nothing waits on it
    return m


def _release_history(dump: Path, tmp_path: Path) -> Path:
    data_dir = tmp_path / "master"
    data_dir.mkdir()
    fx.restore_dump(dump, data_dir / "history.db")
    return data_dir


def _file_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return schema.version(sqlite_utils.Database(conn))
    finally:
        conn.close()


def _assert_the_release_data_is_there(m: Master) -> None:
    snap = m.snapshot()
    [w] = snap.workers
    assert (w.worker_id, w.name, w.adopted, w.public_key) == (fx.WORKER, "gate-box", True, fx.WORKER_KEY)
    assert w.address == "10.0.0.5"
    [cam] = snap.cameras
    assert cam.camera_id == fx.CAMERA and cam.pin == fx.WORKER and cam.target_fps == 10.0
    assert [ln.name for ln in cam.config.lines] == ["L"] and [z.name for z in cam.config.zones] == ["yard"]
    assert cam.counts == {"L": LineCounts(3, 2, {"car": {"in": 3, "out": 2}})}
    assert cam.epoch == 2   # the fencing epoch goes on from the stored leases: no interval counted twice
    assert [(a.id, a.kind) for a in snap.alerts] == [(3, "worker_down")]
    rows = m.history(fx.T0, fx.T0 + 3600, "minute", camera_id=fx.CAMERA)
    assert sum(r["count"] for r in rows) == fx.EVENTS   # the rollups were not counted twice on restore
    assert [r["count"] for r in m.store.zone_series(fx.CAMERA, fx.T0, fx.T0 + 3600)] == [fx.ZONE_PEAK]
    assert m.master_id == fx.MASTER_ID


@pytest.fixture(params=DUMPS, ids=[d.stem for d in DUMPS])
def dump(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_the_release_files_are_what_their_names_say_and_none_is_from_the_future() -> None:
    # A release that changes the schema adds its own file (tests/helpers/history_fixture.py says how);
    # until then the newest file is older than today's schema, and its migration runs in these tests.
    assert DUMPS, "tests/data/master-history-v*.sql is missing"
    for dump in DUMPS:
        first = dump.read_text().splitlines()[0]
        assert first == f"PRAGMA user_version = {dump.stem.rsplit('v', 1)[1]};", dump.name
        assert int(dump.stem.rsplit("v", 1)[1]) <= schema.LATEST


def test_a_release_history_opens_in_todays_master_with_its_data(dump: Path, tmp_path: Path) -> None:
    data_dir = _release_history(dump, tmp_path)
    m = _open_master(data_dir)
    try:
        _assert_the_release_data_is_there(m)
    finally:
        m.stop()
    assert _file_version(data_dir / "history.db") == schema.LATEST
    assert not list(data_dir.glob("history.db.damaged*"))


def test_the_next_releases_migration_runs_on_open_and_keeps_the_data(dump: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The next release adds a step (here: a column and a table, as real steps do); opening today's
    file with it migrates it once, in place, and every stored thing is still there."""
    def next_step(db: sqlite_utils.Database) -> None:
        db.execute("ALTER TABLE cameras ADD COLUMN notes TEXT")
        db.execute("CREATE TABLE camera_notes (camera_id TEXT PRIMARY KEY, text TEXT)")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, next_step])
    data_dir = _release_history(dump, tmp_path)
    m = _open_master(data_dir)
    try:
        _assert_the_release_data_is_there(m)
    finally:
        m.stop()
    path = data_dir / "history.db"
    assert _file_version(path) == schema.LATEST + 1
    conn = sqlite3.connect(path)
    try:
        assert "notes" in [r[1] for r in conn.execute("PRAGMA table_info(cameras)")]
    finally:
        conn.close()
    m = _open_master(data_dir)   # and opening it again does not run the step twice
    try:
        _assert_the_release_data_is_there(m)
    finally:
        m.stop()


def test_a_failing_migration_keeps_the_file_as_it_was_and_says_so(dump: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An SQLite error in an upgrade step (here a column that exists) is not damage: the history is not
    set aside for a fresh one, the master does not start, and the line says what happened."""
    def broken_step(db: sqlite_utils.Database) -> None:
        db.execute("ALTER TABLE cameras ADD COLUMN name TEXT")   # duplicate column: sqlite3.OperationalError

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken_step])
    data_dir = _release_history(dump, tmp_path)
    with pytest.raises(StoreError, match=rf"cannot upgrade the history database from version {schema.LATEST} "):
        _open_master(data_dir)
    assert not list(data_dir.glob("history.db.damaged*"))
    assert _file_version(data_dir / "history.db") == schema.LATEST
    monkeypatch.undo()
    m = _open_master(data_dir)   # the release it came from still opens it, data and all
    try:
        _assert_the_release_data_is_there(m)
    finally:
        m.stop()
