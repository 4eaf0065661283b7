"""A worker's storage on its card and in its details: nothing while ok, a coloured line with what
is held in its memory while failing, its free space while low, and the worker's own words."""
from __future__ import annotations

from campool_gui.pool.models import WorkerMetrics, WorkerState
from campool_gui.pool.views import WorkerView
from campool_gui.ui import theme
from campool_gui.ui.worker_card import WorkerCard
from campool_gui.ui.worker_details import WorkerDetails
from campool_worker import protocol as p

FAILING = p.StorageStatus("failing", 0.0, 1234, "the outbox cannot be written (database or disk is full): 1234 "
                          "crossing(s) held in memory, not sent yet (room for 100000); free space on /data")


def view(storage: p.StorageStatus | None) -> WorkerView:
    return WorkerView(
        worker_id="w1", name="edge-1", address="10.0.0.7", state=WorkerState.ONLINE, capacity=4, gpu="", site="",
        cameras=(), metrics=WorkerMetrics(ts=0.0), history=(), last_seen=None, key_fingerprint="abcdefgh",
        public_key="abcdefgh" * 5, key_conflict="", overloaded=False, draining=False, version="0.1.0",
        last_error="", adopted=True, started_at=0.0, storage=storage)


def test_the_card_shows_failing_storage_and_hides_the_line_once_it_is_ok(qtbot):
    card = WorkerCard(view(p.StorageStatus("ok", 5000.0, 0, "")))
    qtbot.addWidget(card)
    card.show()
    assert not card.storage_label.isVisible()
    card.update_worker(view(FAILING))
    assert card.storage_label.isVisible()
    assert card.storage_label.text() == "Storage failing: 1,234 count(s) held in memory, not yet stored"
    assert card.storage_label.toolTip() == FAILING.message
    assert theme.current().crit in card.storage_label.styleSheet()
    card.update_worker(view(p.StorageStatus("low", 12.5, 0, "only 12.5 MB free on /data")))
    assert card.storage_label.text() == "Storage low: 12.5 MB free"
    assert theme.current().warn in card.storage_label.styleSheet()
    card.update_worker(view(p.StorageStatus("ok", 5000.0, 0, "")))
    assert not card.storage_label.isVisible()


def test_the_details_show_the_storage_line_with_the_workers_words(qtbot):
    details = WorkerDetails()
    qtbot.addWidget(details)
    details.show_worker(view(FAILING), {})
    text = details.summary()["Storage"]
    assert text.startswith("failing: 1,234 count(s) held in memory") and FAILING.message in text
    details.show_worker(view(p.StorageStatus("ok", 5000.0, 0, "")), {})
    assert details.summary()["Storage"] == "ok · 5,000.0 MB free"
    details.show_worker(view(None), {})                        # offline: not known
    assert details.summary()["Storage"] == "—"
