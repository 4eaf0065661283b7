"""Dragging cameras onto workers: the MIME payload and the drop-target model.

A drag carries camera ids as JSON under `application/x-campool-cameras`. Every drop
target (a worker card, a row of the assignment list, the "Auto" target) decodes it
with `decode_cameras` and calls the same pin callback, so the behaviour is the same
wherever the operator drops, and the model round-trip (`mimeData` -> `dropMimeData`)
exercises the real path in tests (synthetic mouse drags do not start a QDrag).

A drop with Ctrl held (Qt makes it a copy: the camera stays where it runs) sets the worker of
the cameras' *standby* instead (issue #12); on "Auto" it hands their standby back to the balancer.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt

from campool_gui.pool.views import WorkerView

log = logging.getLogger(__name__)

CAMERAS_MIME = "application/x-campool-cameras"
AUTO = ""  # the drop target id that means "let the balancer place it"
MAX_DRAG_CAMERAS = 10_000

PinCallback = Callable[[list[str], "str | None"], None]
STANDBY_ACTION = Qt.DropAction.CopyAction   # what a Ctrl-drop is: the camera stays, a standby is added


def is_standby_drop(action: Qt.DropAction, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> bool:
    """A drop that sets the standby worker: Ctrl held, or the copy action it makes."""
    return action == STANDBY_ACTION or bool(modifiers & Qt.KeyboardModifier.ControlModifier)


def encode_cameras(camera_ids: Sequence[str]) -> QMimeData:
    mime = QMimeData()
    ids = list(dict.fromkeys(camera_ids))  # unique, in selection order
    mime.setData(CAMERAS_MIME, json.dumps({"cameras": ids}).encode())
    mime.setText(", ".join(ids))  # dropping on a text field pastes the names, harmlessly
    return mime


def decode_cameras(mime: QMimeData | None) -> list[str]:
    """Camera ids from a drag, or [] when the payload is not ours or is malformed."""
    if mime is None or not mime.hasFormat(CAMERAS_MIME):
        return []
    try:
        obj = json.loads(bytes(mime.data(CAMERAS_MIME).data()).decode())
        ids = obj["cameras"]
        if not isinstance(ids, list) or len(ids) > MAX_DRAG_CAMERAS or not all(isinstance(i, str) for i in ids):
            raise ValueError("cameras must be a list of strings")
        return ids
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        log.warning("ignored a drop with a malformed camera payload: %s", exc)
        return []


class WorkerTargetsModel(QAbstractListModel):
    """The drop targets: row 0 is "Auto (balancer)", then one row per adopted worker."""

    WorkerIdRole = Qt.ItemDataRole.UserRole + 1
    WorkerRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, pin: PinCallback, parent=None, standby: PinCallback | None = None) -> None:
        super().__init__(parent)
        self._pin = pin
        self._standby = standby
        self._workers: list[WorkerView] = []

    def set_workers(self, workers: Sequence[WorkerView]) -> None:
        new = [w for w in workers if w.adopted]
        if [w.worker_id for w in new] == [w.worker_id for w in self._workers]:
            self._workers = new
            if new:
                self.dataChanged.emit(self.index(1), self.index(len(new)))
            return
        self.beginResetModel()
        self._workers = new
        self.endResetModel()

    def target_at(self, row: int) -> str | None:
        """The worker id at `row`; AUTO for the Auto row; None when the row is not a target."""
        if row == 0:
            return AUTO
        if 1 <= row <= len(self._workers):
            return self._workers[row - 1].worker_id
        return None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else 1 + len(self._workers)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = index.row()
        if role == self.WorkerIdRole:
            return self.target_at(row)
        if role == self.WorkerRole:
            return None if row == 0 else self._workers[row - 1]
        if role == Qt.ItemDataRole.DisplayRole:
            if row == 0:
                return "Auto (balancer)"
            w = self._workers[row - 1]
            extra = f"  ·  standby {len(w.standbys)}" if w.standbys else ""
            return f"{w.name}  ·  {len(w.cameras)}/{w.capacity or '?'}{extra}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if row == 0:
                return ("Drop cameras here to let the balancer choose a worker (unpins them); "
                        "Ctrl-drop: the balancer chooses their standby's worker")
            return (f"Drop cameras here to pin them to {self._workers[row - 1].name}; "
                    "Ctrl-drop: it holds their standby")
        return None

    def flags(self, index):
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDropEnabled
        return base

    def mimeTypes(self) -> list[str]:
        return [CAMERAS_MIME]

    def supportedDropActions(self):
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def canDropMimeData(self, data, action, row, column, parent) -> bool:
        return bool(decode_cameras(data)) and self._drop_target(row, parent) is not None

    def dropMimeData(self, data, action, row, column, parent) -> bool:
        if action == Qt.DropAction.IgnoreAction:
            return True
        ids = decode_cameras(data)
        target = self._drop_target(row, parent)
        if not ids or target is None:
            return False
        if is_standby_drop(action) and self._standby is not None:
            self._standby(ids, None if target == AUTO else target)
        else:
            self._pin(ids, None if target == AUTO else target)
        return True

    def _drop_target(self, row: int, parent: QModelIndex) -> str | None:
        # Dropped ON an item: parent is that item. Dropped between items: row is the gap;
        # we only accept drops onto an item, a gap has no obvious meaning.
        if parent.isValid():
            return self.target_at(parent.row())
        return None
