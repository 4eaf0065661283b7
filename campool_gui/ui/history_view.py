"""History: counts per line or zone per minute / hour / day over a range, per class; chart, table, CSV.

Coverage comes with the counts: the chart shades the gaps nobody watched (a bucket with nothing
watched is a shaded gap, not a zero bar), labels each bucket watched only in part ("97.8 %"), and
the table and the CSV carry each bucket's watched fraction; history older than the coverage data
says "unknown", not 0 %.

The CSV file itself is written by campool_gui.history_csv, off the UI thread."""
from __future__ import annotations

import logging
import time
from collections import defaultdict

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QDateTime, QLocale, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from campool_gui.history_csv import CSV_HEADER, write_csv
from campool_gui.pool.coverage import Coverage
from campool_gui.ui import theme
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import Page, card, label
from campool_gui.ui.history_query import HistoryQuery, HistoryResult, HistoryRow
from campool_gui.ui.i18n import clock_time, date_time, num

log = logging.getLogger(__name__)

BUCKET_S = {"minute": 60, "hour": 3600, "day": 86400}
# The presets, keyed by their English name (the combo's item data), and the custom range.
RANGES = {"Last hour": (3600, "minute"), "Last 24 hours": (86400, "hour"), "Last 7 days": (7 * 86400, "day"),
          "Last 30 days": (30 * 86400, "day")}
CUSTOM = "Custom"
WORDS = {  # what the combos show for their keys, and a count's direction
    "Last hour": QT_TRANSLATE_NOOP("HistoryView", "Last hour"),
    "Last 24 hours": QT_TRANSLATE_NOOP("HistoryView", "Last 24 hours"),
    "Last 7 days": QT_TRANSLATE_NOOP("HistoryView", "Last 7 days"),
    "Last 30 days": QT_TRANSLATE_NOOP("HistoryView", "Last 30 days"),
    CUSTOM: QT_TRANSLATE_NOOP("HistoryView", "Custom"),
    "minute": QT_TRANSLATE_NOOP("HistoryView", "minute"),
    "hour": QT_TRANSLATE_NOOP("HistoryView", "hour"),
    "day": QT_TRANSLATE_NOOP("HistoryView", "day"),
    "in": QT_TRANSLATE_NOOP("HistoryView", "in"),
    "out": QT_TRANSLATE_NOOP("HistoryView", "out"),
    "occupancy": QT_TRANSLATE_NOOP("HistoryView", "occupancy"),
    "all": QT_TRANSLATE_NOOP("HistoryView", "all"),
    "unknown": QT_TRANSLATE_NOOP("HistoryView", "unknown"),
    # the built-in motion detector's class, and the COCO classes counted most
    "motion": QT_TRANSLATE_NOOP("HistoryView", "motion"),
    "person": QT_TRANSLATE_NOOP("HistoryView", "person"),
    "bicycle": QT_TRANSLATE_NOOP("HistoryView", "bicycle"),
    "car": QT_TRANSLATE_NOOP("HistoryView", "car"),
    "motorcycle": QT_TRANSLATE_NOOP("HistoryView", "motorcycle"),
    "bus": QT_TRANSLATE_NOOP("HistoryView", "bus"),
    "truck": QT_TRANSLATE_NOOP("HistoryView", "truck"),
}


def word(key: str) -> str:
    """A range, bucket, direction or class in the operator's language (another class as it is)."""
    text = WORDS.get(key)
    return QCoreApplication.translate("HistoryView", text) if text else key
MAX_GAP_REGIONS = 400     # more gaps than this are joined where they nearly touch (an eye sees no more)
MAX_BUCKET_LABELS = 72    # per-bucket coverage labels only where they can be read


def percent(fraction: float | None) -> str:
    """A watched fraction as the operator reads it: "97.8 % watched", or "unknown" before span data."""
    if fraction is None:
        return QCoreApplication.translate("HistoryView", "unknown")
    return QCoreApplication.translate("HistoryView", "{pct} % watched").format(pct=num(100 * fraction, 1))


def drawn_gaps(gaps: tuple[tuple[float, float], ...], span_s: float) -> list[tuple[float, float]]:
    """The gaps to shade: joined where they are closer than a thousandth of the range, if too many."""
    out = [list(g) for g in gaps]
    if len(out) <= MAX_GAP_REGIONS:
        return [(a, b) for a, b in out]
    tol = span_s / 1000
    joined: list[list[float]] = []
    for a, b in out:
        if joined and a - joined[-1][1] <= tol:
            joined[-1][1] = b
        else:
            joined.append([a, b])
    return [(a, b) for a, b in joined[:MAX_GAP_REGIONS]]


def series_by(rows: list[HistoryRow], by_class: bool) -> dict[str, dict[float, int]]:
    """Sum counts per series (class, or direction when not by class) and bucket."""
    out: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = r.class_name if by_class else r.direction
        out[key][r.bucket_ts] += r.count
    return out


class HistoryView(Page):
    title = QT_TRANSLATE_NOOP("HistoryView", "History")
    subtitle = QT_TRANSLATE_NOOP("HistoryView", "Counts stored by the master, per line or zone, per class.")

    def __init__(self, bridge: PoolBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.rows: list[HistoryRow] = []
        self.coverage: Coverage | None = None             # of the camera shown (or all cameras)
        self.per_camera: dict[str, Coverage] = {}
        self.gap_reasons: list[str] = []                  # of the camera shown, one per gap
        self.query: HistoryQuery | None = None
        self.queries_done = 0
        self._seq = 0
        self.export_button = self.add_action_button(self.tr("Export CSV"), "export")
        self.export_button.clicked.connect(self.export_csv)
        self.refresh_button = self.add_action_button(self.tr("Refresh"), "refresh", primary=True)
        self.refresh_button.clicked.connect(self.run_query)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        self.range_combo = QComboBox()
        for key in (*RANGES, CUSTOM):
            self.range_combo.addItem(word(key), key)
        self.select_range("Last 24 hours")
        self.range_combo.activated.connect(self._on_range)
        now = QDateTime.currentDateTime()
        self.from_edit = QDateTimeEdit(now.addSecs(-86400))
        self.to_edit = QDateTimeEdit(now)
        for e in (self.from_edit, self.to_edit):
            e.setCalendarPopup(True)
            e.setDisplayFormat(QLocale().dateTimeFormat(QLocale.FormatType.ShortFormat))
            e.dateTimeChanged.connect(lambda _d: self.select_range(CUSTOM))
        self.bucket_combo = QComboBox()
        for key in BUCKET_S:
            self.bucket_combo.addItem(word(key), key)
        self.select_bucket("hour")
        self.camera_combo = QComboBox()
        self.camera_combo.setMinimumWidth(160)
        self.camera_combo.currentIndexChanged.connect(self._fill_lines)
        self.line_combo = QComboBox()
        self.line_combo.setMinimumWidth(130)
        self.class_check = QCheckBox(self.tr("Per class"))
        self.class_check.setChecked(True)
        for w in (label(self.tr("Range"), "muted"), self.range_combo, self.from_edit, label(self.tr("to"), "muted"),
                  self.to_edit, label(self.tr("per"), "muted"), self.bucket_combo, label(self.tr("Camera"), "muted"),
                  self.camera_combo, label(self.tr("Line / zone"), "muted"), self.line_combo, self.class_check):
            bar.addWidget(w)
        bar.addStretch(1)
        self.body.addLayout(bar)

        split = QSplitter(Qt.Orientation.Vertical)
        chart_card = card()
        cl = QVBoxLayout(chart_card)
        cl.setContentsMargins(8, 8, 8, 8)
        self.coverage_label = label("", "muted")
        self.coverage_label.setObjectName("coverage")
        cl.addWidget(self.coverage_label)
        self.chart = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}, background=theme.current().surface)
        self.chart.showGrid(x=False, y=True, alpha=0.15)
        self.chart.setMouseEnabled(x=True, y=False)
        self.chart.setLabel("left", self.tr("count"))
        self.legend = self.chart.addLegend(offset=(10, 6), colCount=6, brush=pg.mkBrush(theme.current().surface + "d0"))
        cl.addWidget(self.chart)
        split.addWidget(chart_card)
        self.table = QTableWidget(0, len(CSV_HEADER))
        self.table.setHorizontalHeaderLabels([self.tr("TIME"), self.tr("CAMERA"), self.tr("LINE / ZONE"),
                                              self.tr("DIRECTION"), self.tr("CLASS"), self.tr("COUNT"),
                                              self.tr("WATCHED")])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        split.addWidget(self.table)
        split.setSizes([360, 260])
        self.body.addWidget(split, 1)
        self.status = label("", "muted")
        self.body.addWidget(self.status)
        self.bars: list[pg.BarGraphItem] = []
        self.gap_regions: list[pg.LinearRegionItem] = []
        self.bucket_labels: list[pg.TextItem] = []
        self.bridge.camerasChanged.connect(self._on_cameras_changed)
        self._fill_cameras()

    # ------------------------------------------------------------------ controls
    def _on_cameras_changed(self, _ids: object) -> None:
        if self.isVisible():
            self._fill_cameras()

    def _fill_cameras(self) -> None:
        current = self.camera_combo.currentData()
        ids = sorted(self.bridge.state.cameras)
        have = [self.camera_combo.itemData(i) for i in range(self.camera_combo.count())]
        if have == [None, *ids]:
            return
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        self.camera_combo.addItem(self.tr("All cameras"), None)
        for cid in ids:
            self.camera_combo.addItem(self.bridge.state.cameras[cid].name, cid)
        idx = self.camera_combo.findData(current)
        self.camera_combo.setCurrentIndex(max(0, idx))
        self.camera_combo.blockSignals(False)
        self._fill_lines()

    def _fill_lines(self) -> None:
        cid = self.camera_combo.currentData()
        names: list[str] = []
        all_cams = self.bridge.state.cameras
        cams = [all_cams[cid]] if cid in all_cams else all_cams.values()
        for c in cams:
            names += [ln.name for ln in c.config.lines] + [z.name for z in c.config.zones]
        current = self.line_combo.currentData()
        self.line_combo.clear()
        self.line_combo.addItem(self.tr("All"), None)
        for n in sorted(set(names)):
            self.line_combo.addItem(n, n)
        self.line_combo.setCurrentIndex(max(0, self.line_combo.findData(current)))

    def select_range(self, key: str) -> None:
        """Pick a preset range by its key (RANGES) or CUSTOM."""
        self.range_combo.setCurrentIndex(self.range_combo.findData(key))

    def select_bucket(self, key: str) -> None:
        """Pick the bucket by its key: "minute", "hour" or "day"."""
        self.bucket_combo.setCurrentIndex(self.bucket_combo.findData(key))

    def _on_range(self, _index: int) -> None:
        name = self.range_combo.currentData()
        if name not in RANGES:
            return
        self.select_bucket(RANGES[name][1])
        self.run_query()

    def _show_range(self, start: float, end: float) -> None:
        """Put a preset's range in the date fields, without turning the preset into Custom."""
        for e, t in ((self.from_edit, start), (self.to_edit, end)):
            e.blockSignals(True)
            e.setDateTime(QDateTime.fromSecsSinceEpoch(int(t)))
            e.blockSignals(False)

    def current_query(self) -> HistoryQuery:
        name = self.range_combo.currentData()
        if name in RANGES:  # a preset range ends now, whenever it is run
            end = time.time()
            start = end - RANGES[name][0]
        else:
            start = self.from_edit.dateTime().toSecsSinceEpoch()
            end = self.to_edit.dateTime().toSecsSinceEpoch()
        cid = self.camera_combo.currentData()
        line = self.line_combo.currentData()
        cams = [self.bridge.state.cameras[cid]] if cid in self.bridge.state.cameras else []
        zone = bool(line) and any(line in {z.name for z in c.config.zones} for c in cams)
        bucket = "minute" if zone else str(self.bucket_combo.currentData())
        return HistoryQuery(start=float(start), end=float(end), bucket=bucket,
                            camera_id=cid, line=line, by_class=self.class_check.isChecked() and not zone, zone=zone)

    # ------------------------------------------------------------------ query (off the UI thread)
    def run_query(self) -> None:
        q = self.current_query()
        if q.end <= q.start:
            self.status.setText(self.tr("The range ends before it starts; pick a later 'to' time."))
            return
        if self.range_combo.currentData() in RANGES:
            self._show_range(q.start, q.end)
        self.query = q
        self._seq += 1
        seq = self._seq
        self.status.setText(self.tr("Reading the count history…"))
        # Only the newest query's answer is shown: an older one that comes back late is dropped.
        def on_rows(result: HistoryResult) -> None:
            if seq == self._seq:
                self.show_result(result)

        def on_error(error: str | None) -> None:
            if seq == self._seq:
                self._query_failed(error)

        self.bridge.query_history(q, on_rows, on_error)

    def _query_failed(self, error: str | None) -> None:
        if error:
            self.status.setText(error)

    def show_result(self, result: HistoryResult) -> None:
        self.gap_reasons = list(result.gap_reasons)
        self.show_rows(result.rows, result.coverage, result.per_camera)

    def show_rows(self, rows: list[HistoryRow], coverage: Coverage | None = None,
                  per_camera: dict[str, Coverage] | None = None) -> None:
        self.rows = list(rows)
        self.coverage = coverage
        self.per_camera = dict(per_camera or {})
        self.queries_done += 1
        self._fill_table()
        self._draw_chart()
        total = sum(r.count for r in self.rows)
        q = self.query
        what = self.tr("per {bucket}").format(bucket=word(q.bucket)) if q else ""
        self.status.setText(self.tr("{rows} rows · {n} counted {what}").format(rows=num(len(self.rows)), n=num(total),
                                                                               what=what))
        self.coverage_label.setText(self._coverage_text())

    def _coverage_text(self) -> str:
        c = self.coverage
        if c is None or c.since is None:
            return self.tr("Coverage unknown: no coverage data for this range (history from before it was kept)")
        text = self.tr("{watched} over the range").format(watched=percent(c.fraction))
        if c.gaps:
            secs = sum(b - a for a, b in c.gaps)
            n = len(c.gaps)
            text += (self.tr(" · 1 gap nobody watched") if n == 1 else
                     self.tr(" · {n} gaps nobody watched").format(n=n)) + f" ({_duration(secs)})"
            if len(self.gap_reasons) == 1:
                text += f": {self.gap_reasons[0]}"
        return text

    def bucket_fraction(self, camera_id: str, bucket_ts: float) -> float | None:
        c = self.per_camera.get(camera_id)
        b = c.of(bucket_ts) if c is not None else None
        return b.fraction if b is not None else None

    def _fill_table(self) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            vals = (date_time(r.bucket_ts), r.camera_id, r.line, word(r.direction), word(r.class_name))
            for j, v in enumerate(vals):
                self.table.setItem(i, j, QTableWidgetItem(v))
            it = QTableWidgetItem()
            it.setData(Qt.ItemDataRole.DisplayRole, r.count)
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 5, it)
            f = self.bucket_fraction(r.camera_id, r.bucket_ts)
            cov = QTableWidgetItem(word("unknown") if f is None else f"{num(100 * f, 1)} %")
            cov.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 6, cov)
        self.table.setSortingEnabled(True)

    def _draw_chart(self) -> None:
        # A query result is a new picture, not a live series: replacing the bars is right here.
        for item in [*self.bars, *self.gap_regions, *self.bucket_labels]:
            self.chart.removeItem(item)
        self.bars, self.gap_regions, self.bucket_labels = [], [], []
        self.legend.clear()
        if self.query is None:
            return
        t = theme.current()
        self._draw_gaps(t)
        if not self.rows:
            self.chart.setXRange(self.query.start, self.query.end, padding=0.01)
            return
        width = BUCKET_S[self.query.bucket] * 0.8
        series = series_by(self.rows, self.query.by_class)
        buckets = sorted({ts for s in series.values() for ts in s})
        base = np.zeros(len(buckets))
        for i, (name, values) in enumerate(sorted(series.items(), key=lambda kv: -sum(kv[1].values()))):
            h = np.array([values.get(ts, 0) for ts in buckets], dtype=float)
            x = np.array(buckets, dtype=float) + BUCKET_S[self.query.bucket] / 2
            color = t.series[i % len(t.series)]
            bar = pg.BarGraphItem(x=x, y0=base.copy(), height=h, width=width, brush=color, pen=pg.mkPen(None),
                                  name=word(name))
            self.chart.addItem(bar)  # named items join the legend by themselves
            self.bars.append(bar)
            base = base + h
        self._label_buckets(t, dict(zip(buckets, base)))
        self.chart.setXRange(self.query.start, self.query.end, padding=0.01)

    def _draw_gaps(self, t: theme.Theme) -> None:
        """Shade what nobody watched, behind the bars; a bucket with nothing watched is all shade."""
        q, c = self.query, self.coverage
        if q is None or c is None:
            return
        brush = pg.mkBrush(t.crit + "40")
        why = dict(zip(c.gaps, self.gap_reasons))
        for a, b in drawn_gaps(c.gaps, q.end - q.start):
            region = pg.LinearRegionItem(values=(a, b), movable=False, brush=brush, pen=pg.mkPen(t.crit + "90"))
            region.setZValue(-10)
            reason = why.get((a, b))
            region.setToolTip(self.tr("not watched: {start} – {end} ({length})").format(
                                  start=clock_time(a), end=clock_time(b), length=_duration(b - a))
                              + (f"\n{reason}" if reason else ""))
            self.chart.addItem(region)
            self.gap_regions.append(region)

    def _label_buckets(self, t: theme.Theme, tops: dict[float, float]) -> None:
        """"97.8 %" over each bucket watched only in part (a fully watched one needs no word)."""
        q, c = self.query, self.coverage
        if q is None or c is None or len(c.buckets) > MAX_BUCKET_LABELS:
            return
        size = BUCKET_S[q.bucket]
        for b in c.buckets:
            f = b.fraction
            if f is None or f >= 0.9995 or b.unwatched:
                continue
            item = pg.TextItem(f"{num(100 * f, 1)} %", color=t.warn, anchor=(0.5, 1.0))
            item.setPos(b.bucket_ts + size / 2, tops.get(b.bucket_ts, 0.0))
            self.chart.addItem(item)
            self.bucket_labels.append(item)

    # ------------------------------------------------------------------ export
    def export_csv(self, path: str | None = None) -> None:
        if not self.rows and not any(b.unwatched for c in self.per_camera.values() for b in c.buckets):
            self.status.setText(self.tr("Nothing to export: run a query that returns counts first."))
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, self.tr("Export counts"), "campool-counts.csv", "CSV (*.csv)")
            if not path:
                return
        rows, per_camera = list(self.rows), dict(self.per_camera)
        line = self.query.line if self.query is not None else None
        self.bridge.call(self.tr("exporting counts to {path}").format(path=path),
                         lambda: write_csv(path, rows, per_camera, line),
                         on_result=lambda n: self.status.setText(self.tr("Exported {n} rows to {path}").format(
                             n=num(n), path=path)))

    def shown(self) -> None:
        self._fill_cameras()
        if self.queries_done == 0:
            self.run_query()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{num(seconds)} s"
    if seconds < 7200:
        return QCoreApplication.translate("HistoryView", "{n} min").format(n=num(seconds / 60))
    return QCoreApplication.translate("HistoryView", "{n} h").format(n=num(seconds / 3600, 1))
