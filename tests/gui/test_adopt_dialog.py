"""Adopting a worker found on the LAN (real zeroconf on 127.0.0.1, a real worker, its real pairing code)."""
from __future__ import annotations

import pytest
from PySide6.QtTest import QTest

from campool_gui.demo import DemoWorkers
from campool_gui.ui.adopt_dialog import group_fingerprint, normalise_code
from tests.gui.conftest import start_master


@pytest.fixture
def lan(tmp_path):
    """A master browsing 127.0.0.1 and one worker announcing itself there, not adopted."""
    master = start_master(tmp_path / "master", zeroconf=True, zeroconf_interfaces=["127.0.0.1"])
    workers = DemoWorkers(tmp_path / "workers", count=1, zeroconf=True)
    try:
        workers.start()
        yield master, workers, workers.workers[0]
    finally:
        master.stop()
        workers.stop()


@pytest.fixture
def workers_view(qtbot, lan):
    from campool_gui.ui.bridge import PoolBridge
    from campool_gui.ui.workers_view import WorkersView
    master, _workers, _w = lan
    bridge = PoolBridge(master)
    view = WorkersView(bridge)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    yield view
    bridge.close()


def test_a_found_worker_is_adopted_with_its_pairing_code(qtbot, lan, workers_view):
    master, workers, w = lan
    view = workers_view
    qtbot.waitUntil(lambda: w.worker_id in view.cards, timeout=20000)
    card = view.cards[w.worker_id]
    assert not card.worker.adopted and card.adopt_button.isVisible()
    assert view.discovered_title.isVisible()

    dlg = view.open_adopt(w.worker_id)
    qtbot.waitExposed(dlg)
    # The operator compares this with the key `campool-worker pair` prints on the box.
    assert dlg.fingerprint_label.text() == group_fingerprint(w.info["key"])
    assert not dlg.adopt_button.isEnabled()  # nothing typed yet

    # A wrong code: refused by the worker, the dialog stays open with the reason.
    QTest.keyClicks(dlg.code_edit, "ABCD-EFGH")
    assert dlg.adopt_button.isEnabled()
    dlg.adopt_button.click()
    qtbot.waitUntil(lambda: dlg.error_label.isVisible(), timeout=20000)
    assert dlg.isVisible() and dlg.error_label.text()
    assert [x.state.value for x in master.snapshot().workers if x.worker_id == w.worker_id] == ["discovered"]

    # The real code (typed in lower case, as people do): adopted.
    code = workers.pairing_code(w)
    dlg.code_edit.clear()
    QTest.keyClicks(dlg.code_edit, code.lower())
    with qtbot.waitSignal(dlg.adopted, timeout=20000):
        dlg.adopt_button.click()
    assert not dlg.isVisible()
    qtbot.waitUntil(lambda: w.worker_id in view.cards and view.cards[w.worker_id].worker.adopted
                    and view.cards[w.worker_id].worker.state.value == "online", timeout=20000)
    assert not view.discovered_title.isVisible()


def test_pairing_codes_are_read_the_way_people_type_them():
    assert normalise_code(" abcd-efgh ") == "abcdefgh"
    assert group_fingerprint("rQ:8*c{2]aY0nP/x!Vw3$Lk9=eT5@hJ7^uB1&mZ4") == \
        "rQ:8* c{2]a Y0nP/ x!Vw3 $Lk9= eT5@h J7^uB 1&mZ4"
