"""The line & zone editor: what the operator draws becomes lines and zones in frame pixels."""
from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest

from campool_gui.ui import geometry
from campool_gui.ui.line_editor import LineItem
from campool_gui.ui.line_editor_dialog import LineZoneEditor
from campool_worker.camera import CameraConfig, CountingLine, Zone


def test_in_arrow_points_the_way_that_counts_in_for_the_contract_example():
    # contracts: line near:0,500,1280,500 — a car moving DOWN the image counts "in".
    assert geometry.in_normal((0, 500), (1280, 500)) == pytest.approx((0.0, 1.0))
    assert geometry.crossing_direction((0, 500), (1280, 500), (600, 480), (600, 520)) == "in"
    assert geometry.crossing_direction((0, 500), (1280, 500), (600, 520), (600, 480)) == "out"
    # Walking p1 -> p2 the left-hand side is above the line (smaller y).
    assert geometry.side_of((0, 500), (1280, 500), (10, 100)) == "left"


def test_arrow_is_perpendicular_to_the_line_and_starts_at_its_middle():
    p1, p2 = (100.0, 100.0), (400.0, 500.0)
    tail, tip, w1, w2 = geometry.arrow(p1, p2, 50)
    assert tail == pytest.approx((250.0, 300.0))
    vx, vy = tip[0] - tail[0], tip[1] - tail[1]
    assert math.hypot(vx, vy) == pytest.approx(50)
    assert vx * (p2[0] - p1[0]) + vy * (p2[1] - p1[1]) == pytest.approx(0, abs=1e-9)
    # The arrow tip lies on the side an object ends on when it counts "in".
    assert geometry.crossing_direction(p1, p2, tail, tip) is None  # tail is ON the line
    before = (tail[0] - vx, tail[1] - vy)
    assert geometry.crossing_direction(p1, p2, before, tip) == "in"
    # Wings are symmetric about the shaft.
    assert math.dist(w1, tip) == pytest.approx(math.dist(w2, tip))


def test_fit_letterboxes_and_distance_to_segment():
    assert geometry.fit(1280, 720, 640, 640) == pytest.approx((0.0, 140.0, 0.5))
    assert geometry.distance_to_segment((5, 5), (0, 0), (10, 0)) == pytest.approx(5)
    assert geometry.distance_to_segment((15, 0), (0, 0), (10, 0)) == pytest.approx(5)
    assert geometry.clamp((-5, 900), 1280, 720) == (0.0, 720.0)


def _frame(w=1280, h=720) -> QImage:
    img = QImage(w, h, QImage.Format.Format_RGB888)
    img.fill(QColor("#304050"))
    return img


@pytest.fixture
def editor(qtbot):
    cfg = CameraConfig("gate-2", "synthetic://", name="Gate 2",
                       lines=[CountingLine("near", (0, 500), (1280, 500))],
                       zones=[Zone("queue", ((100, 100), (300, 100), (300, 300)))])
    ed = LineZoneEditor(cfg, _frame())
    qtbot.addWidget(ed)
    ed.resize(1000, 600)
    ed.show()
    qtbot.waitExposed(ed)
    return ed


def test_existing_lines_and_zones_load_unchanged(editor):
    lines, zones = editor.elements()
    assert lines == [CountingLine("near", (0.0, 500.0), (1280.0, 500.0))]
    assert zones == [Zone("queue", ((100.0, 100.0), (300.0, 100.0), (300.0, 300.0)))]


def test_a_line_drawn_on_the_scaled_view_lands_in_frame_pixels(editor, qtbot):
    view = editor.view
    view.set_tool("line")
    a = view.mapFromScene(200, 200)
    b = view.mapFromScene(1000, 650)
    scale = view.transform().m11()
    assert scale < 1.0  # the 1280x720 frame is shown smaller than its size
    with qtbot.waitSignal(editor.shapesChanged, timeout=2000) as sig:
        QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    lines, _zones = sig.args
    new = [ln for ln in lines if ln.name != "near"]
    assert len(new) == 1
    tol = 1.0 / scale  # one screen pixel, in frame pixels
    assert new[0].p1 == pytest.approx((200, 200), abs=tol)
    assert new[0].p2 == pytest.approx((1000, 650), abs=tol)
    assert new[0].name == "line-1"


def test_a_click_without_drag_makes_no_line(editor, qtbot):
    editor.view.set_tool("line")
    pos = editor.view.mapFromScene(640, 360)
    QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    assert [ln.name for ln in editor.elements()[0]] == ["near"]


def test_a_zone_is_closed_by_double_click_and_kept_inside_the_frame(editor, qtbot):
    view = editor.view
    view.set_tool("zone")
    vp = view.viewport()
    corners = [(600, 100), (900, 120), (1270, 400)]
    for x, y in corners:
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view.mapFromScene(x, y))
    # A point dragged beyond the right edge is clamped to the frame.
    outside = view.mapFromScene(1279, 600) + QPoint(200, 0)
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, outside)
    with qtbot.waitSignal(editor.shapesChanged, timeout=2000):
        QTest.mouseDClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, outside)
    zones = editor.elements()[1]
    new = [z for z in zones if z.name != "queue"]
    assert len(new) == 1
    pts = new[0].points
    tol = 1.0 / view.transform().m11()
    for got, want in zip(pts[:3], corners):
        assert got == pytest.approx(want, abs=tol)
    assert pts[3][0] == pytest.approx(1280.0)  # clamped to the right edge
    assert all(0 <= x <= 1280 and 0 <= y <= 720 for x, y in pts)


def test_flip_reverses_direction_and_dragging_a_handle_moves_the_end(editor, qtbot):
    item = next(s for s in editor.scene.shapes if isinstance(s, LineItem))
    editor.list.setCurrentRow(0)
    editor._flip()
    line = editor.elements()[0][0]
    assert (line.p1, line.p2) == ((1280.0, 500.0), (0.0, 500.0))
    # After the flip an object moving DOWN counts "out".
    assert geometry.crossing_direction(line.p1, line.p2, (600, 480), (600, 520)) == "out"
    item.handles[0].setPos(2000, -50)  # dragged past the frame: clamped
    line = editor.elements()[0][0]
    assert line.p1 == (1280.0, 0.0)


def test_renaming_and_duplicate_names_are_reported_not_saved(editor, qtbot):
    editor.list.setCurrentRow(1)  # the zone
    editor.name_edit.setText("near")
    editor._rename()
    assert "unique" in editor.error_label.text()
    assert not editor.save_button.isEnabled()
    editor.name_edit.setText("waiting area")
    editor._rename()
    assert editor.save_button.isEnabled()
    with qtbot.waitSignal(editor.saved, timeout=2000) as sig:
        editor._save()
    cfg = sig.args[0]
    assert [z.name for z in cfg.zones] == ["waiting area"]
    assert cfg.lines[0].name == "near" and cfg.camera_id == "gate-2"


def test_a_line_near_the_frame_edge_is_warned_about_on_the_line_with_what_to_do(qtbot):
    cfg = CameraConfig("gate-2", "synthetic://", lines=[CountingLine("near", (0, 500), (1280, 500)),
                                                        CountingLine("edge", (0, 700), (1280, 700))])
    ed = LineZoneEditor(cfg, _frame())
    qtbot.addWidget(ed)
    items = {s.name: s for s in ed.scene.shapes if isinstance(s, LineItem)}
    assert items["near"].toolTip() == ""
    assert "20 px from the frame edge" in items["edge"].toolTip() and "Move it" in items["edge"].toolTip()
    assert "edge" in ed.warning_label.text() and "near" not in ed.warning_label.text().split("\u201d")[0]
    ed._show_warnings(motion_per_run_px=400.0)  # objects moving faster than the band between two runs
    assert "between two detector runs" in items["near"].toolTip()


def test_line_warnings_are_plain_data():
    from campool_worker.pipeline.counting import line_warnings

    assert line_warnings(CountingLine("v", (10, 0), (10, 720)), 1280, 720)[0].kind == "edge"
    assert line_warnings(CountingLine("m", (0, 360), (1280, 360)), 1280, 720) == []
