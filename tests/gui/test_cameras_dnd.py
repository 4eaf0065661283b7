"""Dragging cameras onto workers or Auto, through the models' MIME round-trip (mimeData -> dropMimeData)."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent

from campool_gui.ui.dnd import CAMERAS_MIME, decode_cameras, encode_cameras

MOVE = Qt.DropAction.MoveAction
COPY = Qt.DropAction.CopyAction   # what a Ctrl-drag makes: set the standby's worker


def _target_row(targets, worker_id):
    return next(r for r in range(targets.rowCount()) if targets.target_at(r) == worker_id)


def test_multi_select_drag_onto_a_worker_pins_every_camera_there(qtbot, window, pool, bridge):
    view = window.pages["cameras"]
    window.show_view("cameras")
    ids = ["synthetic-dock", "synthetic-yard"]
    view.select_ids(ids)
    assert sorted(view.selected_ids()) == ids
    mime = view.proxy.mimeData(view.table.selectionModel().selectedIndexes())
    assert sorted(decode_cameras(mime)) == ids  # one entry per camera, not per cell
    target = pool.worker_ids[1]
    idx = view.targets.index(_target_row(view.targets, target))
    assert view.targets.canDropMimeData(mime, MOVE, -1, -1, idx)
    assert view.targets.dropMimeData(mime, MOVE, -1, -1, idx)
    # The master pins them and they end up running on that worker.
    qtbot.waitUntil(lambda: all(pool.camera(c).pin == target for c in ids), timeout=10000)
    qtbot.waitUntil(lambda: all(pool.camera(c).worker_id == target and pool.camera(c).state == "running"
                                for c in ids), timeout=30000)
    # ... and the table says so, once the pool's changes have reached the UI thread.
    qtbot.waitUntil(lambda: all(bridge.state.cameras[c].pin == target for c in ids), timeout=5000)
    name = bridge.state.workers[target].name
    qtbot.waitUntil(lambda: view.model.index(view.model.row_of("synthetic-dock"), 4).data() == name, timeout=5000)

    # Dropping them on Auto hands them back to the balancer.
    auto = view.targets.index(0)
    assert view.targets.dropMimeData(view.proxy.mimeData(view.table.selectionModel().selectedIndexes()),
                                     MOVE, -1, -1, auto)
    qtbot.waitUntil(lambda: all(pool.camera(c).pin is None for c in ids), timeout=10000)


def test_dropping_on_a_worker_card_pins_the_camera(qtbot, window, pool, bridge):
    window.show_view("workers")
    target = pool.worker_ids[1]
    card = window.pages["workers"].cards[target]
    mime = encode_cameras(["synthetic-gate"])  # kept alive: the event only points at it
    ev = QDropEvent(QPointF(20, 20), MOVE, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(card.camerasDropped, timeout=2000) as sig:
        card.dropEvent(ev)
    assert sig.args == [["synthetic-gate"], target]
    qtbot.waitUntil(lambda: pool.camera("synthetic-gate").pin == target, timeout=10000)
    # Put it back where the session's pool had it.
    pool.master.pin_camera("synthetic-gate", pool.worker_ids[0])


def test_foreign_or_malformed_drops_are_refused(qtbot, window, pool):
    view = window.pages["cameras"]
    idx = view.targets.index(1)
    bad = QMimeData()
    bad.setData(CAMERAS_MIME, b"{not json")
    text = QMimeData()
    text.setText("synthetic-gate")
    for mime in (bad, text):
        assert decode_cameras(mime) == []
        assert not view.targets.canDropMimeData(mime, MOVE, -1, -1, idx)
        assert not view.targets.dropMimeData(mime, MOVE, -1, -1, idx)
    # A drop between rows (no target item) is not a target either.
    good = encode_cameras(["synthetic-gate"])
    assert not view.targets.canDropMimeData(good, MOVE, 1, 0, view.targets.index(-1))


def test_a_drop_the_master_refuses_is_reported_in_one_line(qtbot, window, pool, bridge):
    view = window.pages["cameras"]
    idx = view.targets.index(_target_row(view.targets, pool.worker_ids[0]))
    with qtbot.waitSignal(bridge.intentFailed, timeout=10000) as sig:
        view.targets.dropMimeData(encode_cameras(["no-such-camera"]), MOVE, -1, -1, idx)
    assert "no-such-camera" in sig.args[0] and "\n" not in sig.args[0]


def test_a_ctrl_drop_onto_a_worker_sets_the_cameras_standby_worker_not_its_pin(qtbot, window, pool, bridge):
    view = window.pages["cameras"]
    window.show_view("cameras")
    view.select_ids(["synthetic-yard"])
    pin_before = pool.camera("synthetic-yard").pin
    # the other worker than its primary's (a standby never runs on its primary's worker)
    target = next(w for w in pool.worker_ids if w != pool.camera("synthetic-yard").worker_id)
    mime = view.proxy.mimeData(view.table.selectionModel().selectedIndexes())
    idx = view.targets.index(_target_row(view.targets, target))
    assert view.targets.canDropMimeData(mime, COPY, -1, -1, idx)
    assert view.targets.dropMimeData(mime, COPY, -1, -1, idx)
    qtbot.waitUntil(lambda: pool.camera("synthetic-yard").standby_pin == target, timeout=10000)
    assert pool.camera("synthetic-yard").pin == pin_before
    # a Ctrl-drop on Auto gives the standby back to the balancer
    auto = view.targets.index(0)
    assert view.targets.dropMimeData(view.proxy.mimeData(view.table.selectionModel().selectedIndexes()),
                                     COPY, -1, -1, auto)
    qtbot.waitUntil(lambda: pool.camera("synthetic-yard").standby_pin is None, timeout=10000)


def test_a_ctrl_drop_on_a_worker_card_asks_for_the_standby(qtbot, window, pool, bridge):
    window.show_view("workers")
    target = next(w for w in pool.worker_ids if w != pool.camera("synthetic-gate").worker_id)
    card = window.pages["workers"].cards[target]
    mime = encode_cameras(["synthetic-gate"])
    ev = QDropEvent(QPointF(20, 20), COPY, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(card.standbyDropped, timeout=2000) as sig:
        card.dropEvent(ev)
    assert sig.args == [["synthetic-gate"], target]
    qtbot.waitUntil(lambda: pool.camera("synthetic-gate").standby_pin == target, timeout=10000)
    pool.master.set_standby("synthetic-gate", None)
