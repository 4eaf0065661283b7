"""The bridge: pool events become Qt signals on the UI thread; intents never block it."""
from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from campool_gui.pool.views import pool_totals


def test_state_arrives_on_the_ui_thread_and_matches_the_master(qtbot, bridge, pool):
    seen = []
    bridge.stateChanged.connect(lambda: seen.append((QThread.currentThread(), threading.get_ident())))
    bridge.refresh_now()
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen[0][0] is QThread.currentThread() and seen[0][1] == threading.main_thread().ident
    snap = pool.snapshot()
    assert set(bridge.state.workers) == {w.worker_id for w in snap.workers}
    assert set(bridge.state.cameras) == {c.camera_id for c in snap.cameras}
    for c in snap.cameras:
        ui = bridge.state.cameras[c.camera_id]
        assert (ui.worker_id, ui.pin, ui.config) == (c.worker_id, c.pin, c.config)
    t = pool_totals(bridge.state.workers.values(), bridge.state.cameras.values())
    assert (t.workers_total, t.workers_online) == (2, 2)


def test_an_intent_runs_off_the_ui_thread_and_reports_back(qtbot, bridge):
    where = []
    results = []
    fut = bridge.call("a probe", lambda: where.append(threading.get_ident()) or 42, on_done=results.append,
                      on_result=results.append)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    assert results == [None, 42]
    assert where[0] != threading.main_thread().ident
    assert fut.result(1) == 42


def test_a_failing_intent_is_one_line_for_the_operator(qtbot, bridge):
    errors = []
    with qtbot.waitSignal(bridge.intentFailed, timeout=10000) as sig:
        bridge.adopt("no-such-worker", "ABCD1234", errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0] == sig.args[0]
    assert "no-such-worker" in errors[0] and "\n" not in errors[0]
