"""The master's history store on real SQLite files: idempotency, rollups, acks, migrations."""
from __future__ import annotations

import io
import sqlite3
import threading

import pytest
import sqlite_utils

from campool_gui.pool import schema
from campool_gui.pool.actions import StandbyPromoted
from campool_gui.pool.alerts import Alert
from campool_gui.pool.clock import FakeClock
from campool_gui.pool.core import (
    AlertSaved,
    CameraSaved,
    LeaseEnded,
    LeaseStarted,
    PoolCore,
    WorkerSaved,
)
from campool_gui.pool.fencing import Verdict
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.models import Assignment, Camera, Cut, Worker, WorkerMetrics
from campool_gui.pool.store import Retention, Store, StoreError
from campool_worker.camera import CameraConfig, CountEvent, CountingLine, LineCounts, Zone

T0 = 1_699_999_200.0          # a whole hour (multiple of 3600)
A = Verdict.ACCEPT


def ev(seq: int, ts: float, *, cam: str = "gate", epoch: int = 1, line: str = "L", direction: str = "in",
       cls: str = "car", frame: int | None = None) -> CountEvent:
    return CountEvent(cam, epoch, seq, line, direction, cls, seq, ts, seq if frame is None else frame)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "history.db")
    yield s
    s.close()


def test_wal_mode_and_a_single_writer_thread(store):
    names = []
    store.submit(lambda c: names.append(threading.current_thread().name)).result(5)
    assert names == ["campool-store-writer"]
    assert store._reader().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_events_are_stored_once_however_often_they_arrive(store):
    batch = [ev(i, T0 + i) for i in range(1, 6)]
    first = store.add_events(batch, [A] * 5, "w1").result(5)
    again = store.add_events(batch, [A] * 5, "w1").result(5)
    assert first.inserted == [True] * 5 and again.inserted == [False] * 5
    rows = store.counts_series(T0, T0 + 3600, "hour")
    assert rows == [{"bucket_ts": T0, "camera_id": "gate", "line": "L", "direction": "in", "class_name": "car",
                     "count": 5}]
    assert len(store.stored_events("gate")) == 5


def test_fenced_events_are_kept_for_audit_but_never_counted(store):
    store.add_events([ev(1, T0), ev(2, T0 + 1)], [A, Verdict.FENCED]).result(5)
    assert sum(r["count"] for r in store.counts_series(T0, T0 + 60, "minute")) == 1
    assert len(store.stored_events("gate", include_fenced=True)) == 2
    assert len(store.stored_events("gate")) == 1


def test_acks_cover_only_a_gapless_prefix_of_sequence_numbers(store):
    r = store.add_events([ev(1, T0), ev(2, T0), ev(4, T0)], [A] * 3).result(5)
    assert r.acks == {("gate", 1): 2}
    r = store.add_events([ev(3, T0)], [A]).result(5)
    assert r.acks == {("gate", 1): 4}
    r = store.add_events([ev(1, T0, epoch=2)], [A]).result(5)
    assert r.acks == {("gate", 2): 1}


def test_ack_high_water_mark_survives_a_reopen(tmp_path):
    s = Store(tmp_path / "h.db")
    s.add_events([ev(i, T0) for i in (1, 2, 3)], [A] * 3).result(5)
    s.close()
    s = Store(tmp_path / "h.db")
    try:
        assert s.add_events([ev(5, T0)], [A]).result(5).acks == {("gate", 1): 3}
        assert s.add_events([ev(4, T0)], [A]).result(5).acks == {("gate", 1): 5}
    finally:
        s.close()


def test_minute_hour_and_day_buckets_by_line_and_class(store):
    events = [ev(1, T0 + 10), ev(2, T0 + 70, cls="truck"), ev(3, T0 + 3700, direction="out"),
              ev(4, T0 + 86400 + 5, line="M")]
    store.add_events(events, [A] * 4).result(5)
    minutes = store.counts_series(T0, T0 + 120, "minute")
    assert [(r["bucket_ts"] - T0, r["class_name"], r["count"]) for r in minutes] == [(0, "car", 1), (60, "truck", 1)]
    hours = store.counts_series(T0, T0 + 7200, "hour", by_class=False)
    assert [(r["bucket_ts"] - T0, r["direction"], r["class_name"], r["count"]) for r in hours] == [
        (0, "in", "all", 2), (3600, "out", "all", 1)]
    days = store.counts_series(T0, T0 + 2 * 86400, "day", by_class=False, tz_offset_s=0)
    assert {(r["line"], r["direction"], r["count"]) for r in days} == {("L", "in", 2), ("L", "out", 1), ("M", "in", 1)}
    only_m = store.counts_series(T0, T0 + 2 * 86400, "day", line="M", tz_offset_s=0)
    assert [r["count"] for r in only_m] == [1]
    assert store.counts_series(T0, T0 + 60, "minute", camera_id="other") == []


def test_day_buckets_start_at_local_midnight(store):
    store.add_events([ev(1, T0 + 3600 * 5)], [A]).result(5)      # 05:00 UTC
    [row] = store.counts_series(T0, T0 + 86400, "day", tz_offset_s=-8 * 3600)
    # 05:00 UTC is 21:00 the previous day at UTC-8: the bucket starts at that day's local midnight
    assert (row["bucket_ts"] - 8 * 3600) % 86400 == 0
    assert row["bucket_ts"] <= T0 + 3600 * 5 < row["bucket_ts"] + 86400


def test_csv_export_by_line_and_period(store):
    store.save_records([CameraSaved(Camera(CameraConfig("gate", "/v.mp4", name="Main gate")))]).result(5)
    store.add_events([ev(1, T0 + 1), ev(2, T0 + 2), ev(3, T0 + 3, direction="out")], [A] * 3).result(5)
    out = io.StringIO()
    n = store.export_csv(out, T0, T0 + 3600, "hour")
    lines = out.getvalue().strip().splitlines()
    assert n == 2 and lines[0].startswith("period_start,bucket,camera_id,camera_name,line,direction,class,count")
    assert lines[1].endswith(",hour,gate,Main gate,L,in,all,2") and lines[2].endswith(",out,all,1")


def test_pool_records_round_trip_into_a_restarted_core(store):
    cfg = CameraConfig("gate", "/v.mp4", lines=[CountingLine.parse("L:0,0,10,10")],
                       zones=[Zone.parse("yard:0,0,5,0,5,5")])
    w = Worker("w1", "box-1", address="127.0.0.1", cmd_port=1, pub_port=2, pair_port=3, public_key="K" * 40,
               adopted=True)
    a1 = Assignment("gate", "w1", 1, since=0, started_wall=T0)
    a2 = Assignment("gate", "w2", 2, since=0, start_frame=40, count_from_frame=100, started_wall=T0 + 5)
    alert = Alert(7, "worker_down", "w2", "critical", "worker w2 is down", raised_at=T0, last_seen=T0)
    store.save_records([WorkerSaved(w), CameraSaved(Camera(cfg, pin="w1", target_fps=12.5)),
                        LeaseStarted(a1, "new"), LeaseEnded("gate", 1, T0 + 5, Cut("gate", 1, frame=100)),
                        LeaseStarted(a2, "failover"), AlertSaved(alert)]).result(5)
    store.add_events([ev(1, T0, frame=90)], [A]).result(5)
    state = store.load_state()
    assert state["epochs"] == {"gate": 2}
    leases = [(a.camera_id, a.worker_id, a.epoch, a.count_from_frame) for a in state["leases"]]
    assert leases == [("gate", "w2", 2, 100)]
    assert state["cuts"] == [Cut("gate", 1, frame=100, wall=T0 + 5)]  # the lease's end is the cut's wall time
    assert state["cameras"][0].config == cfg and state["cameras"][0].pin == "w1"
    assert state["cameras"][0].target_fps == 12.5
    assert state["workers"][0].public_key == "K" * 40 and state["workers"][0].pair_port == 3
    assert state["counts"] == {"gate": {"L": LineCounts(1, 0, {"car": {"in": 1, "out": 0}})}}
    assert [a.id for a in state["alerts"]] == [7]
    shapes = store._reader().execute("SELECT name, kind FROM camera_shapes ORDER BY name").fetchall()
    assert shapes == [("L", "line"), ("yard", "zone")]
    core = PoolCore(FakeClock())
    core.restore(**state)
    assert core.fence.epoch_of("gate") == 2
    assert core.fence.judge(ev(2, T0, frame=95)) is Verdict.ACCEPT      # epoch 1 before the cut
    assert core.fence.judge(ev(3, T0, frame=100)) is Verdict.FENCED      # epoch 1 after it


def test_standby_epochs_survive_a_restart_and_never_count_unless_promoted(store):
    cfg = CameraConfig("gate", "rtsp://cam/1", priority="critical")
    primary = Assignment("gate", "w1", 1, since=0, started_wall=T0)
    standby = Assignment("gate", "w2", 2, since=0, started_wall=T0, role="standby", mode="warm")
    store.save_records([CameraSaved(Camera(cfg)), LeaseStarted(primary, "new"),
                        LeaseStarted(standby, "warm standby")]).result(5)
    state = store.load_state()
    # the primary's epoch is current, the standby's is issued above it and restored as a standby
    assert state["epochs"] == {"gate": 1} and state["issued"] == {"gate": 2}
    assert [(a.worker_id, a.epoch) for a in state["leases"]] == [("w1", 1)]
    assert [(a.worker_id, a.epoch, a.role, a.mode) for a in state["standbys"]] == [("w2", 2, "standby", "warm")]
    core = PoolCore(FakeClock())
    core.restore(**state)
    assert core.fence.allocate("gate") == 3      # a new lease never reuses the standby's epoch
    assert core.judge([ev(1, T0, epoch=2)]) == [Verdict.HELD]   # a standby's events wait for the watermark

    # the standby is promoted with its cut at T0 + 10 (its clock); epoch 1 is cut there too
    store.save_records([LeaseEnded("gate", 1, T0 + 12, Cut("gate", 1, ts=T0 + 10, wall=T0 + 12)),
                        StandbyPromoted("gate", 2, T0 + 10, T0 + 12)]).result(5)
    state = store.load_state()
    assert state["epochs"] == {"gate": 2} and state["standbys"] == []
    assert [(a.worker_id, a.epoch) for a in state["leases"]] == [("w2", 2)]
    core = PoolCore(FakeClock())
    core.restore(**state)
    # after a restart its resent events from before the cut (the old primary counted them) are fenced
    assert core.judge([ev(1, T0 + 9, epoch=2), ev(2, T0 + 11, epoch=2)]) == [Verdict.FENCED, Verdict.ACCEPT]
    assert core.judge([ev(5, T0 + 11, epoch=1)]) == [Verdict.FENCED]


def test_an_ended_standby_epoch_is_fenced_after_a_restart(store):
    cfg = CameraConfig("gate", "rtsp://cam/1")
    store.save_records([CameraSaved(Camera(cfg)), LeaseStarted(Assignment("gate", "w1", 1, since=0), "new"),
                        LeaseStarted(Assignment("gate", "w2", 2, since=0, role="standby"), "hot standby"),
                        LeaseEnded("gate", 2, T0, Cut("gate", 2, wall=T0))]).result(5)
    core = PoolCore(FakeClock())
    core.restore(**store.load_state())
    assert core.state.standbys == {}
    assert core.judge([ev(1, T0, epoch=2), ev(1, T0, epoch=1)]) == [Verdict.FENCED, Verdict.ACCEPT]


def test_shadowed_events_are_kept_flagged_and_acked_but_never_counted(store):
    res = store.add_events([ev(1, T0), ev(2, T0 + 1)], [Verdict.SHADOWED, A]).result(5)
    assert res.acks == {("gate", 1): 2}
    assert sum(r["count"] for r in store.counts_series(T0, T0 + 60, "minute")) == 1


def test_a_failing_write_fails_alone_in_its_batch(store):
    ok1 = store.submit(lambda c: c.execute("INSERT INTO meta VALUES ('a', '1')"))
    bad = store.submit(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)"))
    ok2 = store.submit(lambda c: c.execute("INSERT INTO meta VALUES ('b', '2')"))
    ok1.result(5), ok2.result(5)
    with pytest.raises(sqlite3.OperationalError):
        bad.result(5)
    assert {k: store.meta(k) for k in ("a", "b")} == {"a": "1", "b": "2"}


def test_a_meta_key_is_read_and_written_and_the_first_value_can_be_kept(store):
    assert store.meta("master_id") is None
    store.set_meta("master_id", "m-first", keep_existing=True).result(5)
    store.set_meta("master_id", "m-second", keep_existing=True).result(5)
    assert store.meta("master_id") == "m-first"
    store.set_meta("master_id", "m-replaced").result(5)
    assert store.meta("master_id") == "m-replaced"


def test_a_master_keeps_its_id_across_restarts(tmp_path):
    settings = MasterSettings(data_dir=tmp_path / "master", zeroconf=False)
    first = Master(settings)
    first.stop()
    second = Master(settings)
    second.stop()
    assert first.master_id == second.master_id and len(first.master_id) == 12


def test_writes_are_batched(store):
    futs = [store.add_metrics("w1", WorkerMetrics(T0 + i, cpu_pct=float(i))) for i in range(200)]
    for f in futs:
        f.result(10)
    assert store.stats["batches"] < store.stats["jobs"]
    rows = store.worker_metrics("w1", T0, T0 + 300)
    assert sum(r["samples"] for r in rows) == 200
    assert (rows[0]["samples"], rows[0]["cpu"]) == (60, pytest.approx(29.5))   # the mean of 0..59


def test_retention_deletes_old_history_only(tmp_path):
    s = Store(tmp_path / "h.db", retention=Retention(events_days=1, minute_days=2, hour_days=30))
    try:
        now = T0 + 10 * 86400
        s.add_events([ev(1, T0), ev(2, now - 3600)], [A, A]).result(5)
        deleted = s.apply_retention(now).result(5)
        assert deleted["count_events"] == 1 and deleted["counts_minute"] == 1 and deleted["counts_hour"] == 0
        assert [e.seq for e in s.stored_events("gate")] == [2]
        assert sum(r["count"] for r in s.counts_series(T0, now, "hour")) == 2
    finally:
        s.close()


def test_an_old_file_is_migrated_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    assert schema.migrate(db, target=1) == 1
    conn.execute("INSERT INTO count_events VALUES ('gate',1,1,'L','in','car',1,?,1,'w1',0,0)", (T0,))
    conn.close()
    s = Store(path)
    try:
        assert schema.version(sqlite_utils.Database(s._reader())) == schema.LATEST
        assert sum(r["count"] for r in s.counts_series(T0, T0 + 60, "minute")) == 1
        s.add_zone_peaks("gate", T0, {"yard": 4}).result(5)
        s.add_zone_peaks("gate", T0 + 5, {"yard": 2}).result(5)
        assert [r["count"] for r in s.zone_series("gate", T0, T0 + 60)] == [4]
    finally:
        s.close()


def test_a_file_from_a_newer_version_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.LATEST + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store(path)


def test_a_failed_migration_step_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "half.db"
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(sqlite_utils.Database(conn), target=1)
    conn.close()

    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(schema, "MIGRATIONS", [schema.MIGRATIONS[0], broken])
    with pytest.raises(StoreError, match="disk on fire"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "half_done" not in [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    conn.close()
