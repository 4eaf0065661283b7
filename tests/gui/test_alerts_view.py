"""Alerts: a worker killed with SIGKILL raises a critical alert, notified once; acknowledge, resolve."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel

from campool_gui.demo import DemoSession
from campool_gui.ui.display import alert_source
from tests.gui.conftest import start_master


@pytest.fixture
def small_pool(tmp_path):
    master = start_master(tmp_path / "master", zeroconf=False)
    demo = DemoSession(master, base_dir=tmp_path / "workers", workers=1, zeroconf=False)
    try:
        demo.start([])
        yield master, demo
    finally:
        master.stop()
        demo.stop()


@pytest.fixture
def alert_window(qtbot, small_pool, tmp_path):
    from PySide6.QtCore import QSettings

    from campool_gui.ui.bridge import PoolBridge
    from campool_gui.ui.main_window import MainWindow
    master, _demo = small_pool
    bridge = PoolBridge(master)
    w = MainWindow(bridge, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), tray=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bridge.state.totals.workers_online == 1, timeout=20000)
    yield w, bridge
    w.close()
    bridge.close()


def select_first(view) -> None:
    # Through the selection model: QTableView.selectRow() follows the keyboard modifiers the
    # application believes are held, which a previous test's Ctrl+N may have left behind.
    sm = view.table.selectionModel()
    sm.select(view.proxy.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
              | QItemSelectionModel.SelectionFlag.Rows)


def test_a_dead_worker_raises_a_critical_alert_that_can_be_acked_and_resolved(qtbot, small_pool, alert_window):
    master, demo = small_pool
    window, bridge = alert_window
    window.show_view("alerts")
    view = window.pages["alerts"]
    assert view.stack.currentWidget() is view.empty  # all clear
    demo.workers.workers[0].proc.kill()  # SIGKILL: no goodbye
    with qtbot.waitSignal(bridge.alertRaised, timeout=20000, check_params_cb=lambda a: a.severity == "critical") as sig:
        pass
    alert = sig.args[0]
    assert alert.kind == "worker_down" and alert_source(alert, bridge.state.names).startswith("worker demo-1")
    qtbot.waitUntil(lambda: [a.id for a in window.critical_notified] == [alert.id], timeout=5000)
    assert "Critical alert" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: view.stack.currentWidget() is view.table and view.proxy.rowCount() >= 1, timeout=5000)
    assert window.nav_buttons["alerts"].text().strip().startswith("Alerts (")
    window.show_view("overview")
    assert window.pages["overview"].kpi["workers"].value.text() == "0 / 1"
    window.show_view("alerts")

    select_first(view)
    assert view.ack_button.isEnabled()
    view.ack_button.click()
    states = lambda: {a.id: a.state for a in master.snapshot().alerts}  # noqa: E731
    qtbot.waitUntil(lambda: states().get(alert.id) == "acknowledged", timeout=10000)
    qtbot.waitUntil(lambda: bridge.state.alerts[alert.id].state == "acknowledged", timeout=5000)
    select_first(view)
    view.resolve_button.click()
    qtbot.waitUntil(lambda: states().get(alert.id) == "resolved", timeout=10000)
    qtbot.waitUntil(lambda: view.proxy.rowCount() == 0, timeout=5000)  # "Active" hides resolved ones
    view.set_filter("all")
    assert view.proxy.rowCount() >= 1
