"""Overview: the pool at a glance, like the source's dashboard mock-up.

Workers (total / active / failed), cameras (running / failing), throughput, average
latency, error rate, resource averages, the throughput trend, the load distribution
per worker and the alerts that are open.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QListWidget, QListWidgetItem, QScrollArea, QVBoxLayout, QWidget

from campool_gui.pool.views import WorkerView
from campool_gui.ui import theme
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import KpiTile, Page, card, label
from campool_gui.ui.display import alert_source, alert_text, format_pct, state_word, worker_metric, worker_status
from campool_gui.ui.i18n import clock_time, num


class LoadBars(QWidget):
    """Per worker: cameras / capacity and CPU as two thin bars; painted, so 64 rows stay cheap."""

    ROW = 26

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers: list[WorkerView] = []

    def set_workers(self, workers: list[WorkerView]) -> None:
        self.workers = workers
        self.setMinimumHeight(max(1, len(workers)) * self.ROW + 8)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, max(1, len(self.workers)) * self.ROW + 8)

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.workers:
            p.setPen(QColor(t.muted))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.tr("No adopted workers yet"))
            return
        name_w = 130
        bar_w = max(40.0, (self.width() - name_w - 90) / 1.0)
        # Only the rows in the exposed part (the list scrolls: most of 64 rows are out of sight).
        exposed = event.rect()
        first = max(0, (exposed.top() - 4) // self.ROW)
        last = min(len(self.workers), (exposed.bottom() - 4) // self.ROW + 1)
        for i in range(first, last):
            w = self.workers[i]
            y = 4 + i * self.ROW
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(t.status_color(worker_status(w))))
            p.drawEllipse(QRectF(0, y + 8, 8, 8))
            p.setPen(QColor(t.text))
            fm = p.fontMetrics()
            p.drawText(QRectF(14, y, name_w - 18, self.ROW - 4), Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(w.name, Qt.TextElideMode.ElideRight, name_w - 18))
            load = (len(w.cameras) / w.capacity) if w.capacity else 0.0
            cpu_pct = worker_metric(w, "cpu")
            cpu = (cpu_pct or 0.0) / 100.0
            p.setPen(Qt.PenStyle.NoPen)
            for j, (frac, color) in enumerate(((load, t.series[0]), (cpu, t.series[2] if cpu < 0.85 else t.crit))):
                by = y + 5 + j * 8
                p.setBrush(QColor(t.raised))
                p.drawRoundedRect(QRectF(name_w, by, bar_w, 5), 2.5, 2.5)
                p.setBrush(QColor(color))
                p.drawRoundedRect(QRectF(name_w, by, bar_w * max(0.0, min(1.0, frac)), 5), 2.5, 2.5)
            p.setPen(QColor(t.muted))
            p.drawText(QRectF(name_w + bar_w + 8, y, 90, self.ROW - 4), Qt.AlignmentFlag.AlignVCenter,
                       f"{len(w.cameras)}/{w.capacity or '?'} · {format_pct(cpu_pct)}")
        p.end()


class OverviewView(Page):
    title = QT_TRANSLATE_NOOP("OverviewView", "Overview")
    subtitle = QT_TRANSLATE_NOOP("OverviewView", "The whole pool at a glance.")

    def __init__(self, bridge: PoolBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        grid = QGridLayout()
        grid.setSpacing(12)
        self.kpi = {
            "workers": KpiTile(self.tr("Workers")), "cameras": KpiTile(self.tr("Cameras")),
            "throughput": KpiTile(self.tr("Throughput")), "latency": KpiTile(self.tr("Avg latency")),
            "errors": KpiTile(self.tr("Error rate")), "resources": KpiTile(self.tr("CPU · Memory")),
            "headroom": KpiTile(self.tr("Headroom")),
        }
        for i, tile in enumerate(self.kpi.values()):
            grid.addWidget(tile, 0, i)
        self.body.addLayout(grid)

        row = QHBoxLayout()
        row.setSpacing(12)
        tp = card()
        tl = QVBoxLayout(tp)
        tl.setContentsMargins(14, 12, 14, 10)
        tl.addWidget(label(self.tr("Throughput · counts per minute"), "sectionTitle"))
        self.tp_chart = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}, background=theme.current().surface)
        self.tp_chart.setMouseEnabled(x=False, y=False)
        self.tp_chart.setMenuEnabled(False)
        self.tp_chart.hideButtons()
        self.tp_chart.showGrid(x=False, y=True, alpha=0.15)
        self.tp_chart.getPlotItem().getViewBox().enableAutoRange(axis="y", enable=False)
        self.tp_chart.setYRange(0, 10, padding=0)
        self.tp_curve = self.tp_chart.plot([], [], pen=pg.mkPen(theme.current().accent, width=2),
                                           fillLevel=0, brush=pg.mkBrush(QColor(theme.current().accent).red(),
                                                                         QColor(theme.current().accent).green(),
                                                                         QColor(theme.current().accent).blue(), 40))
        tl.addWidget(self.tp_chart, 1)
        row.addWidget(tp, 3)

        lb = card()
        ll = QVBoxLayout(lb)
        ll.setContentsMargins(14, 12, 14, 10)
        ll.addWidget(label(self.tr("Load distribution"), "sectionTitle"))
        ll.addWidget(label(self.tr("cameras / capacity (blue) and CPU (amber) per worker"), "muted"))
        self.load = LoadBars()
        sc = QScrollArea()
        sc.setWidgetResizable(True)
        sc.setWidget(self.load)
        ll.addWidget(sc, 1)
        row.addWidget(lb, 2)
        self.body.addLayout(row, 3)

        bottom = QHBoxLayout()
        bottom.setSpacing(12)
        al = card()
        alay = QVBoxLayout(al)
        alay.setContentsMargins(14, 12, 14, 10)
        alay.addWidget(label(self.tr("Open alerts"), "sectionTitle"))
        self.alert_list = QListWidget()
        self.alert_list.setStyleSheet("QListWidget { border: none; background: transparent; }")
        self.alert_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        alay.addWidget(self.alert_list, 1)
        bottom.addWidget(al, 3)
        cams = card()
        clay = QVBoxLayout(cams)
        clay.setContentsMargins(14, 12, 14, 10)
        clay.addWidget(label(self.tr("Cameras"), "sectionTitle"))
        self.problem_list = QListWidget()
        self.problem_list.setStyleSheet("QListWidget { border: none; background: transparent; }")
        self.problem_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        clay.addWidget(self.problem_list, 1)
        bottom.addWidget(cams, 2)
        self.body.addLayout(bottom, 2)
        self.bridge.stateChanged.connect(self.refresh_when_visible)
        self.sync()

    def sync(self) -> None:
        st = self.bridge.state
        tt = st.totals
        t = theme.current()
        self.kpi["workers"].set(f"{tt.workers_online} / {tt.workers_total}",
                                self.tr("{n} failed").format(n=tt.workers_offline)
                                + (self.tr(" · {n} to adopt").format(n=tt.workers_discovered)
                                   if tt.workers_discovered else ""),
                                t.crit if tt.workers_offline else None)
        self.kpi["cameras"].set(f"{tt.cameras_running} / {tt.cameras_total}",
                                self.tr("running · {n} failing").format(n=tt.cameras_failing),
                                t.warn if tt.cameras_failing else None)
        self.kpi["throughput"].set(self.tr("{n}/min").format(n=num(tt.throughput_per_min)),
                                  self.tr("{n} frames/s processed").format(n=num(tt.fps_total)))
        self.kpi["latency"].set("—" if tt.avg_latency_ms is None else f"{num(tt.avg_latency_ms)} ms",
                                self.tr("frame to count, running cameras"),
                                t.warn if (tt.avg_latency_ms or 0) > 500 else None)
        self.kpi["errors"].set("—" if tt.error_rate is None else f"{num(tt.error_rate * 100, 1)}%",
                               self.tr("assigned cameras failing"), t.crit if (tt.error_rate or 0) > 0.1 else None)
        self.kpi["resources"].set(f"{format_pct(tt.cpu_avg)} · {format_pct(tt.mem_avg)}",
                                  self.tr("GPU {pct} · averages of active workers").format(pct=format_pct(tt.gpu_avg)))
        lowered = tt.cameras_lowered
        # Free camera slots on the online workers, and the cameras a saturated worker detects less often.
        self.kpi["headroom"].set(
            f"{tt.slots_free} / {tt.slots_total}",
            self.tr("slots free · {n} lowered").format(n=lowered) if lowered else self.tr("slots free · none lowered"),
            t.crit if lowered and not tt.slots_free else t.warn if lowered or not tt.slots_free else None)
        now = time.time()
        if st.throughput:
            arr = np.asarray(st.throughput, dtype=float)
            self.tp_curve.setData(arr[:, 0], arr[:, 1])
            top = float(arr[arr[:, 0] >= now - 600, 1].max(initial=0.0))
            self.tp_chart.setYRange(0, max(10.0, top * 1.2), padding=0)
        # The last 10 minutes, or less while the pool is younger than that (no empty chart).
        first = st.throughput[0][0] if st.throughput else now
        self.tp_chart.setXRange(now - min(600.0, max(60.0, now - first)), now, padding=0)
        self.load.set_workers([w for w in sorted(st.workers.values(), key=lambda w: w.name.lower()) if w.adopted])
        self._fill_alerts()
        self._fill_problems()

    def _fill_alerts(self) -> None:
        t = theme.current()
        st = self.bridge.state
        alerts = sorted((a for a in st.alerts.values() if a.open),
                        key=lambda a: (a.severity != "critical", -a.raised_at))[:12]
        self.alert_list.clear()
        if not alerts:
            it = QListWidgetItem(self.tr("All clear: no open alerts"))
            it.setForeground(QColor(t.ok))
            self.alert_list.addItem(it)
            return
        for a in alerts:
            # The pool core's alert text already names its subject ("camera Gate 2: stream lost ...").
            it = QListWidgetItem(theme.dot(t.severity_color(a.severity)),
                                 f"{clock_time(a.raised_at)}   {alert_text(a)}")
            it.setToolTip(f"{state_word(a.severity)} · {alert_source(a, st.names)}\n{alert_text(a)}")
            it.setForeground(QColor(t.severity_color(a.severity)))
            self.alert_list.addItem(it)

    def _fill_problems(self) -> None:
        t = theme.current()
        st = self.bridge.state
        names = st.worker_names
        rank = {"failed": 0, "dead_letter": 0, "reconnecting": 1, "retrying": 1, "waiting": 2, "unassigned": 2}
        cams = sorted(st.cameras.values(), key=lambda c: (rank.get(c.state, 3), c.name.lower()))
        self.problem_list.clear()
        if not cams:
            self.problem_list.addItem(QListWidgetItem(self.tr("No cameras yet: add some in Cameras (Ctrl+3)")))
            return
        for c in cams[:40]:
            where = names.get(c.worker_id or "", "—")
            if c.state == "running":
                text = self.tr("{camera}  ·  {worker}  ·  {fps} fps  ·  {n} counted").format(
                    camera=c.name, worker=where, fps=num(c.fps or 0), n=num(c.counts_total))
            else:
                text = f"{c.name}  ·  {state_word(c.state)}" + (f" — {c.error}" if c.error else "")
            it = QListWidgetItem(theme.dot(t.status_color(c.state)), text)
            if c.state != "running":
                it.setForeground(QColor(t.status_color(c.state)))
            it.setToolTip(c.error or c.config.source)
            self.problem_list.addItem(it)
