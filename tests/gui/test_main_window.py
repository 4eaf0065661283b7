"""The main window: every view renders with a live pool, shortcuts, remembered state, theme."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from campool_gui.ui import theme
from campool_gui.ui.main_window import VIEWS, MainWindow


def _distinct_colors(img, step: int = 16) -> int:
    return len({img.pixel(x, y) for x in range(0, img.width(), step) for y in range(0, img.height(), step)})


def test_every_view_renders_with_the_pool_in_it(qtbot, window, pool, bridge, tmp_path):
    snap = pool.snapshot()
    for key, title in VIEWS:
        window.show_view(key)
        qtbot.waitUntil(lambda k=key: window.stack.currentWidget() is window.pages[k], timeout=2000)
        assert window.pages[key].title_label.text() == title
        path = tmp_path / f"{key}.png"
        assert window.grab().save(str(path))
        img = window.grab().toImage()
        assert (img.width(), img.height()) == (window.width(), window.height())
        assert _distinct_colors(img) > 8, f"the {key} view rendered (nearly) blank"
    # What each view shows agrees with the master.
    ov = window.pages["overview"]
    assert ov.kpi["workers"].value.text() == "2 / 2"
    assert ov.kpi["cameras"].value.text().endswith(f"/ {len(snap.cameras)}")
    free = sum(w.capacity - len(w.cameras) for w in snap.workers if w.online)
    assert ov.kpi["headroom"].value.text() == f"{free} / {sum(w.capacity for w in snap.workers if w.online)}"
    assert set(window.pages["workers"].cards) == set(pool.worker_ids)
    assert window.pages["cameras"].model.rowCount() == len(snap.cameras)
    assert window.sb_workers.text().startswith("● 2/2")


def test_ctrl_1_to_8_switch_views(qtbot, window):
    for i, (key, _title) in enumerate(VIEWS):
        QTest.keyClick(window, getattr(Qt.Key, f"Key_{i + 1}"), Qt.KeyboardModifier.ControlModifier)
        assert window.current_view == key
        assert window.nav_buttons[key].isChecked()


def test_window_state_is_remembered(qtbot, bridge, settings):
    first = MainWindow(bridge, settings, tray=False)
    qtbot.addWidget(first)
    first.resize(1300, 820)
    first.show()
    first.show_view("alerts")
    first.pages["live"].set_grid(9)
    first.close()  # saves
    second = MainWindow(bridge, settings, tray=False)
    qtbot.addWidget(second)
    assert second.current_view == "alerts"
    assert second.pages["live"].grid_n == 9
    assert (second.width(), second.height()) == (1300, 820)
    second.close()


def test_theme_switch_recolours_the_application(qtbot, window, settings):
    app = QApplication.instance()
    window.show_view("settings")
    page = window.pages["settings"]
    page.theme_combo.setCurrentIndex(page.theme_combo.findData("light"))
    page.theme_combo.activated.emit(page.theme_combo.currentIndex())
    assert settings.value("ui/theme") == "light"
    assert app.palette().color(QPalette.ColorRole.Window) == QColor(theme.LIGHT.window)
    window.apply_theme_choice("dark")
    assert app.palette().color(QPalette.ColorRole.Window) == QColor(theme.DARK.window)
