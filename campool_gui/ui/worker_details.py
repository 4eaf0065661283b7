"""The side panel for one worker: its load history, cameras, the masters it serves, uptime,
success rate and event log."""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from campool_gui.pool.views import CameraView, MasterView, WorkerView
from campool_gui.ui import theme
from campool_gui.ui.common import StatusDot, button, label
from campool_gui.ui.display import format_duration, metric_series, state_word, storage_summary, worker_status
from campool_gui.ui.i18n import clock_time as clock
from campool_gui.ui.i18n import date_time, num

_SERIES = (("cpu", QT_TRANSLATE_NOOP("WorkerDetails", "CPU %")),
           ("mem", QT_TRANSLATE_NOOP("WorkerDetails", "Memory %")),
           ("gpu", QT_TRANSLATE_NOOP("WorkerDetails", "GPU %")), ("fps", QT_TRANSLATE_NOOP("WorkerDetails", "FPS")))
# The fields of the form, keyed by their English caption (what `summary()` returns them by).
_FIELDS = (QT_TRANSLATE_NOOP("WorkerDetails", "Status"), QT_TRANSLATE_NOOP("WorkerDetails", "Address"),
           QT_TRANSLATE_NOOP("WorkerDetails", "GPU"), QT_TRANSLATE_NOOP("WorkerDetails", "Version"),
           QT_TRANSLATE_NOOP("WorkerDetails", "Uptime"), QT_TRANSLATE_NOOP("WorkerDetails", "Success rate"),
           QT_TRANSLATE_NOOP("WorkerDetails", "Jobs"), QT_TRANSLATE_NOOP("WorkerDetails", "Cameras"),
           QT_TRANSLATE_NOOP("WorkerDetails", "Storage"), QT_TRANSLATE_NOOP("WorkerDetails", "Last seen"))


def _t(text: str) -> str:
    return QCoreApplication.translate("WorkerDetails", text)


class WorkerDetails(QFrame):
    closeRequested = Signal()
    drainRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setMinimumWidth(360)
        self.worker: WorkerView | None = None
        self._last_event: tuple | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 14, 16, 14)
        lay.setSpacing(10)
        head = QHBoxLayout()
        self.dot = StatusDot("", 12)
        self.title = label("", "sectionTitle")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip(self.tr("Close the details"))
        close.clicked.connect(self.closeRequested)
        head.addWidget(self.dot)
        head.addWidget(self.title, 1)
        head.addWidget(close)
        lay.addLayout(head)

        self.form = QFormLayout()
        self.form.setHorizontalSpacing(16)
        self.form.setVerticalSpacing(4)
        self.fields: dict[str, QLabel] = {}
        for key in _FIELDS:
            val = QLabel("—")
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # a full line each, marks above and below included (Vietnamese "giây", "trạm"): on a short
            # window the event log gives up the height, not these rows
            val.setMinimumHeight(val.fontMetrics().height() + 2)
            self.fields[key] = val
            cap = label(_t(key), "metricLabel")
            self.form.addRow(cap, val)
        lay.addLayout(self.form)

        lay.addWidget(label(self.tr("Load history"), "metricLabel"))
        self.chart = pg.PlotWidget(background=theme.current().surface)
        self.chart.setFixedHeight(150)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.setMenuEnabled(False)
        self.chart.hideButtons()
        self.chart.showGrid(x=False, y=True, alpha=0.15)
        self.chart.setLabel("bottom", self.tr("seconds ago"))
        self.curves: dict[str, pg.PlotDataItem] = {}
        for i, (key, _name) in enumerate(_SERIES):
            self.curves[key] = self.chart.plot([], [], pen=pg.mkPen(theme.current().series[i], width=1.6))
        # The legend is a label under the chart, so it never hides the lines at 100 %.
        self.legend_label = QLabel("   ".join(
            f"<span style='color:{theme.current().series[i]}'>━</span> {_t(name)}"
            for i, (_k, name) in enumerate(_SERIES)))
        self.legend_label.setObjectName("metricLabel")
        lay.addWidget(self.chart)
        lay.addWidget(self.legend_label)

        lay.addWidget(label(self.tr("Cameras on this worker"), "metricLabel"))
        self.camera_list = QListWidget()
        self.camera_list.setMaximumHeight(110)
        lay.addWidget(self.camera_list)
        # Every control center the worker serves, as the worker reports it: a second one can send it
        # commands, so the operator sees it here (and gets an alert when one appears).
        lay.addWidget(label(self.tr("Masters it serves"), "metricLabel"))
        self.master_list = QListWidget()
        self.master_list.setMaximumHeight(80)
        lay.addWidget(self.master_list)
        lay.addWidget(label(self.tr("Events"), "metricLabel"))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setMinimumHeight(48)  # the part of the panel that gives way on a short window
        lay.addWidget(self.log, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.drain_button = button(self.tr("Drain"), "drain",
                                   tooltip=self.tr("Move this worker's cameras elsewhere and give it no new ones"))
        self.drain_button.clicked.connect(lambda: self.worker and self.drainRequested.emit(self.worker.worker_id))
        row.addWidget(self.drain_button)
        lay.addLayout(row)

    def show_worker(self, w: WorkerView, cameras: dict[str, CameraView]) -> None:
        same = self.worker is not None and self.worker.worker_id == w.worker_id
        self.worker = w
        status = worker_status(w)
        self.dot.set_status(status)
        self.title.setText(w.name)
        t = theme.current()
        self.fields["Status"].setText(state_word(status))
        self.fields["Status"].setStyleSheet(f"color: {t.status_color(status)}; font-weight: 600;")
        self.fields["Address"].setText(w.address or "—")
        self.fields["GPU"].setText(w.gpu or self.tr("none (CPU only)"))
        self.fields["Version"].setText(w.version or "—")
        self.fields["Uptime"].setText(format_duration(w.uptime_s(time.time())))
        sr = w.success_rate
        self.fields["Success rate"].setText("—" if sr is None else f"{num(sr * 100, 1)}%")
        self.fields["Jobs"].setText(self.tr("{ok} done · {failed} failed").format(ok=num(w.jobs_ok),
                                                                                       failed=num(w.jobs_failed)))
        self.fields["Cameras"].setText(f"{len(w.cameras)} / {w.capacity or '?'}"
                                       + (self.tr(" · standby for {n}").format(n=len(w.standbys))
                                          if w.standbys else ""))
        self._show_storage(w)
        self.fields["Last seen"].setText(
            "—" if not w.last_seen else self.tr("{ago} ago").format(ago=format_duration(time.time() - w.last_seen)))
        self.drain_button.setEnabled(w.online and bool(w.cameras))
        self.camera_list.clear()
        for cid in w.cameras:
            cam = cameras.get(cid)
            text = cid if cam is None else f"{cam.name}   {state_word(cam.state)}" + (
                f" · {num(cam.fps, 1)} fps" if cam.fps else "")
            item = QListWidgetItem(text)
            if cam is not None:
                item.setForeground(QColor(t.status_color(cam.state)))
            self.camera_list.addItem(item)
        for sb in w.standbys:   # the cameras it stands by for (issue #12), after the ones it runs
            cam = cameras.get(sb.camera_id)
            item = QListWidgetItem(self.tr("{camera}   {mode} standby · {state}").format(
                camera=cam.name if cam is not None else sb.camera_id, mode=state_word(sb.mode),
                state=state_word(sb.state)))
            item.setToolTip(sb.reason or self.tr("ready to take over camera {camera} (epoch {epoch})").format(
                camera=sb.camera_id, epoch=sb.epoch))
            item.setForeground(QColor(t.muted))
            self.camera_list.addItem(item)
        self.master_list.clear()
        for m in w.masters:
            item = QListWidgetItem(master_line(m))
            item.setToolTip(self.tr("CURVE public key {key}").format(key=m.key))
            if not m.this_master:
                item.setForeground(QColor(t.warn))
            self.master_list.addItem(item)
        events = list(w.events)
        start = 0
        if same and self._last_event is not None:
            try:  # only append what is new since the last refresh (the log is a ring buffer)
                start = len(events) - events[::-1].index(self._last_event)
            except ValueError:
                start = 0
        if start == 0:
            self.log.clear()
        for ts, text in events[start:]:
            self.log.appendPlainText(f"{clock(ts)}  {text}")
        self._last_event = events[-1] if events else None
        self.refresh_chart()

    def _show_storage(self, w: WorkerView) -> None:
        """The storage line: its state, and the worker's own words when it is low or failing."""
        state, text = storage_summary(w)
        field = self.fields["Storage"]
        field.setWordWrap(True)
        if w.storage is not None and w.storage.message:
            text = f"{text}\n{w.storage.message}"
        field.setText(text)
        t = theme.current()
        color = {"failing": t.crit, "low": t.warn}.get(state)
        field.setStyleSheet(f"color: {color}; font-weight: 600;" if color else "")

    def refresh_chart(self) -> None:
        if self.worker is None:
            return
        now = time.time()
        for key, curve in self.curves.items():
            xs, ys = metric_series(self.worker, key)
            curve.setData(np.asarray(xs, dtype=float) - now, np.asarray(ys, dtype=float))

    def summary(self) -> dict[str, str]:
        """The shown fields as text (what the operator reads; used by tests)."""
        return {k: v.text() for k, v in self.fields.items()}

    def masters_shown(self) -> list[str]:
        """The lines of the masters list, as shown."""
        return [self.master_list.item(i).text() for i in range(self.master_list.count())]


def master_line(m: MasterView) -> str:
    """One master as the operator reads it: name, key fingerprint, since when; this one marked."""
    name = m.name or QCoreApplication.translate("WorkerDetails", "key from the worker's settings")
    since = "" if m.adopted_at is None else QCoreApplication.translate(
        "WorkerDetails", " · since {when}").format(when=date_time(m.adopted_at))
    here = QCoreApplication.translate("WorkerDetails", "   (this control center)")
    return f"{name} · {m.fingerprint}{since}" + (here if m.this_master else "")
