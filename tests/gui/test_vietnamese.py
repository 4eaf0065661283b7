"""The control center runs in Vietnamese: every main view, walked widget by widget, has no English
text left (proper names, units and the pool's own data aside), and the walk does find one that is."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from campool_gui.harness.i18n_audit import leftovers
from campool_gui.ui import i18n
from campool_gui.ui.main_window import VIEWS, MainWindow
from tests.gui.conftest import open_main_window

TS = i18n.I18N_DIR / "campool_vi.ts"


def data_names(bridge) -> list[str]:
    """What the pool itself is called (names, ids, sources, sites): data, not our text."""
    st = bridge.state
    out = ["/tmp/campool-test"]
    for w in st.workers.values():
        out += [w.name, w.worker_id, w.address or "", w.gpu or "", w.version or ""]
    for c in st.cameras.values():
        out += [c.name, c.camera_id, c.config.source, c.config.site or "", c.error or ""]
        out += [ln.name for ln in c.config.lines] + [z.name for z in c.config.zones]
    out += [a.message for a in st.alerts.values() if a.kind == "stream_lost"]   # the stream's own error words
    return out


def walk_views(qtbot, window: MainWindow, bridge) -> list[str]:
    found = []
    for key, _name in VIEWS:
        window.show_view(key)
        qtbot.wait(50)
        for left in leftovers(window, TS, data_names(bridge)):
            found.append(f"{key}: {left.where}: {left.text!r} ({', '.join(left.words)})")
    return found


@pytest.fixture
def in_language(qapp):
    """Load a translation for the test (a language or a .qm file), English again after it."""
    def load(choice: str) -> None:
        assert i18n.install(qapp, choice).name() == "vi_VN" or choice == "en"
    yield load
    i18n.install(qapp, "en")


def test_every_main_view_is_in_vietnamese(qtbot, bridge, settings, in_language):
    in_language("vi")
    assert i18n.language() == "vi"
    window = open_main_window(qtbot, bridge, settings)
    assert window.nav_buttons["overview"].text().strip() == "Tổng quan"
    assert walk_views(qtbot, window, bridge) == []
    window.close()


def test_a_missing_translation_is_found_by_the_walk(qtbot, bridge, settings, qapp, tmp_path, monkeypatch):
    """The same walk over a translation with one text taken out names that text, and English all over."""
    lrelease = Path(sys.executable).parent / "pyside6-lrelease"
    if not lrelease.exists():
        pytest.skip("pyside6-lrelease is not installed beside this Python")
    tree = ET.parse(TS)
    for m in tree.getroot().iter("message"):
        if m.findtext("source") == "Load distribution":
            m.find("translation").text = ""
            m.find("translation").set("type", "unfinished")
    tree.write(tmp_path / "campool_vi.ts", encoding="utf-8")
    subprocess.run([str(lrelease), str(tmp_path / "campool_vi.ts"), "-qm", str(tmp_path / "campool_vi.qm")],
                   check=True, capture_output=True, timeout=60)
    monkeypatch.setattr(i18n, "I18N_DIR", tmp_path)
    try:
        i18n.install(qapp, "vi")
        window = open_main_window(qtbot, bridge, settings)
        found = walk_views(qtbot, window, bridge)
        window.close()
    finally:
        i18n.install(qapp, "en")
    assert [f for f in found if "Load distribution" in f], found
    assert all("Load distribution" in f for f in found), found
    english = open_main_window(qtbot, bridge, settings)
    assert len(walk_views(qtbot, english, bridge)) > 50, "in English, the walk finds English everywhere"
    english.close()


def test_the_dialogs_are_in_vietnamese(qtbot, bridge, in_language):
    """Add camera, lines and zones, adopt a worker, the ONVIF scan: no English left in them either."""
    from campool_gui.ui.adopt_dialog import AdoptDialog
    from campool_gui.ui.camera_dialog import CameraDialog
    from campool_gui.ui.line_editor_dialog import LineZoneEditor
    from campool_gui.ui.onvif_scan_dialog import OnvifScanDialog

    in_language("vi")
    cam = next(c for c in bridge.state.cameras.values() if c.config.lines)
    worker = next(iter(bridge.state.workers.values()))
    dialogs = [CameraDialog(None), CameraDialog(cam.config), LineZoneEditor(cam.config, None),
               AdoptDialog(worker, lambda *_a: None), OnvifScanDialog(lambda *_a: [])]
    found = []
    for dlg in dialogs:
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.waitExposed(dlg)
        found += [f"{type(dlg).__name__}: {x.where}: {x.text!r} ({', '.join(x.words)})"
                  for x in leftovers(dlg, TS, data_names(bridge))]
        dlg.close()
    assert found == []
