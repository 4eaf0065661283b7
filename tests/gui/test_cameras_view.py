"""The camera library: add, edit, test the connection, edit lines, remove — against the real master."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from campool_gui.ui.camera_dialog import CameraDialog, probe_source
from campool_worker.camera import CountingLine

SYNTH = "synthetic://?w=320&h=240&fps=10&objects=2&seed=5"


def test_add_edit_and_remove_a_camera(qtbot, window, pool, bridge):
    window.show_view("cameras")
    view = window.pages["cameras"]
    dlg = view.add_camera()
    qtbot.waitExposed(dlg)
    dlg.name_edit.setText("Side door")
    assert dlg.id_edit.text() == "side-door"  # derived from the name
    dlg.source_edit.setText(SYNTH)
    dlg.site_edit.setText("east")
    dlg.priority_combo.setCurrentIndex(dlg.priority_combo.findData("high"))
    dlg.preset_combo.setCurrentIndex(dlg.preset_combo.findData("people"))
    dlg.preset_combo.activated.emit(dlg.preset_combo.currentIndex())
    dlg.fps_spin.setValue(4)
    assert dlg.detect_combo.currentData() == "adaptive" and dlg.budget_spin.value() == 10.0
    dlg.budget_spin.setValue(6)
    dlg.floor_spin.setValue(2)
    dlg.ok_button.click()
    qtbot.waitUntil(lambda: "side-door" in {c.camera_id for c in pool.snapshot().cameras}, timeout=10000)
    cfg = pool.camera("side-door").config
    assert (cfg.name, cfg.source, cfg.site, cfg.priority, cfg.classes, cfg.detect_fps, cfg.model) == \
        ("Side door", SYNTH, "east", "high", ["person"], 4.0, None)
    assert (cfg.detect, cfg.detect_budget, cfg.detect_floor) == ("adaptive", 6.0, 2.0)
    qtbot.waitUntil(lambda: view.model.row_of("side-door") >= 0, timeout=5000)

    # Edit: the id is fixed, the rest changes.
    view.select_ids(["side-door"])
    dlg = view.edit_selected()
    assert dlg.id_edit.isReadOnly() and dlg.name_edit.text() == "Side door"
    dlg.priority_combo.setCurrentIndex(dlg.priority_combo.findData("critical"))
    dlg.ok_button.click()
    qtbot.waitUntil(lambda: pool.camera("side-door").config.priority == "critical", timeout=10000)

    # Lines drawn in the editor go to the master (and from there to the worker).
    view.select_ids(["side-door"])
    assert view.edit_lines() is None  # no preview seen yet: a frame is fetched from the source first
    qtbot.waitUntil(lambda: view.editor is not None and view.editor.config.camera_id == "side-door", timeout=10000)
    ed = view.editor
    assert ed.scene.image_size == (320.0, 240.0)  # drawn on a real frame of that camera
    ed.scene.add_line((0, 120), (320, 120), "door")
    ed.save_button.click()
    drawn = [CountingLine("door", (0.0, 120.0), (320.0, 120.0))]
    qtbot.waitUntil(lambda: pool.camera("side-door").config.lines == drawn, timeout=10000)

    view.select_ids(["side-door"])
    view.remove_selected()
    view.remove_confirm.click()
    qtbot.waitUntil(lambda: "side-door" not in {c.camera_id for c in pool.snapshot().cameras}, timeout=10000)
    qtbot.waitUntil(lambda: view.model.row_of("side-door") == -1, timeout=5000)


def test_a_bad_definition_is_explained_and_not_sent(qtbot, window, pool):
    view = window.pages["cameras"]
    dlg = view.add_camera()
    dlg.name_edit.setText("Gate (synthetic)")
    dlg.id_edit.setText("synthetic-gate")  # already exists
    dlg.source_edit.setText(SYNTH)
    dlg.ok_button.click()
    assert dlg.isVisible() and "already exists" in dlg.error_label.text()
    dlg.id_edit.setText("fresh-one")
    dlg.source_edit.setText("")
    dlg.ok_button.click()
    assert dlg.isVisible() and "source is empty" in dlg.error_label.text()
    dlg.reject()


def test_test_connection_shows_a_frame_or_a_clear_error(qtbot, tmp_path):
    dlg = CameraDialog(None)
    qtbot.addWidget(dlg)
    dlg.source_edit.setText(SYNTH)
    with qtbot.waitSignal(dlg.tester.finished, timeout=10000) as sig:
        dlg.test_connection()
    assert sig.args[0].ok and (sig.args[0].width, sig.args[0].height) == (320, 240)
    assert not dlg.preview.pixmap().isNull()
    assert "320x240" in dlg.test_status.text()
    assert dlg.snapshot is not None  # kept for the line editor

    missing = tmp_path / "nope.mp4"
    dlg.source_edit.setText(str(missing))
    with qtbot.waitSignal(dlg.tester.finished, timeout=10000) as sig:
        dlg.test_connection()
    assert not sig.args[0].ok
    assert str(missing) in dlg.test_status.text() or "not found" in dlg.test_status.text().lower()
    assert "\n" not in dlg.test_status.text()


def test_probe_of_the_shared_video(highway_video):
    r = probe_source(str(highway_video))
    assert r.ok and (r.width, r.height) == (1280, 720)


def test_the_sample_camera_list_imports(tmp_path):
    from campool_gui.ui.camera_import import load_cameras_file
    sample = Path(__file__).resolve().parents[2] / "resources" / "samples" / "cameras.json"
    cams = load_cameras_file(sample)
    assert [c.camera_id for c in cams] == ["gate-north", "highway-overpass", "plaza", "lobby-usb"]
    hw = cams[1]
    # Relative paths are taken from the file's folder: here, the shared data beside the project.
    assert Path(hw.source).is_absolute() and hw.source.endswith("shared/data/videos/highway.mp4")
    assert cams[0].source.startswith("rtsp://") and cams[3].source == "usb:0"
    assert cams[2].zones[0].name == "square"


def test_a_broken_camera_list_names_the_bad_entry(tmp_path):
    import pytest

    from campool_gui.ui.camera_import import load_cameras_file
    from campool_worker.camera import ConfigError
    bad = tmp_path / "cams.json"
    bad.write_text('[{"camera_id": "a", "source": "x.mp4"}, '
                   '{"camera_id": "b", "source": "y.mp4", "priority": "urgent"}]')
    with pytest.raises(ConfigError, match=r"camera #2: .*priority 'urgent'"):
        load_cameras_file(bad)
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_cameras_file(bad)


def test_import_adds_only_new_cameras(qtbot, window, pool, tmp_path):
    import json
    f = tmp_path / "more.json"
    f.write_text(json.dumps([{"camera_id": "synthetic-gate", "source": SYNTH},
                             {"camera_id": "imported-one", "name": "Imported", "source": SYNTH}]))
    view = window.pages["cameras"]
    with qtbot.waitSignal(view.message, timeout=2000) as sig:
        assert view.import_cameras(str(f)) == 1
    assert "1 already in the library" in sig.args[0]
    qtbot.waitUntil(lambda: "imported-one" in {c.camera_id for c in pool.snapshot().cameras}, timeout=10000)
    pool.master.remove_camera("imported-one")


def test_a_custom_model_with_its_labels_file_is_described_and_kept_on_edit(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    labels = tmp_path / "parts.txt"
    labels.write_text("bolt\nnut\n\nwasher\n")
    dlg = CameraDialog(None)
    qtbot.addWidget(dlg)
    dlg.name_edit.setText("Belt")
    dlg.source_edit.setText(SYNTH)
    dlg.model_combo.setCurrentText(str(tmp_path / "parts.onnx"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(labels), ""))
    dlg.labels_browse.click()
    assert dlg.labels_edit.text() == "bolt,nut,washer"
    dlg.classes_edit.setText("nut")
    cfg = dlg.build_config()
    assert (cfg.model, cfg.labels, cfg.classes) == (str(tmp_path / "parts.onnx"), ["bolt", "nut", "washer"], ["nut"])

    again = CameraDialog(cfg)
    qtbot.addWidget(again)
    assert again.build_config() == cfg

    labels.write_text("")
    dlg.labels_browse.click()
    assert dlg.error_label.isVisibleTo(dlg) and "empty" in dlg.error_label.text()


def test_the_standby_setting_is_chosen_in_the_dialog_and_kept_on_edit(qtbot):
    dlg = CameraDialog(None)
    qtbot.addWidget(dlg)
    dlg.name_edit.setText("Gate")
    dlg.source_edit.setText("rtsp://10.0.0.5/stream1")
    assert dlg.build_config().standby is None          # auto: hot when the camera is critical
    dlg.standby_combo.setCurrentIndex(dlg.standby_combo.findData("warm"))
    cfg = dlg.build_config()
    assert cfg.standby == "warm"
    again = CameraDialog(cfg)
    qtbot.addWidget(again)
    assert again.standby_combo.currentData() == "warm" and again.build_config() == cfg


def test_the_camera_table_says_where_a_standby_is():
    from campool_gui.pool.views import CameraView, StandbyView
    from campool_gui.ui.camera_model import COLUMNS, CameraTableModel
    from campool_worker.camera import CameraConfig

    cam = CameraView(camera_id="gate", config=CameraConfig("gate", "rtsp://10.0.0.5/s", priority="critical"),
                     pin=None, pin_return=True, worker_id="w1", epoch=3, state="running", reason="", status=None,
                     counts={}, fenced=0, errors={}, target_fps=None, preview=False,
                     standby=StandbyView("gate", "w2", "hot", "running"), standby_mode="hot")
    waiting = CameraView(camera_id="yard", config=CameraConfig("yard", "rtsp://10.0.0.6/s", standby="warm"),
                         pin=None, pin_return=True, worker_id="w1", epoch=1, state="running", reason="",
                         status=None, counts={}, fenced=0, errors={}, target_fps=None, preview=False,
                         standby=StandbyView("yard", None, "warm", "waiting", "a warm standby needs a second "
                                             "online worker"), standby_mode="warm")
    model = CameraTableModel()
    model.set_cameras([cam, waiting], {"w1": "box-1", "w2": "box-2"})
    col = COLUMNS.index("Standby")
    assert model.index(0, col).data() == "hot · box-2"
    assert model.index(1, col).data() == "warm · waiting"
    assert "second online worker" in model.index(1, col).data(Qt.ItemDataRole.ToolTipRole)
