"""The camera library as a table model: one row per camera, draggable onto workers."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

from campool_gui.pool.views import CameraView
from campool_gui.ui import theme
from campool_gui.ui.display import priority_word, state_word
from campool_gui.ui.dnd import CAMERAS_MIME, encode_cameras
from campool_gui.ui.i18n import num
from campool_worker.url_secrets import mask_url

COLUMNS = ("Camera", "Source", "Site", "Priority", "Worker", "State", "FPS", "Counted", "Standby")
HEADERS = (QT_TRANSLATE_NOOP("CameraTableModel", "Camera"), QT_TRANSLATE_NOOP("CameraTableModel", "Source"),
           QT_TRANSLATE_NOOP("CameraTableModel", "Site"), QT_TRANSLATE_NOOP("CameraTableModel", "Priority"),
           QT_TRANSLATE_NOOP("CameraTableModel", "Worker"), QT_TRANSLATE_NOOP("CameraTableModel", "State"),
           QT_TRANSLATE_NOOP("CameraTableModel", "FPS"), QT_TRANSLATE_NOOP("CameraTableModel", "Counted"),
           QT_TRANSLATE_NOOP("CameraTableModel", "Standby"))  # the header of each of COLUMNS
PRIORITY_ORDER = {"critical": 0, "high": 1, "normal": 2, "low": 3}


class CameraTableModel(QAbstractTableModel):
    CameraIdRole = Qt.ItemDataRole.UserRole + 1
    SortRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[CameraView] = []
        self._worker_names: dict[str, str] = {}

    # --- feeding -------------------------------------------------------------------
    def set_cameras(self, cameras: Sequence[CameraView], worker_names: dict[str, str] | None = None) -> None:
        """Replace the rows; keeps selection stable when only values changed (the common case)."""
        if worker_names is not None:
            self._worker_names = dict(worker_names)
        new = sorted(cameras, key=lambda c: c.camera_id)
        if [c.camera_id for c in new] == [c.camera_id for c in self._rows]:
            self._rows = new
            if new:
                self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._rows = new
        self.endResetModel()

    def camera_at(self, row: int) -> CameraView | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, camera_id: str) -> int:
        for i, c in enumerate(self._rows):
            if c.camera_id == camera_id:
                return i
        return -1

    # --- Qt model API -----------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return QCoreApplication.translate("CameraTableModel", HEADERS[section]).upper()
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        cam = self._rows[index.row()]
        col = COLUMNS[index.column()]
        if role == self.CameraIdRole:
            return cam.camera_id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(cam, col)
        if role == self.SortRole:
            if col == "Priority":
                return PRIORITY_ORDER.get(cam.config.priority, 9)
            if col in ("FPS", "Counted"):
                return float(cam.fps or 0) if col == "FPS" else cam.counts_total
            return (self._display(cam, col) or "").lower()
        t = theme.current()
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == "State":
                return QColor(t.status_color(cam.state))
            if col == "Priority" and cam.config.priority in ("critical", "high"):
                return QColor(t.crit if cam.config.priority == "critical" else t.warn)
            if col in ("Source", "Site"):
                return QColor(t.muted)
        if role == Qt.ItemDataRole.DecorationRole and col == "Camera":
            return theme.dot(t.status_color(cam.state))
        if role == Qt.ItemDataRole.DecorationRole and col == "Worker" and cam.pin:
            return theme.icon("pin", t.accent, 14)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == "State":
                detail = self.tr("epoch {n}").format(n=cam.epoch) if cam.epoch else self.tr("never assigned")
                return f"{state_word(cam.state)} · {detail}" + (f"\n{cam.error}" if cam.error else "")
            if col == "Source":
                return mask_url(cam.config.source)
            if col == "Worker":
                return self.tr("pinned by the operator") if cam.pin else self.tr("placed by the balancer")
            if col == "Standby":
                return self._standby_tip(cam)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in ("FPS", "Counted"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, cam: CameraView, col: str) -> str:
        if col == "Camera":
            return cam.name
        if col == "Source":
            return mask_url(cam.config.source)  # the core keeps it masked already; any URL shown is masked
        if col == "Site":
            return cam.config.site or "—"
        if col == "Priority":
            return priority_word(cam.config.priority)
        if col == "Worker":
            wid = cam.worker_id or cam.pin
            name = self._worker_names.get(wid, wid) if wid else "—"
            return name if (cam.pin or cam.worker_id) else self.tr("auto")
        if col == "State":
            return state_word(cam.state)
        if col == "FPS":
            return "—" if cam.fps is None else num(cam.fps, 1)
        if col == "Counted":
            return num(cam.counts_total)
        if col == "Standby":
            sb = cam.standby
            if sb is None:
                return "—"
            where = self._worker_names.get(sb.worker_id, sb.worker_id) if sb.worker_id else state_word("waiting")
            return f"{state_word(sb.mode)} · {where}"
        return ""

    def _standby_tip(self, cam: CameraView) -> str:
        """Where its standby is and how it is, in words; how to set it."""
        sb = cam.standby
        how = self.tr("Ctrl-drag the camera onto a worker to choose its standby's worker")
        if sb is None:
            setting = state_word(cam.config.standby) if cam.config.standby else self.tr("auto")
            return self.tr("no standby (setting: {setting})").format(setting=setting) + f"\n{how}"
        text = self.tr("{mode} standby, {state}").format(mode=state_word(sb.mode), state=state_word(sb.state))
        if sb.worker_id:
            text += self.tr(" on {worker}").format(worker=self._worker_names.get(sb.worker_id, sb.worker_id))
        if sb.reason:
            text += f"\n{sb.reason}"
        if sb.mode == "warm" and sb.buffered_s:
            text += "\n" + self.tr("{s} s of frames buffered").format(s=num(sb.buffered_s))
        if cam.standby_pin:
            text += "\n" + self.tr("worker chosen by the operator")
        return f"{text}\n{how}"

    # --- drag ---------------------------------------------------------------------------
    def flags(self, index):
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return base

    def mimeTypes(self) -> list[str]:
        return [CAMERAS_MIME]

    def supportedDragActions(self):
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def mimeData(self, indexes):
        rows = sorted({i.row() for i in indexes if i.isValid()})
        return encode_cameras([self._rows[r].camera_id for r in rows])


class CameraFilterProxy(QSortFilterProxyModel):
    """Filters on name, source and site; sorts on the model's SortRole (priority by rank)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(CameraTableModel.SortRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def filterAcceptsRow(self, source_row, source_parent) -> bool:
        needle = self.filterRegularExpression().pattern().lower()
        if not needle:
            return True
        model: CameraTableModel = self.sourceModel()  # type: ignore[assignment]
        cam = model.camera_at(source_row)
        if cam is None:
            return False
        hay = " ".join((cam.camera_id, cam.name, mask_url(cam.config.source), cam.config.site)).lower()
        return needle in hay
