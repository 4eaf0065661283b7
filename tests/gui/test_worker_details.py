"""The worker details panel lists every master the worker serves, this control center marked."""
from __future__ import annotations

import dataclasses
import time

from PySide6.QtCore import QLocale

from campool_gui.pool.views import MasterView
from campool_gui.ui import theme
from campool_gui.ui.worker_details import WorkerDetails


def test_the_details_of_a_real_worker_show_this_control_center(qtbot, window, pool, bridge):
    window.show_view("workers")
    view = window.pages["workers"]
    wid = pool.worker_ids[0]
    view.select(wid)
    fingerprint = pool.master.public_key[:8]
    qtbot.waitUntil(lambda: any(fingerprint in line for line in view.details.masters_shown()), timeout=15000)
    [line] = view.details.masters_shown()   # the demo pool adopted its workers with their pairing codes
    assert line.startswith(f"{pool.master.settings.name} · {fingerprint} · since ")
    assert line.endswith("(this control center)")


def test_another_master_is_listed_by_name_fingerprint_and_date_in_the_warning_colour(qtbot, pool, bridge):
    details = WorkerDetails()
    qtbot.addWidget(details)
    w = next(iter(bridge.state.workers.values()))
    adopted = time.mktime((2030, 5, 4, 12, 30, 0, 0, 0, -1))
    other = MasterView("O" * 40, "ops-room", adopted, this_master=False)
    before = QLocale()
    try:  # the date in the locale's own format (QLocale's short format)
        QLocale.setDefault(QLocale("vi_VN"))
        details.show_worker(dataclasses.replace(w, masters=(*w.masters, other)), {})
        assert details.masters_shown()[-1] == "ops-room · OOOOOOOO · since 4/5/30 12:30"
        QLocale.setDefault(QLocale("en_US"))
        details.show_worker(dataclasses.replace(w, masters=(*w.masters, other)), {})
    finally:
        QLocale.setDefault(before)
    lines = details.masters_shown()
    assert lines[-1] == "ops-room · OOOOOOOO · since 5/4/30 12:30\u202fPM"  # CLDR: a narrow space before PM
    item = details.master_list.item(len(lines) - 1)
    assert item.foreground().color().name() == theme.current().warn.lower()
    assert "O" * 40 in item.toolTip(), "the whole key, to compare with `campool-worker masters`"


def test_the_cameras_a_worker_stands_by_for_are_listed_after_those_it_runs(qtbot, pool, bridge):
    from campool_gui.pool.views import StandbyView

    details = WorkerDetails()
    qtbot.addWidget(details)
    w = next(iter(bridge.state.workers.values()))
    sb = StandbyView("gate-cam", w.worker_id, "warm", "running", epoch=7)
    details.show_worker(dataclasses.replace(w, standbys=(sb,)), {})
    texts = [details.camera_list.item(i).text() for i in range(details.camera_list.count())]
    assert texts[-1] == "gate-cam   warm standby · running" and len(texts) == len(w.cameras) + 1
    assert details.fields["Cameras"].text().endswith("standby for 1")
