"""The master hears how a worker's storage is: an alert from the StorageStatus in its heartbeats
(failing: error, low: warning) with the worker's own words, resolved when it is ok again; the
worker view carries it; and a damaged outbox told by the worker is one alert, however often told."""
from __future__ import annotations

from campool_gui.pool.telemetry import TelemetryRouter
from campool_worker import protocol as p
from tests.helpers import wire
from tests.helpers.pool_sim import SimPool

FAILING = p.StorageStatus("failing", 0.0, 1234, "the outbox cannot be written (database or disk is full): 1234 "
                          "crossing(s) held in memory, not sent yet (room for 100000)")
LOW = p.StorageStatus("low", 0.2, 0, "only 0.2 MB free on /data (the outbox takes 1.1 MB); free space there")
OK = p.StorageStatus("ok", 2.5, 0, "")


def beat(pool: SimPool, storage: p.StorageStatus, seconds: int = 1) -> None:
    for _ in range(seconds):
        pool.clock.advance(1)
        pool.core.heartbeat("w1", wire.status("w1", clock=pool.clock.wall(), storage=storage))
        pool.core.tick()


def open_kinds(pool: SimPool) -> dict[str, object]:
    return {a.kind: a for a in pool.core.alerts.open_alerts() if a.subject == "w1"}


def test_failing_storage_is_an_error_alert_with_the_workers_words_until_it_is_ok_again():
    pool = SimPool()
    pool.add_worker("w1")
    beat(pool, OK, 3)
    assert "storage_failing" not in open_kinds(pool)
    beat(pool, FAILING)
    alert = open_kinds(pool)["storage_failing"]
    assert alert.severity == "error" and alert.value == 1234
    assert alert.message == f"worker w1: {FAILING.message}"
    (view,) = pool.core.snapshot().workers
    assert view.storage == FAILING
    beat(pool, OK, 5)
    assert pool.core.alerts.alerts[alert.id].open            # held for clear_for_s before resolving
    beat(pool, OK, 6)
    assert pool.core.alerts.alerts[alert.id].state == "resolved"
    assert pool.core.snapshot().workers[0].storage == OK


def test_low_storage_is_a_warning_and_an_offline_worker_shows_no_storage():
    pool = SimPool()
    pool.add_worker("w1")
    beat(pool, LOW)
    alert = open_kinds(pool)["storage_low"]
    assert alert.severity == "warning" and "0.2 MB free" in alert.message
    for _ in range(10):                                      # no more heartbeats: offline
        pool.clock.advance(1)
        pool.core.tick()
    (view,) = pool.core.snapshot().workers
    assert not view.online and view.storage is None
    pool.clock.advance(61)
    pool.core.tick()
    assert "storage_low" not in open_kinds(pool)


class _Links:
    def get(self, worker_id: str) -> object:
        return object()


def test_a_damaged_outbox_told_again_after_each_hello_is_one_alert():
    pool = SimPool()
    pool.add_worker("w1")
    router = TelemetryRouter(pool.core, None, _Links(), None, post=lambda fn: fn())  # type: ignore[arg-type]
    notice = p.AlertEvent("w1", "error", "outbox_damaged", "the outbox /d/worker.db is damaged (it is empty "
                          "(0 bytes)); it was kept as worker.db.damaged-20260101-120000", None, 1_700_000_000.0)
    for _ in range(3):                                       # the worker tells it to every master that says hello
        router.route("w1", p.Envelope(notice, ""))
    (alert,) = [a for a in pool.core.alerts.open_alerts() if a.kind == "outbox_damaged"]
    assert alert.subject == "w1" and alert.severity == "error" and alert.count == 1
    assert "worker.db.damaged-" in alert.message
    other = p.AlertEvent("w1", "warning", "storage_low", "low", None, 1_700_000_001.0)
    router.route("w1", p.Envelope(other, ""))                # the heartbeat's StorageStatus raises those
    assert not [a for a in pool.core.alerts.open_alerts() if a.kind == "storage_low"]
