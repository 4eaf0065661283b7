"""A camera's password in the control center: typed once, shown nowhere (the Source column, its
tooltip, the edit dialog, the test status), kept when an edit does not retype it — against the
real master (its fallback credentials file: no OS keyring runs here) and real workers."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from campool_gui.ui.camera_model import COLUMNS

URL = "rtsp://admin:S3cr@t:x@127.0.0.1:9/cam?user=admin&pwd=Q9tok"   # nothing listens on port 9
MASKED = "rtsp://admin:•••@127.0.0.1:9/cam?user=admin&pwd=•••"


def test_a_camera_password_is_typed_once_kept_on_edit_and_shown_nowhere(qtbot, window, pool):
    window.show_view("cameras")
    view = window.pages["cameras"]
    dlg = view.add_camera()
    qtbot.waitExposed(dlg)
    dlg.name_edit.setText("Locked gate")
    dlg.source_edit.setText(URL)                       # pasted whole, password included
    dlg.source_edit.editingFinished.emit()
    assert dlg.source_edit.text() == MASKED, "the password leaves the Source field at once"
    assert dlg.password_edit.text() == "S3cr@t:x" and dlg.password_edit.echoMode() == QLineEdit.EchoMode.Password
    dlg.ok_button.click()
    qtbot.waitUntil(lambda: "locked-gate" in {c.camera_id for c in pool.snapshot().cameras}, timeout=10000)
    master = pool.master
    try:
        assert pool.camera("locked-gate").config.source == MASKED
        assert master.camera_source("locked-gate", MASKED) == URL

        qtbot.waitUntil(lambda: view.model.row_of("locked-gate") >= 0, timeout=5000)
        cell = view.model.index(view.model.row_of("locked-gate"), COLUMNS.index("Source"))
        assert view.model.data(cell) == MASKED
        assert view.model.data(cell, Qt.ItemDataRole.ToolTipRole) == MASKED

        # Edit without retyping the password: it is kept.
        view.select_ids(["locked-gate"])
        dlg = view.edit_selected()
        assert dlg.source_edit.text() == MASKED and dlg.password_edit.text() == ""
        assert "unchanged" in dlg.password_edit.placeholderText()
        dlg.site_edit.setText("north")
        dlg.ok_button.click()
        qtbot.waitUntil(lambda: pool.camera("locked-gate").config.site == "north", timeout=10000)
        assert master.camera_source("locked-gate", MASKED) == URL

        # "Test connection" on the edited camera opens it with the kept password, and says so masked.
        view.select_ids(["locked-gate"])
        dlg = view.edit_selected()
        probe = dlg.test_connection()
        assert probe is not None and dlg.test_status.text() == f"Connecting to {MASKED} …"
        probe.join(20)
        qtbot.waitUntil(lambda: dlg.test_button.isEnabled(), timeout=10000)
        assert "S3cr" not in dlg.test_status.text() and "Q9tok" not in dlg.test_status.text()
        # A new password replaces the kept one.
        dlg.password_edit.setText("n3w-one")
        dlg.ok_button.click()
        qtbot.waitUntil(lambda: master.camera_source("locked-gate", MASKED) == URL.replace("S3cr@t:x", "n3w-one"),
                        timeout=10000)
        assert pool.camera("locked-gate").config.source == MASKED
    finally:
        master.remove_camera("locked-gate")
    assert not master.credentials.has_secret("locked-gate")


def test_a_password_without_a_user_name_is_explained(qtbot, window):
    view = window.pages["cameras"]
    dlg = view.add_camera()
    dlg.name_edit.setText("No user")
    dlg.source_edit.setText("rtsp://127.0.0.1:9/cam")
    dlg.password_edit.setText("secret")
    dlg.ok_button.click()
    assert dlg.isVisible() and "a password needs a user name in the URL" in dlg.error_label.text()
    dlg.reject()
