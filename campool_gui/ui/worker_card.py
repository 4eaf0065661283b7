"""A worker as a card: state, GPU, cameras / capacity and live load charts; a drop target for cameras."""
from __future__ import annotations

import time

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from campool_gui.pool.views import WorkerView
from campool_gui.ui import theme
from campool_gui.ui.adopt_dialog import group_fingerprint
from campool_gui.ui.common import StatusDot, button, label, repolish
from campool_gui.ui.display import (
    HISTORY_POINTS,
    format_duration,
    format_pct,
    metric_series,
    policy_word,
    state_word,
    storage_summary,
    worker_key,
    worker_metric,
    worker_status,
)
from campool_gui.ui.dnd import AUTO, decode_cameras, is_standby_drop
from campool_gui.ui.i18n import num
from campool_gui.ui.sparkline import Sparkline

CARD_WIDTH = 300

_METRICS = (("cpu", QT_TRANSLATE_NOOP("WorkerCard", "CPU"), 0), ("mem", QT_TRANSLATE_NOOP("WorkerCard", "Memory"), 1),
            ("gpu", QT_TRANSLATE_NOOP("WorkerCard", "GPU"), 2), ("fps", QT_TRANSLATE_NOOP("WorkerCard", "FPS"), 3))


class _DropFrame(QFrame):
    """A card that highlights while camera drags hover it and reports the drop."""

    camerasDropped = Signal(list, str)  # camera ids, worker id ("" = auto)
    standbyDropped = Signal(list, str)  # camera ids dropped with Ctrl: this worker holds their standby ("" = auto)

    def __init__(self, target: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setAcceptDrops(True)
        self._target = target

    def _set_drop_highlight(self, on: bool) -> None:
        self.setProperty("dropTarget", on)
        repolish(self)

    def dragEnterEvent(self, event) -> None:
        if self.accepts_drops() and decode_cameras(event.mimeData()):
            event.acceptProposedAction()
            self._set_drop_highlight(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._set_drop_highlight(False)

    def dropEvent(self, event) -> None:
        self._set_drop_highlight(False)
        ids = decode_cameras(event.mimeData())
        if ids and self.accepts_drops():
            event.acceptProposedAction()
            if is_standby_drop(event.dropAction(), event.modifiers()):
                self.standbyDropped.emit(ids, self._target)
            else:
                self.camerasDropped.emit(ids, self._target)

    def accepts_drops(self) -> bool:
        return True


class WorkerCard(_DropFrame):
    clicked = Signal(str)
    adoptRequested = Signal(str)

    def __init__(self, worker: WorkerView, parent: QWidget | None = None) -> None:
        super().__init__(worker.worker_id, parent)
        self.worker = worker
        self.setFixedWidth(CARD_WIDTH)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._dirty = True
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(6)

        head = QHBoxLayout()
        head.setSpacing(8)
        self.dot = StatusDot(worker_status(worker))
        self.name_label = label(worker.name, "cardTitle")
        self.state_label = label("", "chip")
        head.addWidget(self.dot)
        head.addWidget(self.name_label, 1)
        head.addWidget(self.state_label)
        lay.addLayout(head)

        self.info_label = label("", "muted")
        lay.addWidget(self.info_label)
        # Shown only when something about the worker needs the operator (e.g. which end to upgrade).
        self.error_label = label("", "muted", wrap=True)
        self.error_label.setVisible(False)
        lay.addWidget(self.error_label)
        # Shown only when the worker's storage is low or failing (counts held in its memory).
        self.storage_label = label("", "muted", wrap=True)
        self.storage_label.setVisible(False)
        lay.addWidget(self.storage_label)

        # Adopted workers: capacity bar + charts. Discovered ones: fingerprint + Adopt.
        self.adopted_box = QWidget()
        ab = QVBoxLayout(self.adopted_box)
        ab.setContentsMargins(0, 2, 0, 0)
        ab.setSpacing(6)
        cap_row = QHBoxLayout()
        self.cap_label = label("", "metricLabel")
        self.cap_bar = QProgressBar()
        self.cap_bar.setTextVisible(False)
        self.cap_bar.setFixedHeight(6)
        cap_row.addWidget(self.cap_label)
        cap_row.addWidget(self.cap_bar, 1)
        ab.addLayout(cap_row)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        t = theme.current()
        self.sparks: dict[str, Sparkline] = {}
        self.values: dict[str, QLabel] = {}
        for key, caption, i in _METRICS:
            cell = QVBoxLayout()
            cell.setSpacing(0)
            top = QHBoxLayout()
            top.addWidget(label(QCoreApplication.translate("WorkerCard", caption), "metricLabel"))
            top.addStretch(1)
            val = label("—", "metricValue")
            top.addWidget(val)
            cell.addLayout(top)
            spark = Sparkline(t.series[i], y_max=None if key == "fps" else 100.0, height=30)
            cell.addWidget(spark)
            grid.addLayout(cell, i // 2, i % 2)
            self.sparks[key] = spark
            self.values[key] = val
        ab.addLayout(grid)
        self.cameras_label = label("", "muted")
        ab.addWidget(self.cameras_label)
        self.standby_label = label("", "muted")   # the cameras it is the standby for
        ab.addWidget(self.standby_label)
        lay.addWidget(self.adopted_box)

        self.discovered_box = QWidget()
        db = QVBoxLayout(self.discovered_box)
        db.setContentsMargins(0, 4, 0, 0)
        db.setSpacing(8)
        self.fp_label = label("", "muted", wrap=True)
        self.fp_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        db.addWidget(label(self.tr("Found on the LAN. Adopt it to trust its key and give it cameras."), "muted",
                           wrap=True))
        db.addWidget(self.fp_label)
        self.adopt_button = button(self.tr("Adopt…"), "adopt", primary=True)
        self.adopt_button.clicked.connect(lambda: self.adoptRequested.emit(self.worker.worker_id))
        db.addWidget(self.adopt_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.discovered_box)
        lay.addStretch(1)
        self.update_worker(worker)

    def accepts_drops(self) -> bool:
        return self.worker.adopted

    def set_selected(self, on: bool) -> None:
        self.setProperty("selected", on)
        repolish(self)

    def update_worker(self, w: WorkerView, camera_names: dict[str, str] | None = None) -> None:
        """Refresh labels now; the charts follow on the next `refresh_plots` tick."""
        self.worker = w
        t = theme.current()
        status = worker_status(w)
        self.dot.set_status(status)
        self.name_label.setText(w.name)
        if self.state_label.text() != state_word(status):  # setStyleSheet re-polishes: only on a change
            self.state_label.setText(state_word(status))
            self.state_label.setStyleSheet(f"color: {t.status_color(status)};")
        gpu = self.tr("GPU {name}").format(name=w.gpu) if w.gpu else self.tr("CPU only")
        info = " · ".join(x for x in (w.address, gpu) if x)
        if status == "offline" and w.last_seen:
            info += self.tr(" · last seen {ago} ago").format(ago=format_duration(time.time() - w.last_seen))
        self.info_label.setText(info)
        self.error_label.setVisible(bool(w.last_error))
        if w.last_error and self.error_label.text() != w.last_error:
            self.error_label.setText(w.last_error)
            self.error_label.setStyleSheet(f"color: {t.crit};")
        self._show_storage(w)
        self.adopted_box.setVisible(w.adopted)
        self.discovered_box.setVisible(not w.adopted)
        if not w.adopted:
            self.fp_label.setText(self.tr("Worker key  {key}").format(key=group_fingerprint(worker_key(w))))
            return
        n, cap = len(w.cameras), w.capacity
        self.cap_label.setText(self.tr("Cameras {n} / {cap}").format(n=n, cap=cap or "?"))
        self.cap_bar.setMaximum(max(cap, n, 1))
        self.cap_bar.setValue(n)
        fps = worker_metric(w, "fps")
        self.values["cpu"].setText(format_pct(worker_metric(w, "cpu")))
        self.values["mem"].setText(format_pct(worker_metric(w, "mem")))
        self.values["gpu"].setText(format_pct(worker_metric(w, "gpu")) if w.gpu else self.tr("n/a"))
        self.values["fps"].setText("—" if fps is None else num(fps, 1))
        names = [(camera_names or {}).get(c, c) for c in w.cameras]
        text = ", ".join(names) if names else self.tr("no cameras yet — drag some here")
        fm = QFontMetrics(self.cameras_label.font())
        self.cameras_label.setText(fm.elidedText(text, Qt.TextElideMode.ElideRight, CARD_WIDTH - 30))
        self.cameras_label.setToolTip("\n".join(names))
        standby = [f"{(camera_names or {}).get(s.camera_id, s.camera_id)} ({state_word(s.mode)}, {state_word(s.state)})"
                   for s in w.standbys]
        self.standby_label.setVisible(bool(standby))
        self.standby_label.setText(fm.elidedText(self.tr("Standby for {cameras}").format(cameras=", ".join(standby)),
                                                 Qt.TextElideMode.ElideRight,
                                                 CARD_WIDTH - 30))
        self.standby_label.setToolTip("\n".join(standby))
        self._dirty = True

    def _show_storage(self, w: WorkerView) -> None:
        state, text = storage_summary(w)
        trouble = state in ("low", "failing")
        self.storage_label.setVisible(trouble)
        if not trouble:
            return
        t = theme.current()
        text = self.tr("Storage {state}").format(state=text)
        if self.storage_label.text() != text:
            self.storage_label.setText(text)
            self.storage_label.setStyleSheet(f"color: {t.crit if state == 'failing' else t.warn};")
        self.storage_label.setToolTip(w.storage.message if w.storage is not None else "")

    def refresh_plots(self) -> bool:
        """Push new history into the charts if anything changed; returns True when it did."""
        if not self._dirty or not self.worker.adopted:
            return False
        self._dirty = False
        for key, spark in self.sparks.items():
            spark.set_values(metric_series(self.worker, key)[1], HISTORY_POINTS)
        return True

    def apply_theme(self) -> None:
        t = theme.current()
        for key, _, i in _METRICS:
            self.sparks[key].set_color(t.series[i])
        self.state_label.setText("")  # forces the status colour to be set again
        self.storage_label.setText("")  # and the storage line's
        self.update_worker(self.worker)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.worker.worker_id)
        super().mouseReleaseEvent(event)


class AutoTargetCard(_DropFrame):
    """The "Auto" drop target: cameras dropped here are unpinned and placed by the balancer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(AUTO, parent)
        self.setFixedWidth(CARD_WIDTH)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(6)
        head = QHBoxLayout()
        ic = QLabel()
        ic.setPixmap(theme.icon("auto", theme.current().accent, 22).pixmap(22, 22))
        head.addWidget(ic)
        head.addWidget(label(self.tr("Auto"), "cardTitle"), 1)
        lay.addLayout(head)
        self.text = label(self.tr("Drop cameras here to let the balancer choose the worker. "
                                  "Pinned cameras dropped here are unpinned."), "muted", wrap=True)
        lay.addWidget(self.text)
        self.policy_label = label("", "chip")
        lay.addWidget(self.policy_label, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addStretch(1)

    def set_policy(self, policy: str) -> None:
        self.policy_label.setText(self.tr("policy: {name}").format(name=policy_word(policy)) if policy else "")
