"""The window around the line & zone canvas: tools, the list of shapes, names, flip, save."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from campool_gui.ui import theme
from campool_gui.ui.common import button, label
from campool_gui.ui.line_editor import LineItem, LineZoneScene, LineZoneView, ShapeItem
from campool_worker.camera import CameraConfig, ConfigError, CountingLine, Zone
from campool_worker.pipeline.counting import LineWarning, line_warnings


def blank_snapshot(width: int = 1280, height: int = 720) -> QImage:
    """A neutral canvas when no frame of the camera is available yet (lines can still be drawn)."""
    img = QImage(width, height, QImage.Format.Format_RGB888)
    img.fill(QColor("#1a1f27"))
    return img


class LineZoneEditor(QDialog):
    """Edits one camera's lines and zones. `saved` carries the camera config with the new shapes."""

    saved = Signal(object)  # CameraConfig
    shapesChanged = Signal(list, list)  # list[CountingLine], list[Zone] (valid states only)

    def __init__(self, config: CameraConfig, snapshot: QImage | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.setWindowTitle(self.tr("Lines and zones — {camera}").format(camera=config.name or config.camera_id))
        self.resize(1100, 640)
        image = snapshot if snapshot is not None and not snapshot.isNull() else blank_snapshot()
        self.scene = LineZoneScene(image, self)
        self.view = LineZoneView(self.scene)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 14, 16, 12)
        lay.setSpacing(10)
        head = QHBoxLayout()
        head.addWidget(label(self.tr("Lines and zones · {camera}").format(camera=config.name or config.camera_id),
                             "sectionTitle"))
        head.addStretch(1)
        self.tools = QButtonGroup(self)
        for name, text, tip in (("select", self.tr("Select"), self.tr("Move the round handles; Delete removes (S)")),
                                ("line", self.tr("Line"), self.tr("Press at the start, release at the end (L)")),
                                ("zone", self.tr("Zone"), self.tr("Click the corners; double-click to close (Z)"))):
            b = QToolButton()
            b.setObjectName("segment")
            b.setText(text)
            b.setIcon(theme.icon(name, theme.current().text, 16))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setProperty("tool", name)
            self.tools.addButton(b)
            head.addWidget(b)
            QShortcut(QKeySequence(name[0].upper()), self, activated=b.click)  # S, L, Z in every language
        self.tools.buttonClicked.connect(lambda b: self.view.set_tool(b.property("tool")))
        self.tools.buttons()[0].setChecked(True)
        lay.addLayout(head)

        body = QHBoxLayout()
        body.addWidget(self.view, 1)
        side = QVBoxLayout()
        side.setSpacing(8)
        side.addWidget(label(self.tr("Shapes"), "metricLabel"))
        self.list = QListWidget()
        self.list.setFixedWidth(250)
        self.list.currentRowChanged.connect(self._on_row)
        side.addWidget(self.list, 1)
        side.addWidget(label(self.tr("Name"), "metricLabel"))
        self.name_edit = QLineEdit()
        self.name_edit.editingFinished.connect(self._rename)
        side.addWidget(self.name_edit)
        row = QHBoxLayout()
        self.flip_button = button(self.tr("Flip direction"), tooltip=self.tr("Swap which way counts as \"in\""))
        self.flip_button.clicked.connect(self._flip)
        self.delete_button = button(self.tr("Delete"), "remove", danger=True)
        self.delete_button.clicked.connect(self._delete)
        row.addWidget(self.flip_button)
        row.addWidget(self.delete_button)
        side.addLayout(row)
        side.addWidget(label(self.tr("The arrow points the way an object moves when it counts as \"in\"."),
                             "muted", wrap=True))
        self.error_label = label("", wrap=True)
        self.error_label.setStyleSheet(f"color: {theme.current().crit};")
        side.addWidget(self.error_label)
        self.warning_label = label("", wrap=True)
        self.warning_label.setObjectName("lineWarnings")
        self.warning_label.setStyleSheet(f"color: {theme.current().warn};")
        side.addWidget(self.warning_label)
        body.addLayout(side)
        lay.addLayout(body, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton(self.tr("Save and send to worker"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setProperty("primary", True)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

        self.scene.load(config.lines, config.zones)
        self.scene.changed_shapes.connect(self._on_changed)
        self.scene.selectionChanged.connect(self._on_scene_selection)
        self.view.shapeCreated.connect(self._on_created)
        self._refresh_list()
        self._on_row(-1)
        self._show_warnings()

    # ------------------------------------------------------------------ list <-> scene
    def _refresh_list(self) -> None:
        current = self.current_shape()
        self.list.blockSignals(True)
        self.list.clear()
        for s in self.scene.shapes:
            item = QListWidgetItem(theme.icon(s.kind, theme.current().text, 16), f"{s.name}")
            item.setData(Qt.ItemDataRole.UserRole, s)
            self.list.addItem(item)
            if s is current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def current_shape(self) -> ShapeItem | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _on_row(self, _row: int) -> None:
        s = self.current_shape()
        self.name_edit.setEnabled(s is not None)
        self.delete_button.setEnabled(s is not None)
        self.flip_button.setEnabled(isinstance(s, LineItem))
        self.name_edit.setText(s.name if s else "")
        if s is not None and not s.isSelected():
            self.scene.clearSelection()
            s.setSelected(True)

    def _on_scene_selection(self) -> None:
        sel = [i for i in self.scene.selectedItems() if isinstance(i, ShapeItem)]
        if sel:
            for r in range(self.list.count()):
                if self.list.item(r).data(Qt.ItemDataRole.UserRole) is sel[0]:
                    self.list.setCurrentRow(r)

    def _on_created(self, item: ShapeItem) -> None:
        self._refresh_list()
        for r in range(self.list.count()):
            if self.list.item(r).data(Qt.ItemDataRole.UserRole) is item:
                self.list.setCurrentRow(r)
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    def _rename(self) -> None:
        s = self.current_shape()
        text = self.name_edit.text().strip()
        if s is None or not text or text == s.name:
            return
        s.set_name(text)
        self._refresh_list()
        self.scene.notify_changed()

    def _flip(self) -> None:
        s = self.current_shape()
        if isinstance(s, LineItem):
            s.flip()

    def _delete(self) -> None:
        s = self.current_shape()
        if s is not None:
            self.scene.remove(s)
            self._refresh_list()
            self._on_row(self.list.currentRow())

    def _on_changed(self) -> None:
        try:
            lines, zones = self.elements()
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            self.save_button.setEnabled(False)
            return
        self.error_label.setText("")
        self.save_button.setEnabled(True)
        self._show_warnings()
        self.shapesChanged.emit(lines, zones)

    def _show_warnings(self, motion_per_run_px: float | None = None) -> None:
        """Guardrails: each line's warnings on the line itself (its tooltip) and in the side panel."""
        w, h = self.scene.image_size
        texts: list[str] = []
        for item in self.scene.shapes:
            if not isinstance(item, LineItem):
                continue
            found = [self._warning_text(x) for x in line_warnings(item.to_line(), int(w), int(h),
                                                                   motion_per_run_px=motion_per_run_px)]
            item.setToolTip("\n".join(found))
            texts += found
        self.warning_label.setText("\n".join(texts))

    def _warning_text(self, x: LineWarning) -> str:
        if x.kind == "edge":
            return self.tr("Line \u201c{0}\u201d is {1:g} px from the frame edge: objects leave the picture "
                           "before their centre clears the line. Move it at least {2:g} px inside.").format(
                x.line, x.value, x.limit)
        return self.tr("Line \u201c{0}\u201d: objects move {2:g} px between two detector runs, more than its "
                       "{1:g} px band. Raise the detector rate or budget, or draw the line where objects "
                       "move slower.").format(x.line, x.value, x.limit)

    # ------------------------------------------------------------------ result
    def elements(self) -> tuple[list[CountingLine], list[Zone]]:
        return self.scene.elements()

    def result_config(self) -> CameraConfig:
        lines, zones = self.elements()
        return replace(self.config, lines=lines, zones=zones)

    def _save(self) -> None:
        try:
            cfg = self.result_config()
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            return
        self.saved.emit(cfg)
        self.accept()
