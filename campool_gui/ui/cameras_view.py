"""Cameras: the library (add / edit / remove / test), and dragging cameras onto workers or "Auto"."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QLineEdit,
    QListView,
    QMessageBox,
    QSplitter,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from campool_gui.ui import theme
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.camera_dialog import CameraDialog, ConnectionTester, default_models
from campool_gui.ui.camera_import import load_cameras_file
from campool_gui.ui.camera_model import CameraFilterProxy, CameraTableModel
from campool_gui.ui.common import Page, label
from campool_gui.ui.display import state_word, worker_status
from campool_gui.ui.dnd import WorkerTargetsModel
from campool_gui.ui.line_editor_dialog import LineZoneEditor
from campool_gui.ui.preview_decoder import bgr_to_qimage
from campool_worker.camera import ConfigError

log = logging.getLogger(__name__)


class _TargetDelegate(QStyledItemDelegate):
    """Draws each drop target as a roomy row with a status dot and the load."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(option.rect.width(), 46)

    def paint(self, p, option, index) -> None:
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QColor, QPen
        from PySide6.QtWidgets import QStyle
        t = theme.current()
        r = QRectF(option.rect).adjusted(4, 3, -4, -3)
        p.save()
        p.setRenderHint(p.RenderHint.Antialiasing)
        hover = bool(option.state & (QStyle.StateFlag.State_MouseOver | QStyle.StateFlag.State_Selected))
        dash = Qt.PenStyle.DashLine if index.row() == 0 else Qt.PenStyle.SolidLine
        p.setPen(QPen(QColor(t.accent if hover else t.border), 1.2, dash))
        p.setBrush(QColor(t.raised))
        p.drawRoundedRect(r, 7, 7)
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        worker = index.data(WorkerTargetsModel.WorkerRole)
        if worker is None:
            theme.icon("auto", t.accent, 18).paint(p, r.adjusted(10, 0, 0, 0).toRect(), left)
            title, sub, color = self.tr("Auto (balancer)"), self.tr("unpin: the balancer places them"), t.accent
        else:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(t.status_color(worker_status(worker))))
            p.drawEllipse(r.left() + 14, r.center().y() - 5, 10, 10)
            title = worker.name
            sub = self.tr("{state} · {n}/{cap} cameras").format(
                state=state_word(worker_status(worker)), n=len(worker.cameras), cap=worker.capacity or "?") + (
                f" · {worker.gpu}" if worker.gpu else "")
            color = t.text
        f = p.font()
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor(color))
        p.drawText(r.adjusted(36, 4, -8, -r.height() / 2), left, title)
        f.setBold(False)
        f.setPointSizeF(f.pointSizeF() * 0.88)
        p.setFont(f)
        p.setPen(QColor(t.muted))
        p.drawText(r.adjusted(36, r.height() / 2 - 2, -8, -4), left, sub)
        p.restore()


class CamerasView(Page):
    title = QT_TRANSLATE_NOOP("CamerasView", "Cameras")
    subtitle = QT_TRANSLATE_NOOP("CamerasView",
                                 "Your camera library. Select cameras and drag them onto a worker (pin) or onto Auto.")
    message = Signal(str)  # one line for the status bar

    def __init__(self, bridge: PoolBridge, shared_data: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.shared_data = shared_data
        self.snapshots: dict[str, QImage] = {}  # last frame seen per camera, for the line editor
        self.dialog: CameraDialog | None = None
        self.editor: LineZoneEditor | None = None
        self.confirm_box: QMessageBox | None = None
        self.add_button = self.add_action_button(self.tr("Add camera"), "add", primary=True)
        self.edit_button = self.add_action_button(self.tr("Edit"), "edit")
        self.lines_button = self.add_action_button(self.tr("Lines && zones"), "line")
        self.remove_button = self.add_action_button(self.tr("Remove"), "remove")
        self.import_button = self.add_action_button(
            self.tr("Import…"), "folder", tooltip=self.tr("Add cameras from a JSON file (see resources/samples)"))
        self.add_button.clicked.connect(self.add_camera)
        self.edit_button.clicked.connect(self.edit_selected)
        self.lines_button.clicked.connect(self.edit_lines)
        self.remove_button.clicked.connect(self.remove_selected)
        self.import_button.clicked.connect(lambda: self.import_cameras())

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(self.tr("Filter by name, source or site…"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMaximumWidth(360)
        self.body.addWidget(self.filter_edit)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        self.splitter = split
        self.model = CameraTableModel(self)
        self.proxy = CameraFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setDragEnabled(True)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.table.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(32)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # URLs differ at their ends
        # wide enough for the longer words of Vietnamese too ("nghiêm trọng", "đang kết nối lại")
        for col, w in ((0, 170), (2, 80), (3, 100), (4, 100), (5, 130), (6, 55), (7, 70)):
            self.table.setColumnWidth(col, w)
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        split.addWidget(self.table)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(8, 0, 0, 0)
        sl.addWidget(label(self.tr("Assign"), "sectionTitle"))
        sl.addWidget(label(self.tr("Drop selected cameras on a worker to pin them, or on Auto."), "muted", wrap=True))
        self.targets = WorkerTargetsModel(self.bridge.pin_cameras, self, standby=self.bridge.set_standby)
        self.target_list = QListView()
        self.target_list.setModel(self.targets)
        self.target_list.setItemDelegate(_TargetDelegate(self.target_list))
        self.target_list.setAcceptDrops(True)
        self.target_list.setDropIndicatorShown(True)
        self.target_list.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.target_list.setDragDropOverwriteMode(True)  # drops land ON a row, not between rows
        self.target_list.setMouseTracking(True)
        self.target_list.setSpacing(2)
        self.target_list.setStyleSheet("QListView { background: transparent; border: none; }")
        sl.addWidget(self.target_list, 1)
        side.setMinimumWidth(250)
        side.setMaximumWidth(340)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        self.body.addWidget(split, 1)
        QShortcut(QKeySequence.StandardKey.New, self, activated=self.add_camera)
        QShortcut(QKeySequence.StandardKey.Delete, self.table, activated=self.remove_selected)

        self.bridge.camerasChanged.connect(self.refresh_when_visible)
        self.bridge.workersChanged.connect(self.refresh_when_visible)
        self.bridge.previewFrame.connect(self._remember_frame)
        self.sync()

    # ------------------------------------------------------------------ data
    def sync(self) -> None:
        st = self.bridge.state
        self.model.set_cameras(list(st.cameras.values()), st.worker_names)
        self.targets.set_workers(sorted(st.workers.values(), key=lambda w: w.name.lower()))
        n = len(st.cameras)
        running = sum(1 for c in st.cameras.values() if c.state == "running")
        self.subtitle_label.setText(self.tr("{n} cameras · {running} running. Select cameras and drag them onto "
                                            "a worker (pin) or onto Auto.").format(n=n, running=running))
        self._update_buttons()

    def _remember_frame(self, camera_id: str, image: QImage, _preview: object) -> None:
        self.snapshots[camera_id] = image

    def selected_ids(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        ids = [self.proxy.data(r, CameraTableModel.CameraIdRole) for r in rows]
        return [i for i in ids if i]

    def select_ids(self, ids: list[str]) -> None:
        sm = self.table.selectionModel()
        sm.clearSelection()
        for cid in ids:
            row = self.model.row_of(cid)
            if row >= 0:
                idx = self.proxy.mapFromSource(self.model.index(row, 0))
                sm.select(idx, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        self.edit_button.setEnabled(n == 1)
        self.lines_button.setEnabled(n == 1)
        self.remove_button.setEnabled(n >= 1)

    # ------------------------------------------------------------------ actions
    def _full_source(self, camera_id: str, source: str) -> str:
        """A camera's URL with its kept password, to open it from this PC (ValueError when unknown).
        The master joins it from the keyring; a master without credentials has none to join."""
        join = getattr(self.bridge.master, "camera_source", None)
        return join(camera_id, source) if join is not None else source

    def add_camera(self) -> CameraDialog:
        dlg = CameraDialog(None, existing_ids=set(self.bridge.state.cameras), models=default_models(self.shared_data),
                           parent=self)
        dlg.accepted.connect(lambda: dlg.result_config and self.bridge.add_camera(dlg.result_config))
        self.dialog = dlg
        dlg.open()
        return dlg

    def edit_selected(self) -> CameraDialog | None:
        ids = self.selected_ids()
        if len(ids) != 1 or ids[0] not in self.bridge.state.cameras:
            return None
        cam = self.bridge.state.cameras[ids[0]]
        dlg = CameraDialog(cam.config, models=default_models(self.shared_data), resolve_source=self._full_source,
                           parent=self)
        dlg.accepted.connect(lambda: dlg.result_config and self.bridge.update_camera(dlg.result_config))
        self.dialog = dlg
        dlg.open()
        return dlg

    def edit_lines(self) -> LineZoneEditor | None:
        """Open the line editor on the camera's latest frame. Without one (no preview seen yet),
        grab a frame from the source in the background first and open the editor when it is in."""
        ids = self.selected_ids()
        if len(ids) != 1 or ids[0] not in self.bridge.state.cameras:
            return None
        cam = self.bridge.state.cameras[ids[0]]
        if cam.camera_id in self.snapshots:
            return self._open_editor(cam.camera_id)
        try:
            url = self._full_source(cam.camera_id, cam.config.source)
        except ValueError as exc:
            self.message.emit(self.tr("No frame from the camera ({error}); draw on a blank canvas of 1280x720")
                              .format(error=exc))
            return self._open_editor(cam.camera_id)
        self.message.emit(self.tr("Getting a frame of {camera} for the editor…").format(camera=cam.name))
        tester = ConnectionTester(self)
        tester.finished.connect(lambda r, cid=cam.camera_id: self._on_snapshot(cid, r))
        self._probe = tester
        tester.start(url)
        return None

    def _on_snapshot(self, camera_id: str, result) -> None:
        if result.ok and result.image is not None:
            self.snapshots[camera_id] = bgr_to_qimage(result.image)
        else:
            self.message.emit(self.tr("No frame from the camera ({error}); draw on a blank canvas of 1280x720")
                              .format(error=result.error))
        if camera_id in self.bridge.state.cameras:
            self._open_editor(camera_id)

    def _open_editor(self, camera_id: str) -> LineZoneEditor:
        cam = self.bridge.state.cameras[camera_id]
        ed = LineZoneEditor(cam.config, self.snapshots.get(camera_id), self)
        ed.saved.connect(self.bridge.update_camera)
        self.editor = ed
        ed.open()
        return ed

    def import_cameras(self, path: str | None = None) -> int:
        """Add the cameras of a JSON file that are not in the library yet; returns how many were sent."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, self.tr("Import cameras"), "",
                                                  self.tr("Camera lists (*.json);;All files (*)"))
            if not path:
                return 0
        try:
            configs = load_cameras_file(path)
        except ConfigError as exc:
            self.message.emit(str(exc))
            return 0
        new = [c for c in configs if c.camera_id not in self.bridge.state.cameras]
        for cfg in new:
            self.bridge.add_camera(cfg)
        skipped = len(configs) - len(new)
        self.message.emit(self.tr("Importing {n} camera(s) from {path}").format(n=len(new), path=path) +
                          (self.tr("; {n} already in the library were left as they are").format(n=skipped)
                           if skipped else ""))
        return len(new)

    def remove_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        names = ", ".join(self.bridge.state.cameras[i].name for i in ids if i in self.bridge.state.cameras)
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Remove cameras"),
                          self.tr("Remove {n} camera(s): {names}?\nTheir count history is kept.").format(
                              n=len(ids), names=names),
                          QMessageBox.StandardButton.Cancel, self)
        self.remove_confirm = box.addButton(self.tr("Remove"), QMessageBox.ButtonRole.DestructiveRole)
        box.buttonClicked.connect(
            lambda b: box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole
            and [self.bridge.remove_camera(i) for i in ids])
        self.confirm_box = box
        box.open()
