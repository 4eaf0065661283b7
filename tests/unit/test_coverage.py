"""Coverage-aware history: spans stored idempotently and acked by their closed prefix, what counts
as watched (cuts, fencing, standby promotion, clock offsets), per-bucket coverage and gaps, the
migration from the schema before it, and the coverage_low alert. Real SQLite files, exact figures."""
from __future__ import annotations

import csv
import sqlite3

import pytest
import sqlite_utils

from campool_gui.history_csv import write_csv
from campool_gui.pool import coverage as cov
from campool_gui.pool import schema
from campool_gui.pool.actions import CameraSaved, LeaseEnded, LeaseStarted, StandbyPromoted
from campool_gui.pool.alerts import AlertManager
from campool_gui.pool.clock import FakeClock
from campool_gui.pool.conditions import Conditions
from campool_gui.pool.coverage_watch import CoverageWatch, watched_fractions
from campool_gui.pool.models import Assignment, Camera, Cut
from campool_gui.pool.state import PoolState
from campool_gui.pool.store import Store
from campool_gui.ui.history_query import HistoryRow
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine

T0 = 1_699_999_200.0          # a whole hour


def span(seq: int, start: float, end: float, *, cam: str = "gate", epoch: int = 1, role: str = "primary",
         closed: bool = True) -> p.CoverageSpan:
    return p.CoverageSpan(cam, epoch, seq, start, end, role, closed)  # type: ignore[arg-type]


def minute_spans(start: float, end: float, *, first_seq: int = 1, **kw) -> list[p.CoverageSpan]:
    """Spans of at most a minute from start to end, as a worker closes them (SPAN_MAX_S)."""
    out, seq, at = [], first_seq, start
    while at < end:
        nxt = min(at + 60.0, end)
        out.append(span(seq, at, nxt, **kw))
        seq, at = seq + 1, nxt
    return out


def lease(store: Store, epoch: int, worker: str, started: float, *, cam: str = "gate") -> None:
    store.save_records([LeaseStarted(Assignment(cam, worker, epoch, since=0.0, started_wall=started), "test")]).result()


def cut(store: Store, epoch: int, ts: float, wall: float, *, cam: str = "gate") -> None:
    store.save_records([LeaseEnded(cam, epoch, wall, Cut(cam, epoch, ts=ts, wall=wall))]).result()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "history.db")
    yield s
    s.close()


# ------------------------------------------------------------------ pure interval rules

def test_intervals_merge_and_leave_exact_gaps():
    merged = cov.merge([(10.0, 20.0), (0.0, 5.0), (20.0, 25.0), (3.0, 4.0)])
    assert merged == [(0.0, 5.0), (10.0, 25.0)]
    assert cov.overlap(merged, 2.0, 12.0) == 5.0
    assert cov.gaps(merged, 0.0, 30.0) == [(5.0, 10.0), (25.0, 30.0)]
    assert cov.intersect([(0.0, 10.0), (20.0, 30.0)], [(5.0, 25.0)]) == [(5.0, 10.0), (20.0, 25.0)]


def test_a_span_counts_only_before_its_epochs_cut_and_a_standby_only_after_its_promotion():
    base = {"camera_id": "c", "epoch": 1, "seq": 1, "start_ts": 100.0, "end_ts": 200.0, "clock_offset": 2.0}
    assert cov.StoredSpan(role="primary", **base).counted() == (98.0, 198.0)            # master time
    assert cov.StoredSpan(role="primary", cut_ts=150.0, **base).counted() == (98.0, 148.0)
    assert cov.StoredSpan(role="primary", cut_ts=90.0, **base).counted() is None        # all fenced
    assert cov.StoredSpan(role="primary", ended_wall=120.0, **base).counted() == (98.0, 120.0)
    assert cov.StoredSpan(role="standby", **base).counted() is None                     # shadowed
    assert cov.StoredSpan(role="standby", promoted_from_ts=170.0, **base).counted() == (168.0, 198.0)


# ------------------------------------------------------------------ storage and acks

def test_an_open_span_grows_in_place_and_is_acked_only_once_closed(store):
    assert store.add_spans([span(1, T0, T0 + 10, closed=False)], "w1").result().acks == {("gate", 1): 0}
    assert store.add_spans([span(1, T0, T0 + 20, closed=False)], "w1").result().acks == {("gate", 1): 0}
    assert store.add_spans([span(1, T0, T0 + 25)], "w1").result().acks == {("gate", 1): 1}
    # a stale resend of its open self changes nothing
    assert store.add_spans([span(1, T0, T0 + 20, closed=False)], "w1").result().acks == {("gate", 1): 1}
    rows = store.counted_spans("gate", T0, T0 + 3600)
    assert [(r.seq, r.start_ts, r.end_ts) for r in rows] == [(1, T0, T0 + 25)]
    # seq 3 before seq 2: the ack waits for the prefix
    assert store.add_spans([span(3, T0 + 60, T0 + 70)], "w1").result().acks == {("gate", 1): 1}
    assert store.add_spans([span(2, T0 + 25, T0 + 60)], "w1").result().acks == {("gate", 1): 3}


def test_the_span_ack_is_computed_again_from_the_file_after_a_restart(tmp_path):
    s = Store(tmp_path / "h.db")
    s.add_spans(minute_spans(T0, T0 + 300), "w1").result()
    s.close()
    s = Store(tmp_path / "h.db")
    try:
        assert s.add_spans([span(6, T0 + 300, T0 + 310, closed=False)], "w1").result().acks == {("gate", 1): 5}
    finally:
        s.close()


def test_a_handover_after_a_worker_died_leaves_exactly_the_outage_as_a_gap(store):
    # epoch 1 on w1 watched until it died at +1800; the master cut it at +1804 and the camera ran
    # on w2 (its clock 2 s ahead) from +1806.
    lease(store, 1, "w1", T0 - 600)
    store.add_spans(minute_spans(T0 - 600, T0 + 1800), "w1").result()
    cut(store, 1, T0 + 1804, T0 + 1804)
    lease(store, 2, "w2", T0 + 1804)
    store.add_spans(minute_spans(T0 + 1808, T0 + 3602, epoch=2), "w2", clock_offset=2.0).result()
    c = store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600)
    assert c.gaps == ((T0 + 1800, T0 + 1806),)
    (b,) = c.buckets
    assert (b.bucket_ts, b.watched_s, b.known_s) == (T0, 3594.0, 3600.0)
    assert b.fraction == pytest.approx(0.998333, abs=1e-6)
    minutes = store.coverage(T0 + 1740, T0 + 1920, "minute", "gate", now=T0 + 3600)
    assert [m.watched_s for m in minutes.buckets] == [60.0, 54.0, 60.0]
    assert store.gap_reasons("gate", c.gaps) == ["worker w1 lost before the takeover"]


def test_a_fenced_worker_that_kept_watching_is_not_watching_after_its_cut(store):
    # partitioned at +1800: the master cut it at +1804 (its events after that are fenced), the new
    # holder watched from +1810; the old worker's spans up to +2400 arrive later and count to +1804.
    lease(store, 1, "w1", T0 - 60)
    cut(store, 1, T0 + 1804, T0 + 1804)
    lease(store, 2, "w2", T0 + 1804)
    store.add_spans(minute_spans(T0 + 1810, T0 + 3600, epoch=2), "w2").result()
    store.add_spans(minute_spans(T0, T0 + 2400), "w1").result()
    c = store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600)
    assert c.gaps == ((T0 + 1804, T0 + 1810),)
    assert c.buckets[0].watched_s == 3594.0
    assert store.gap_reasons("gate", c.gaps) == ["fenced: worker w1 was cut off (its later watching does not count)"]


def test_a_standby_counts_only_from_its_promotion_cut(store):
    lease(store, 1, "w1", T0 - 60)
    store.add_spans(minute_spans(T0, T0 + 1800), "w1").result()
    lease(store, 2, "w2", T0 - 30)                                   # the standby's own epoch
    store.add_spans(minute_spans(T0, T0 + 3600, epoch=2, role="standby"), "w2").result()
    before = store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600)
    assert before.gaps == ((T0 + 1800, T0 + 3600),)                  # shadowed: not the camera's coverage
    # the primary died at +1800, its watermark was +1797: cut there, the standby counts from it
    cut(store, 1, T0 + 1797, T0 + 1803)
    store.save_records([StandbyPromoted("gate", 2, T0 + 1797, T0 + 1803)]).result()
    after = store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600)
    assert after.gaps == ()
    assert after.buckets[0].watched_s == 3600.0


def test_a_gap_under_a_lease_is_the_stream_down_and_one_without_a_lease_no_worker(store):
    lease(store, 1, "w1", T0 - 60)
    store.add_spans(minute_spans(T0, T0 + 600) + minute_spans(T0 + 900, T0 + 1200, first_seq=20), "w1").result()
    cut(store, 1, T0 + 1200, T0 + 1200)                              # the camera was stopped
    c = store.coverage(T0, T0 + 1800, "minute", "gate", now=T0 + 1800)
    assert c.gaps == ((T0 + 600, T0 + 900), (T0 + 1200, T0 + 1800))
    assert store.gap_reasons("gate", c.gaps) == ["stream down on w1", "no worker"]
    later = store.coverage(T0 + 1300, T0 + 1800, "minute", "gate", now=T0 + 1800)
    assert store.gap_reasons("gate", later.gaps) == ["no worker"]


def test_the_time_the_master_was_down_is_watched_when_the_spans_arrive_later(store):
    lease(store, 1, "w1", T0 - 60)
    store.add_spans(minute_spans(T0, T0 + 600), "w1").result()
    assert store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600).gaps == ((T0 + 600, T0 + 3600),)
    # the master was down from +600 to +3000; the worker's outbox delivers what it watched meanwhile
    store.add_spans(minute_spans(T0 + 600, T0 + 3600, first_seq=11), "w1").result()
    c = store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600)
    assert c.gaps == () and c.fraction == 1.0


def test_history_before_the_first_span_is_unknown_not_zero(store):
    lease(store, 1, "w1", T0 - 7200)
    store.add_spans(minute_spans(T0 + 1800, T0 + 3600), "w1").result()
    c = store.coverage(T0 - 3600, T0 + 3600, "hour", "gate", now=T0 + 3600)
    assert [b.fraction for b in c.buckets] == [None, 1.0]       # the first hour: no span data yet
    assert c.gaps == ()
    assert c.since == T0 + 1800
    none = store.coverage(T0, T0 + 3600, "hour", "other", now=T0 + 3600)
    assert none.since is None and none.fraction is None and none.buckets[0].fraction is None
    # the current bucket is known only up to now
    part = store.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 2700)
    assert (part.buckets[0].watched_s, part.buckets[0].known_s) == (900.0, 900.0)


def test_a_bucket_nobody_watched_is_a_gap_and_all_cameras_add_up_their_seconds(store):
    # three cameras: "old" has no span data (it does not lower the pool's coverage), "gone" was removed
    store.save_records([CameraSaved(Camera(CameraConfig(cid, f"rtsp://cam/{cid}"))) for cid in ("gate", "dock", "old")]
                       ).result()
    lease(store, 1, "w1", T0 - 60)
    lease(store, 1, "w1", T0 - 60, cam="dock")
    store.add_spans(minute_spans(T0 - 600, T0 - 500, cam="gone"), "w1").result()
    store.add_spans(minute_spans(T0, T0 + 60) + minute_spans(T0 + 120, T0 + 180, first_seq=2), "w1").result()
    store.add_spans(minute_spans(T0, T0 + 90, cam="dock"), "w1").result()
    c = store.coverage(T0, T0 + 180, "minute", "gate", now=T0 + 3600)
    assert [b.unwatched for b in c.buckets] == [False, True, False]
    both = store.coverage(T0, T0 + 180, "minute", None, now=T0 + 3600)
    assert [(b.watched_s, b.known_s) for b in both.buckets] == [(120.0, 120.0), (30.0, 120.0), (60.0, 120.0)]
    assert both.gaps == ((T0 + 90, T0 + 120),)                   # neither camera was watched


def test_the_csv_has_each_buckets_coverage_and_a_row_for_a_bucket_nobody_watched(store, tmp_path):
    lease(store, 1, "w1", T0 - 60)
    store.add_spans([span(1, T0 + 30, T0 + 60), span(2, T0 + 120, T0 + 180)], "w1").result()
    per = store.coverage_by_camera(T0, T0 + 180, "minute", ["gate", "old"], now=T0 + 3600)
    rows = [HistoryRow(T0, "gate", "mid", "in", "car", 4), HistoryRow(T0 + 120, "gate", "mid", "in", "car", 2),
            HistoryRow(T0, "old", "mid", "in", "car", 7)]
    out = tmp_path / "h.csv"
    assert write_csv(out, rows, per, "mid") == 4
    with open(out, newline="") as fh:
        got = [r[1:] for r in csv.reader(fh)]
    assert got == [["camera_id", "line_or_zone", "direction", "class", "count", "coverage"],
                   ["gate", "mid", "in", "car", "4", "1.0000"],      # watched since its first span (+30)
                   ["old", "mid", "in", "car", "7", ""],             # no span data: unknown, not 0
                   ["gate", "mid", "", "", "", "0.0000"],            # +60: nobody watched, not a zero count
                   ["gate", "mid", "in", "car", "2", "1.0000"]]


# ------------------------------------------------------------------ migration

def test_a_history_file_of_the_schema_before_coverage_is_migrated_and_keeps_its_counts(tmp_path):
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(sqlite_utils.Database(conn), target=2) == 2
    conn.execute("INSERT INTO assignments VALUES ('gate', 3, 'w1', 'test', ?, NULL, NULL, NULL, NULL, NULL)",
                 (T0 - 60,))
    conn.execute("INSERT INTO count_events VALUES ('gate', 3, 1, 'L', 'in', 'car', 1, ?, 1, 'w1', 0, ?)",
                 (T0 + 5, T0 + 5))
    conn.close()
    s = Store(path)
    try:
        assert schema.version(s._db) == schema.LATEST >= 3   # coverage is step 3; later steps follow
        assert [r["count"] for r in s.counts_series(T0, T0 + 3600, "hour")] == [1]
        assert s.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600).fraction is None   # unknown
        assert s.add_spans([span(1, T0 + 10, T0 + 70, epoch=3)], "w1").result().acks == {("gate", 3): 1}
        assert s.coverage(T0, T0 + 3600, "hour", "gate", now=T0 + 3600).buckets[0].watched_s == 60.0
    finally:
        s.close()


def test_retention_keeps_the_spans_of_a_running_epoch(tmp_path):
    s = Store(tmp_path / "h.db")
    try:
        old = T0 - 200 * 86400
        s.add_spans(minute_spans(old, old + 120, epoch=1) + minute_spans(old, old + 120, epoch=2), "w1").result()
        out = s.apply_retention(now=T0).result()
        assert out["coverage_spans"] == 2                            # epoch 1's; epoch 2 is still the newest
        assert {r.epoch for r in s.counted_spans("gate", old - 10, old + 200)} == {2}
    finally:
        s.close()


# ------------------------------------------------------------------ the coverage_low alert

def test_coverage_low_is_raised_below_the_threshold_and_resolved_when_watched_again(store):
    clock = FakeClock(start=1000.0, wall_start=T0 + 3600)
    alerts = AlertManager(clock)
    cond = Conditions(alerts, startup_grace_s=0.0)
    state = PoolState(started=clock.now())
    state.cameras["gate"] = Camera(CameraConfig("gate", "rtsp://cam/1", "Gate",
                                                lines=[CountingLine("L", (0, 0), (1, 1))]))
    state.cameras["new"] = Camera(CameraConfig("new", "rtsp://cam/2", "New"))
    lease(store, 1, "w1", T0 - 60)
    # watched for two hours but for 5 minutes (+1000 .. +1300)
    store.add_spans(minute_spans(T0, T0 + 1000) + minute_spans(T0 + 1300, T0 + 7300, first_seq=100), "w1").result()

    def judge() -> dict[str, float | None]:
        fractions = watched_fractions(store, ["gate", "new"], clock.wall())
        cond.coverage_seen(fractions)
        cond.evaluate(state, clock.now())
        return fractions

    fractions = judge()
    assert fractions["new"] is None                                  # no span data: never judged
    # the last hour but its newest 10 s (not known yet): 3290 s watched of 3590 s
    assert fractions["gate"] == pytest.approx(3290 / 3590)
    assert not alerts.open_alerts()                                  # held for_s (60 s) first
    clock.advance(61.0)
    judge()
    (alert,) = alerts.open_alerts()
    assert (alert.kind, alert.subject) == ("coverage_low", "gate")
    assert alert.message.startswith("camera Gate: watched 91.6 % of the last hour")
    # once the gap has left the last hour, the camera is covered again: cleared, resolved after 60 s
    clock.advance(1300.0)
    assert judge()["gate"] == 1.0
    clock.advance(61.0)
    judge()
    assert not alerts.open_alerts()
    assert alerts.alerts[alert.id].state == "resolved"


def test_the_coverage_watch_reads_off_the_pool_thread_once_a_period_and_not_right_after_the_start(store):
    clock = FakeClock(start=1000.0, wall_start=T0 + 3600)
    lease(store, 1, "w1", T0 - 60)
    store.add_spans(minute_spans(T0, T0 + 1800), "w1").result()
    posted: list = []
    seen: list[dict[str, float | None]] = []
    watch = CoverageWatch(store, clock, cameras=lambda: ["gate"], seen=seen.append, post=posted.append, every_s=60.0)
    try:
        watch.tick()
        assert not posted                                   # the first period after the start: not judged yet
        clock.advance(60.0)
        watch.tick()
        watch.tick()                                        # one read at a time, one per period
        watch.close()                                       # waits for the read
        for fn in posted:
            fn()                                            # the pool thread takes the answer
        assert seen == [{"gate": pytest.approx((1800 - 60) / 3590)}]
    finally:
        watch.close()
