"""Jobs: recorded files counted across the pool (issue #13): the queue, progress, segments, results.

The view only shows `JobView`s (pool/job_service.py) that the bridge hands it from the change
stream (`PoolBridge.jobsChanged`) and asks the master for the rest (a job's report, a new job,
a cancel) through `bridge.call`, off the UI thread. The Add Job dialog checks what it can
itself (lines, a file given) and shows the master's one-line refusal (not a video, a line
outside the picture) in place; nothing is queued then.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from campool_gui.pool.job_report import JobReport
from campool_gui.pool.job_service import JobsChanged, JobView
from campool_gui.pool.jobs import JobError, JobSpec
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import Page, button, label
from campool_worker.camera import PRIORITIES, ConfigError, CountingLine, Zone

ProgressRole = Qt.ItemDataRole.UserRole + 1


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class ProgressDelegate(QStyledItemDelegate):
    """A progress bar in a table cell (the model gives 0..1 under ProgressRole)."""

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        value = index.data(ProgressRole)
        if value is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 6, -4, -6)  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(float(value) * 1000)
        bar.text = f"{float(value) * 100:.0f} %"
        bar.textVisible = True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class _Table(QAbstractTableModel):
    columns: tuple[str, ...] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[Any] = []

    def set_rows(self, rows: list[Any]) -> None:
        """The same rows with new values (a job's progress, every poll) change in place, so the
        operator's scroll position and selection stay; other rows reset the table."""
        if len(rows) == len(self.rows) and all(self.key(a) == self.key(b) for a, b in zip(rows, self.rows)):
            self.rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    @staticmethod
    def key(row: Any) -> Any:
        return row

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section]
        return None


# Column headers, translated in their model's context (QT_TRANSLATE_NOOP marks them for lupdate).
JOB_HEADERS = (QT_TRANSLATE_NOOP("JobsModel", "Job"), QT_TRANSLATE_NOOP("JobsModel", "Priority"),
    QT_TRANSLATE_NOOP("JobsModel", "State"), QT_TRANSLATE_NOOP("JobsModel", "Progress"),
    QT_TRANSLATE_NOOP("JobsModel", "ETA"), QT_TRANSLATE_NOOP("JobsModel", "Segments"),
    QT_TRANSLATE_NOOP("JobsModel", "Retried"), QT_TRANSLATE_NOOP("JobsModel", "Files"))
SEGMENT_HEADERS = (QT_TRANSLATE_NOOP("SegmentsModel", "#"), QT_TRANSLATE_NOOP("SegmentsModel", "File"),
    QT_TRANSLATE_NOOP("SegmentsModel", "Stretch"), QT_TRANSLATE_NOOP("SegmentsModel", "State"),
    QT_TRANSLATE_NOOP("SegmentsModel", "Progress"), QT_TRANSLATE_NOOP("SegmentsModel", "Worker"),
    QT_TRANSLATE_NOOP("SegmentsModel", "Try"), QT_TRANSLATE_NOOP("SegmentsModel", "Last error"))


class JobsModel(_Table):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = tuple(QCoreApplication.translate("JobsModel", h) for h in JOB_HEADERS)

    @staticmethod
    def key(row: Any) -> Any:
        return row.job_id

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        j: JobView = self.rows[index.row()]
        col = index.column()
        if role == ProgressRole and col == 3:
            return j.progress
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        done = sum(1 for s in j.segments if s.state == "done")
        return (j.name, j.priority, j.state + (f" ({j.dead} dead)" if j.dead else ""), None, _eta(j.eta_s),
                f"{done}/{len(j.segments)}", str(j.retried), ", ".join(Path(f).name for f in j.files))[col]


class SegmentsModel(_Table):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = tuple(QCoreApplication.translate("SegmentsModel", h) for h in SEGMENT_HEADERS)

    @staticmethod
    def key(row: Any) -> Any:
        return (row.file, row.index)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        s = self.rows[index.row()]
        col = index.column()
        if role == ProgressRole and col == 4:
            return s.progress
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return (str(s.index), Path(s.file).name, f"{s.start_s:.0f}–{s.end_s:.0f} s", s.state, None,
                s.worker_id or "", str(s.attempt), s.error)[col]


class AddJobDialog(QDialog):
    """Files or a folder, lines, zones, classes, model, priority, interval, start time. `spec()`
    builds the JobSpec or raises JobError with the line to show; `show_error` puts the master's
    refusal under the form."""

    def __init__(self, parent: QWidget | None = None, *, default_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Add job"))
        self.setMinimumWidth(620)
        self._dir = default_dir
        form = QFormLayout()
        self.files = QListWidget()
        self.files.setMaximumHeight(90)
        pick = QHBoxLayout()
        add_files = button(self.tr("Add files…"), "add")
        add_folder = button(self.tr("Add folder…"), "folder")
        add_files.clicked.connect(self._add_files)
        add_folder.clicked.connect(self._add_folder)
        pick.addWidget(add_files)
        pick.addWidget(add_folder)
        pick.addStretch(1)
        box = QVBoxLayout()
        box.addWidget(self.files)
        box.addLayout(pick)
        form.addRow(self.tr("Recordings"), box)
        self.lines = QPlainTextEdit()
        self.lines.setPlaceholderText(self.tr("one per row: NAME:x1,y1,x2,y2   e.g. near:0,500,1280,500"))
        self.lines.setMaximumHeight(70)
        form.addRow(self.tr("Lines"), self.lines)
        self.zones = QPlainTextEdit()
        self.zones.setPlaceholderText(self.tr("one per row: NAME:x1,y1,x2,y2,x3,y3,..."))
        self.zones.setMaximumHeight(50)
        form.addRow(self.tr("Zones"), self.zones)
        self.classes = QLineEdit()
        self.classes.setPlaceholderText(self.tr("all classes; or e.g. car,truck,bus,motorcycle"))
        form.addRow(self.tr("Classes"), self.classes)
        self.model = QLineEdit()
        self.model.setPlaceholderText(self.tr("ONNX model path (empty: the motion detector, not exact at cuts)"))
        form.addRow(self.tr("Model"), self.model)
        self.priority = QComboBox()
        self.priority.addItems(list(PRIORITIES))
        self.priority.setCurrentText("normal")
        form.addRow(self.tr("Priority"), self.priority)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(1, 1440)
        self.interval.setValue(15)
        self.interval.setSuffix(self.tr(" min"))
        form.addRow(self.tr("Report interval"), self.interval)
        self.start = QLineEdit()
        self.start.setPlaceholderText(self.tr("from the file (metadata, else its time); or 2026-03-02T07:30"))
        form.addRow(self.tr("Recording start"), self.start)
        self.error = label("", "error", wrap=True)
        self.error.setStyleSheet("color: #d04040;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("Queue job"))
        self.buttons.rejected.connect(self.reject)
        v = QVBoxLayout(self)
        v.addLayout(form)
        v.addWidget(self.error)
        v.addWidget(self.buttons)

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Recordings"), self._dir,
                                                self.tr("Videos (*.mp4 *.mov *.avi *.mkv *.ts *.m4v);;All files (*)"))
        self.files.addItems(paths)

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("A folder of recordings"), self._dir)
        if path:
            self.files.addItem(path)

    def show_error(self, text: str) -> None:
        self.error.setText(text)

    def spec(self) -> JobSpec:
        from datetime import datetime

        def rows(w: QPlainTextEdit) -> list[str]:
            return [r.strip() for r in w.toPlainText().splitlines() if r.strip()]

        try:
            lines = tuple(CountingLine.parse(r) for r in rows(self.lines))
            zones = tuple(Zone.parse(r) for r in rows(self.zones))
        except ConfigError as exc:
            raise JobError(str(exc)) from None
        start = None
        if self.start.text().strip():
            try:
                start = datetime.fromisoformat(self.start.text().strip()).timestamp()
            except ValueError:
                raise JobError(self.tr("the recording start is not a time such as 2026-03-02T07:30")) from None
        classes = tuple(c.strip() for c in self.classes.text().split(",") if c.strip()) or None
        files = tuple(self.files.item(i).text() for i in range(self.files.count()))
        return JobSpec(files=files, lines=lines, zones=zones, classes=classes, model=self.model.text().strip() or None,
                       priority=self.priority.currentText(), interval_min=self.interval.value(), start_time=start)


class JobsView(Page):
    def __init__(self, bridge: PoolBridge, default_dir: str = "") -> None:
        super().__init__()
        self.title_label.setText(self.tr("Jobs"))
        self.subtitle_label.setText(self.tr("Recorded footage counted across the pool; live cameras come first"))
        self.bridge = bridge
        self.default_dir = default_dir
        self.jobs: dict[str, JobView] = {}
        self.report: JobReport | None = None
        # (job, state) of the report being read: progress events keep coming meanwhile, and each
        # would read the same report again from the history
        self._reading: tuple[str, str] | None = None
        self.add_btn = self.add_action_button(self.tr("Add job"), "add", primary=True)
        self.cancel_btn = self.add_action_button(self.tr("Cancel job"), "remove")
        self.csv_btn = self.add_action_button(self.tr("Export CSV"), "export")
        self.html_btn = self.add_action_button(self.tr("Printable report"), "export")
        self.add_btn.clicked.connect(self.open_add_dialog)
        self.cancel_btn.clicked.connect(self._cancel)
        self.csv_btn.clicked.connect(lambda: self._export("csv"))
        self.html_btn.clicked.connect(lambda: self._export("html"))

        self.model = JobsModel(self)
        self.table = self._table(self.model, 3)
        self.table.setColumnWidth(0, 200)
        self.seg_model = SegmentsModel(self)
        self.seg_table = self._table(self.seg_model, 4)
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.result.setPlaceholderText(self.tr("Select a finished job to see its counts"))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.seg_table)
        lower.addWidget(self.result)
        lower.setSizes([700, 400])
        split.addWidget(lower)
        split.setSizes([300, 400])
        self.body.addWidget(split, 1)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        bridge.jobsChanged.connect(self._jobs_changed)
        self._sync_buttons()

    def _table(self, model: _Table, progress_col: int) -> QTableView:
        t = QTableView()
        t.setModel(model)
        t.setItemDelegateForColumn(progress_col, ProgressDelegate(t))
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        t.verticalHeader().setVisible(False)
        t.horizontalHeader().setStretchLastSection(True)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        t.setColumnWidth(progress_col, 160)
        return t

    # ------------------------------------------------------------------ state in

    def shown(self) -> None:
        self.bridge.call(self.tr("reading the jobs"), self.bridge.master.job_views, on_result=self.set_jobs)

    def set_jobs(self, views: list[JobView]) -> None:
        self.jobs = {v.job_id: v for v in views}
        self._refresh()

    def _jobs_changed(self, ev: JobsChanged) -> None:
        for v in ev.jobs:
            self.jobs[v.job_id] = v
        self._refresh()

    def _refresh(self) -> None:
        selected = self.selected_id()
        rows = sorted(self.jobs.values(), key=lambda v: (v.finished_at is not None, -v.submitted_at))
        self.model.set_rows(rows)
        if selected is not None:
            for i, v in enumerate(rows):
                if v.job_id == selected:
                    self.table.selectRow(i)
        elif rows:
            self.table.selectRow(0)
        self._selected()

    def selected_id(self) -> str | None:
        idx = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.model.rows[idx[0].row()].job_id if idx and idx[0].row() < len(self.model.rows) else None

    def _selected(self) -> None:
        jid = self.selected_id()
        job = self.jobs.get(jid) if jid else None
        self.seg_model.set_rows(list(job.segments) if job else [])
        if job is not None and job.finished_at is not None and (self.report is None or self.report.job_id != jid
                                                                or self.report.state != job.state):
            if self._reading != (job.job_id, job.state):
                self._reading = (job.job_id, job.state)
                self.bridge.call(self.tr("reading the job's result"), lambda: self.bridge.master.job_report(jid),
                                 on_result=self._show_report, on_done=self._report_failed)
        elif job is not None and job.finished_at is None:
            self.report = None
            self.result.setPlainText(self.tr("{state}: {pct:.0f} % counted, about {eta} left").format(
                state=job.state, pct=job.progress * 100, eta=_eta(job.eta_s)))
        self._sync_buttons()

    def _report_failed(self, error: str | None) -> None:
        if error:
            self._reading = None   # the next change tries again

    def _show_report(self, rep: JobReport) -> None:
        self._reading = None
        self.report = rep
        text = [self.tr("{name}: {state}, {n} segment(s), {r} retried").format(
            name=rep.name, state=rep.state, n=rep.segments, r=rep.retried)]
        for name, lc in sorted(rep.counts.items()):
            per = ", ".join(f"{c} {v.get('in', 0)}/{v.get('out', 0)}" for c, v in sorted(lc.by_class.items()))
            text.append(self.tr("line {name}: in {i}, out {o}").format(name=name, i=lc.in_total, o=lc.out_total)
                        + (f"  ({per})" if per else ""))
        for m in rep.missing:
            text.append(self.tr("missing {file} {a}–{b} s: {why}").format(file=Path(m["file"]).name, a=m["start_s"],
                                                                           b=m["end_s"], why=m["reason"]))
        rows = rep.intervals()
        if rows:
            text.append("")
            text.append(self.tr("interval start        line   dir  class        count"))
            text.extend(f"{r['start_local']}  {r['line']:<6} {r['direction']:<4} {r['class']:<12} {r['count']:>5}"
                        for r in rows[:200])
        self.result.setPlainText("\n".join(text))
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        jid = self.selected_id()
        job = self.jobs.get(jid) if jid else None
        self.cancel_btn.setEnabled(job is not None and job.finished_at is None)
        have = self.report is not None and job is not None and self.report.job_id == job.job_id
        self.csv_btn.setEnabled(have)
        self.html_btn.setEnabled(have)

    # ------------------------------------------------------------------ intents out

    def open_add_dialog(self) -> AddJobDialog:
        dlg = AddJobDialog(self, default_dir=self.default_dir)

        def accept() -> None:
            try:
                spec = dlg.spec()
            except JobError as exc:
                dlg.show_error(str(exc))
                return
            dlg.show_error(self.tr("checking the recordings…"))
            dlg.buttons.setEnabled(False)

            def submitted(error: str | None) -> None:
                dlg.buttons.setEnabled(True)
                if error:
                    dlg.show_error(error)
                else:
                    dlg.accept()
                    self.shown()

            self.bridge.call(self.tr("queueing the job"), lambda: self.bridge.master.submit_job(spec),
                             on_done=submitted)

        dlg.buttons.accepted.connect(accept)
        dlg.open()
        return dlg

    def _cancel(self) -> None:
        jid = self.selected_id()
        if jid:
            self.bridge.call(self.tr("cancelling the job"), lambda: self.bridge.master.cancel_job(jid))

    def _export(self, kind: str) -> None:
        rep = self.report
        if rep is None:
            return
        from campool_gui.pool.job_report import to_csv, to_html

        suffix = ".csv" if kind == "csv" else ".html"
        stamp = time.strftime("%Y%m%d-%H%M", time.localtime(rep.start))
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export"), f"{rep.name}-{stamp}{suffix}")
        if not path:
            return
        text = to_csv(rep) if kind == "csv" else to_html(rep)

        def write() -> None:
            Path(path).write_text(text, encoding="utf-8")

        self.bridge.call(self.tr("writing the report"), write)
