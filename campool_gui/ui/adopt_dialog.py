"""Adopting a worker: check its key fingerprint, type the pairing code it shows, trust it.

Like adopting a device in a network controller: the worker is found on the LAN (a
hint only), the operator compares the fingerprint shown here with the one printed by
`campool-worker pair` on the box, types the short-lived code, and only then does the
master pin the worker's key and the worker accept the master's.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

from campool_gui.pool.views import WorkerView
from campool_gui.ui import theme
from campool_gui.ui.common import label
from campool_gui.ui.display import worker_key

# adopt(worker_id, code, on_done) runs off the UI thread; on_done(error or None) comes back on it.
AdoptSubmit = Callable[[str, str, Callable[[str | None], None]], None]

_CODE_RE = re.compile(r"^[A-Za-z0-9]{8}$")  # security.CODE_LENGTH, Crockford base32


def normalise_code(text: str) -> str:
    """Codes are read off a terminal: ignore spaces and dashes the operator may type."""
    return re.sub(r"[\s\-]", "", text)


def group_fingerprint(key: str) -> str:
    """Break the worker's public key (Z85, 40 characters, as `campool-worker pair` prints it) into
    blocks of 5 so it can be compared by eye. Z85 uses ':' and '.' as digits, so nothing is stripped."""
    key = key.strip()
    if not key:
        return "unknown"
    return " ".join(key[i:i + 5] for i in range(0, len(key), 5))


class AdoptDialog(QDialog):
    adopted = Signal(str)  # worker id

    def __init__(self, worker: WorkerView, submit: AdoptSubmit, parent=None) -> None:
        super().__init__(parent)
        self.worker = worker
        self._submit = submit
        self._busy = False
        self.setWindowTitle(self.tr("Adopt {name}").format(name=worker.name))
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        lay.addWidget(label(self.tr("Adopt worker “{name}”").format(name=worker.name), "sectionTitle"))
        lay.addWidget(label(self.tr(
            "On the worker, run  campool-worker pair  and check that the worker key it prints is the one "
            "below. Then type the pairing code it shows (valid for 10 minutes)."), "muted", wrap=True))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(14)
        form.addRow(self.tr("Address"), QLabel(worker.address or self.tr("unknown")))
        self.fingerprint_label = QLabel(group_fingerprint(worker_key(worker)))
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(mono.pointSizeF() + 1)
        mono.setWeight(QFont.Weight.DemiBold)
        self.fingerprint_label.setFont(mono)
        self.fingerprint_label.setWordWrap(True)
        self.fingerprint_label.setObjectName("chip")
        self.fingerprint_label.setMinimumHeight(28)
        self.fingerprint_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.tr("Worker key"), self.fingerprint_label)
        self.code_edit = QLineEdit()
        self.code_edit.setPlaceholderText("ABCD-EFGH")
        self.code_edit.setFont(mono)
        self.code_edit.setMinimumHeight(32)
        self.code_edit.textChanged.connect(self._validate)
        form.addRow(self.tr("Pairing code"), self.code_edit)
        lay.addLayout(form)
        self.error_label = label("", wrap=True)
        self.error_label.setStyleSheet(f"color: {theme.current().crit};")
        self.error_label.hide()
        lay.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.adopt_button = self.buttons.addButton(self.tr("Adopt"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.adopt_button.setProperty("primary", True)
        self.adopt_button.setEnabled(False)
        self.buttons.accepted.connect(self._do_adopt)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

    def _validate(self) -> None:
        code = normalise_code(self.code_edit.text())
        self.adopt_button.setEnabled(bool(_CODE_RE.match(code)) and not self._busy)
        if self.error_label.isVisible() and code:
            self.error_label.hide()

    def _do_adopt(self) -> None:
        code = normalise_code(self.code_edit.text())
        if not _CODE_RE.match(code):
            self._show_error(self.tr("The pairing code has 8 letters or digits (ABCD-EFGH); "
                                     "copy it from `campool-worker pair`."))
            return
        self._busy = True
        self.adopt_button.setEnabled(False)
        self.adopt_button.setText(self.tr("Adopting…"))
        self.code_edit.setEnabled(False)
        self._submit(self.worker.worker_id, code, self._on_result)

    def _on_result(self, error: str | None) -> None:
        self._busy = False
        self.adopt_button.setText(self.tr("Adopt"))
        self.code_edit.setEnabled(True)
        if error:
            self._show_error(error)
            self.code_edit.selectAll()
            self.code_edit.setFocus()
            self.adopt_button.setEnabled(bool(_CODE_RE.match(normalise_code(self.code_edit.text()))))
            return
        self.adopted.emit(self.worker.worker_id)
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        self.adjustSize()  # grow to fit the message instead of squeezing the form
