"""Alerts: what needs the operator, newest first; acknowledge or resolve.

Rows are the pool's own `Alert`s; a raised alert is shown as "open", the operator's word.
"""
from __future__ import annotations

import time

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHeaderView,
    QStackedWidget,
    QTableView,
    QToolButton,
    QWidget,
)

from campool_gui.pool.alerts import Alert
from campool_gui.ui import theme
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import Page, label
from campool_gui.ui.display import alert_source, alert_state_label, alert_text, state_word
from campool_gui.ui.i18n import clock_time, date_time

COLUMNS = ("Severity", "Time", "Source", "Alert", "State")
HEADERS = (QT_TRANSLATE_NOOP("AlertsModel", "Severity"), QT_TRANSLATE_NOOP("AlertsModel", "Time"),
           QT_TRANSLATE_NOOP("AlertsModel", "Source"), QT_TRANSLATE_NOOP("AlertsModel", "Alert"),
           QT_TRANSLATE_NOOP("AlertsModel", "State"))  # the header of each of COLUMNS
SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}


class AlertsModel(QAbstractTableModel):
    AlertIdRole = Qt.ItemDataRole.UserRole + 1
    SortRole = Qt.ItemDataRole.UserRole + 2
    StateRole = Qt.ItemDataRole.UserRole + 3

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[Alert] = []
        self._names: dict[str, str] = {}  # subject id -> the operator's name for it

    def set_alerts(self, alerts: list[Alert], names: dict[str, str] | None = None) -> None:
        if names is not None:
            self._names = names
        new = sorted(alerts, key=lambda a: -a.raised_at)
        if [a.id for a in new] == [a.id for a in self.rows]:
            self.rows = new
            if new:
                self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.rows = new
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return QCoreApplication.translate("AlertsModel", HEADERS[section]).upper()
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        a = self.rows[index.row()]
        col = COLUMNS[index.column()]
        t = theme.current()
        if role == self.AlertIdRole:
            return a.id
        if role == self.StateRole:
            return a.state
        if role == self.SortRole:
            return {"Severity": SEVERITY_RANK.get(a.severity, 9), "Time": -a.raised_at}.get(col, self.data(index))
        if role == Qt.ItemDataRole.DisplayRole:
            if col == "Severity":
                return state_word(a.severity)
            if col == "Time":
                age = time.time() - a.raised_at
                return clock_time(a.raised_at) if age < 86400 else date_time(a.raised_at)
            if col == "Source":
                return alert_source(a, self._names)
            if col == "Alert":
                return alert_text(a)
            if col == "State":
                return alert_state_label(a.state)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == "Severity":
                return QColor(t.severity_color(a.severity))
            if a.state == "resolved":
                return QColor(t.muted)
        if role == Qt.ItemDataRole.DecorationRole and col == "Severity":
            return theme.dot(t.severity_color(a.severity))
        if role == Qt.ItemDataRole.FontRole and a.state == "raised" and col == "Alert":
            f = QFont()
            f.setBold(True)
            return f
        if role == Qt.ItemDataRole.ToolTipRole:
            return alert_text(a)
        return None


class _StateFilter(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.show = "active"  # active | all
        self.setSortRole(AlertsModel.SortRole)

    def filterAcceptsRow(self, row, parent) -> bool:
        if self.show == "all":
            return True
        state = self.sourceModel().index(row, 0, parent).data(AlertsModel.StateRole)
        return state != "resolved"


class AlertsView(Page):
    title = QT_TRANSLATE_NOOP("AlertsView", "Alerts")
    subtitle = QT_TRANSLATE_NOOP("AlertsView", "Worker failures, lost streams, overloads. Acknowledge to say you "
                                               "are on it; resolve when fixed.")

    def __init__(self, bridge: PoolBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.filter_group = QButtonGroup(self)
        for i, (key, text) in enumerate((("active", self.tr("Active")), ("all", self.tr("All")))):
            b = QToolButton()
            b.setObjectName("segment")
            b.setText(text)
            b.setCheckable(True)
            b.setChecked(i == 0)
            b.setProperty("filter", key)
            self.filter_group.addButton(b)
            self.actions_layout.addWidget(b)
        self.filter_group.buttonClicked.connect(lambda b: self.set_filter(b.property("filter")))
        self.actions_layout.addSpacing(12)
        self.ack_button = self.add_action_button(self.tr("Acknowledge"), "ack")
        self.resolve_button = self.add_action_button(self.tr("Resolve"), "resolve")
        self.ack_button.clicked.connect(self.ack_selected)
        self.resolve_button.clicked.connect(self.resolve_selected)

        self.model = AlertsModel(self)
        self.proxy = _StateFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(32)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for col, w in ((0, 110), (1, 150), (2, 200), (4, 120)):
            self.table.setColumnWidth(col, w)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.empty = label("", "muted", wrap=True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.empty)
        self.body.addWidget(self.stack, 1)
        self.bridge.alertsChanged.connect(self.refresh_when_visible)
        self.sync()

    def set_filter(self, key: str) -> None:
        self.proxy.show = key
        self.proxy.invalidate()
        for b in self.filter_group.buttons():
            b.setChecked(b.property("filter") == key)
        self._update_empty()

    def _update_empty(self) -> None:
        if self.proxy.rowCount() == 0:
            self.empty.setText(self.tr("All clear — no active alerts.\n\nA worker that stops answering, a camera "
                                       "whose stream is lost, a worker that runs hot: they appear here, newest first.")
                               if self.proxy.show == "active" else self.tr("No alerts yet."))
            self.stack.setCurrentWidget(self.empty)
        else:
            self.stack.setCurrentWidget(self.table)

    def sync(self) -> None:
        st = self.bridge.state
        alerts = list(st.alerts.values())
        self.model.set_alerts(alerts, st.names)
        open_n = sum(1 for a in alerts if a.state == "raised")
        crit = sum(1 for a in alerts if a.open and a.severity == "critical")
        self.subtitle_label.setText(self.tr("{open} open · {crit} critical active · {total} in total. "
                                            "Acknowledge to say you are on it; resolve when fixed.").format(
                                                open=open_n, crit=crit, total=len(alerts)))
        self._update_buttons()
        self._update_empty()

    def selected(self) -> list[Alert]:
        ids = {self.proxy.data(r, AlertsModel.AlertIdRole) for r in self.table.selectionModel().selectedRows()}
        return [a for a in self.model.rows if a.id in ids]

    def _update_buttons(self) -> None:
        sel = self.selected()
        self.ack_button.setEnabled(any(a.state == "raised" for a in sel))
        self.resolve_button.setEnabled(any(a.open for a in sel))

    def ack_selected(self) -> None:
        for a in self.selected():
            if a.state == "raised":
                self.bridge.ack_alert(a.id)

    def resolve_selected(self) -> None:
        for a in self.selected():
            if a.open:
                self.bridge.resolve_alert(a.id)
