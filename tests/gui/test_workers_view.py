"""Worker cards with live charts, the details panel, drain."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from campool_gui.ui.display import worker_metric, worker_status
from campool_gui.ui.worker_card import WorkerCard


def test_cards_show_each_worker_and_their_charts_move(qtbot, window, pool, bridge):
    window.show_view("workers")
    view = window.pages["workers"]
    assert set(view.cards) == set(pool.worker_ids)
    card: WorkerCard = view.cards[pool.worker_ids[0]]
    snap_w = next(w for w in pool.snapshot().workers if w.worker_id == pool.worker_ids[0])
    assert card.name_label.text() == snap_w.name
    assert card.cap_label.text() == f"Cameras {len(snap_w.cameras)} / {snap_w.capacity}"
    # The CPU curve is fed from heartbeats: its points grow as telemetry arrives, in place.
    curve = card.sparks["cpu"].curve
    qtbot.waitUntil(lambda: curve.getData()[1] is not None and len(curve.getData()[1]) >= 2, timeout=15000)
    n0 = len(curve.getData()[1])
    qtbot.waitUntil(lambda: len(curve.getData()[1]) > n0, timeout=15000)
    assert card.sparks["cpu"].curve is curve  # the same PlotDataItem, never re-plotted
    last_cpu = worker_metric(bridge.state.workers[pool.worker_ids[0]], "cpu")
    assert card.values["cpu"].text() == f"{last_cpu:.0f}%"


def test_clicking_a_card_opens_its_details(qtbot, window, pool, bridge):
    window.show_view("workers")
    view = window.pages["workers"]
    wid = pool.worker_ids[1]
    card = view.cards[wid]
    QTest.mouseClick(card, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, card.rect().center())
    assert view.details.isVisible() and view.selected == wid
    info = view.details.summary()
    w = bridge.state.workers[wid]
    assert info["Status"] == worker_status(w) and w.online and info["Address"] == "127.0.0.1"
    assert info["Cameras"] == f"{len(w.cameras)} / {w.capacity}"
    assert info["Uptime"] != "—"
    assert view.details.camera_list.count() == len(w.cameras)
    qtbot.waitUntil(lambda: "online" in view.details.log.toPlainText(), timeout=5000)
    view.details.closeRequested.emit()
    assert not view.details.isVisible()


def test_drain_moves_the_cameras_off_a_worker(qtbot, window, pool, bridge):
    window.show_view("workers")
    view = window.pages["workers"]
    wid = pool.worker_ids[1]
    view.select(wid)
    qtbot.waitUntil(lambda: view.details.drain_button.isEnabled(), timeout=15000)
    try:
        view.details.drain_button.click()
        qtbot.waitUntil(lambda: worker_status(bridge.state.workers[wid]) == "draining", timeout=10000)
        qtbot.waitUntil(lambda: not [c for c in pool.snapshot().cameras if c.worker_id == wid], timeout=20000)
        qtbot.waitUntil(lambda: view.cards[wid].cap_label.text().startswith("Cameras 0 /"), timeout=10000)
    finally:
        pool.master.drain(wid, False)
        pool.master.pin_camera("synthetic-gate", pool.worker_ids[0])
    qtbot.waitUntil(lambda: worker_status(bridge.state.workers[wid]) in ("online", "busy", "degraded"), timeout=10000)
