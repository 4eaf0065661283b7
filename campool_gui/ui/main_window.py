"""The main window: side navigation, the eight views, status bar, tray, remembered state."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QByteArray, QCoreApplication, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QStackedWidget,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from campool_gui.integrations.hub import Integrations
from campool_gui.pool.alerts import Alert
from campool_gui.ui import theme
from campool_gui.ui.alerts_view import AlertsView
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.cameras_view import CamerasView
from campool_gui.ui.common import Page, label
from campool_gui.ui.display import alert_source, alert_text, policy_word
from campool_gui.ui.history_view import HistoryView
from campool_gui.ui.i18n import num
from campool_gui.ui.jobs_view import JobsView
from campool_gui.ui.live_view import LiveView
from campool_gui.ui.overview_view import OverviewView
from campool_gui.ui.settings_view import SettingsView
from campool_gui.ui.workers_view import WorkersView

log = logging.getLogger(__name__)

# The views and their names in the side bar (translated where shown: QT_TRANSLATE_NOOP marks them).
VIEWS = (("overview", QT_TRANSLATE_NOOP("MainWindow", "Overview")),
         ("workers", QT_TRANSLATE_NOOP("MainWindow", "Workers")),
         ("cameras", QT_TRANSLATE_NOOP("MainWindow", "Cameras")), ("live", QT_TRANSLATE_NOOP("MainWindow", "Live")),
         ("alerts", QT_TRANSLATE_NOOP("MainWindow", "Alerts")), ("history", QT_TRANSLATE_NOOP("MainWindow", "History")),
         ("jobs", QT_TRANSLATE_NOOP("MainWindow", "Jobs")), ("settings", QT_TRANSLATE_NOOP("MainWindow", "Settings")))


def view_name(key: str) -> str:
    """A view's name in the side bar, in the operator's language."""
    return QCoreApplication.translate("MainWindow", dict(VIEWS)[key])


class MainWindow(QMainWindow):
    def __init__(self, bridge: PoolBridge, settings: QSettings, *, data_dir: str = "",
                 shared_data: Path | None = None, tray: bool = True,
                 integrations: Integrations | None = None) -> None:
        super().__init__()
        self.bridge = bridge
        self.settings = settings
        self.setWindowTitle("CamPool")
        self.setWindowIcon(theme.app_icon())
        self.setMinimumSize(1100, 700)
        self.critical_notified: list[Alert] = []

        root = QWidget()
        h = QHBoxLayout(root)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(0)
        h.addWidget(self._build_sidebar())
        self.stack = QStackedWidget()
        h.addWidget(self.stack, 1)
        self.setCentralWidget(root)

        self.pages: dict[str, Page] = {
            "overview": OverviewView(bridge),
            "workers": WorkersView(bridge),
            "cameras": CamerasView(bridge, shared_data),
            "live": LiveView(bridge),
            "alerts": AlertsView(bridge),
            "history": HistoryView(bridge),
            "jobs": JobsView(bridge, str(shared_data / "videos") if shared_data else ""),
            "settings": SettingsView(bridge, settings, data_dir, integrations=integrations),
        }
        for key, _ in VIEWS:
            self.stack.addWidget(self.pages[key])
        self.pages["settings"].themeChanged.connect(self.apply_theme_choice)  # type: ignore[attr-defined]
        self._current: str | None = None

        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.sb_workers = QLabel()
        self.sb_cameras = QLabel()
        self.sb_throughput = QLabel()
        self.sb_store = QLabel(self.tr("data: {path}").format(path=data_dir) if data_dir else "")
        for w in (self.sb_workers, self.sb_cameras, self.sb_throughput, self.sb_store):
            sb.addPermanentWidget(w)
        bridge.stateChanged.connect(self._sync_status)
        bridge.intentFailed.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.pages["cameras"].message.connect(lambda text: self.statusBar().showMessage(text, 10000))  # type: ignore[attr-defined]
        bridge.alertRaised.connect(self._on_alert)

        self.tray: QSystemTrayIcon | None = None
        if tray and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(theme.app_icon(), self)
            self.tray.setToolTip("CamPool")
            self.tray.activated.connect(lambda _r: (self.showNormal(), self.raise_(), self.activateWindow()))
            self.tray.show()

        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda _s: self.apply_theme_choice(
                str(self.settings.value("ui/theme", "system"))))
        self._restore()
        self._sync_status()

    # ------------------------------------------------------------------ sidebar
    def _build_sidebar(self) -> QWidget:
        bar = QFrame()
        bar.setObjectName("sidebar")
        bar.setFixedWidth(212)
        v = QVBoxLayout(bar)
        v.setContentsMargins(12, 16, 12, 12)
        v.setSpacing(4)
        brand = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(theme.app_icon().pixmap(30, 30))
        brand.addWidget(logo)
        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(label("CamPool", "brand"))
        names.addWidget(label(self.tr("control center"), "brandSub"))
        brand.addLayout(names, 1)
        v.addLayout(brand)
        v.addSpacing(18)
        self.nav = QButtonGroup(self)
        self.nav.setExclusive(True)
        self.nav_buttons: dict[str, QToolButton] = {}
        for i, (key, _name) in enumerate(VIEWS):
            text = view_name(key)
            b = QToolButton()
            b.setText(f"  {text}")
            b.setIcon(theme.icon(key, theme.current().sidebar_text, 20))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setCheckable(True)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setMinimumHeight(40)
            b.setToolTip(f"{text}  (Ctrl+{i + 1})")
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            b.clicked.connect(lambda _c=False, k=key: self.show_view(k))
            self.nav.addButton(b)
            self.nav_buttons[key] = b
            v.addWidget(b)
            act = QAction(self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _c=False, k=key: self.show_view(k))
            self.addAction(act)
        v.addStretch(1)
        self.pool_label = label("", "sidebarFooter")
        self.pool_label.setWordWrap(True)
        v.addWidget(self.pool_label)
        return bar

    def show_view(self, key: str) -> None:
        if key not in self.pages:
            raise KeyError(f"unknown view {key!r}; one of {', '.join(k for k, _ in VIEWS)}")
        if self._current == key:
            return
        if self._current is not None:
            self.pages[self._current].hidden()
        self._current = key
        self.stack.setCurrentWidget(self.pages[key])
        self.nav_buttons[key].setChecked(True)
        self._update_nav_icons()
        self.pages[key].shown()

    @property
    def current_view(self) -> str | None:
        return self._current

    def _update_nav_icons(self) -> None:
        t = theme.current()
        for key, b in self.nav_buttons.items():
            b.setIcon(theme.icon(key, "#ffffff" if key == self._current else t.sidebar_text, 20))

    # ------------------------------------------------------------------ status
    def _sync_status(self) -> None:
        tt = self.bridge.state.totals
        t = theme.current()
        self.sb_workers.setText(self.tr("● {online}/{total} workers online").format(online=tt.workers_online,
                                                                                    total=tt.workers_total))
        self.sb_workers.setStyleSheet(f"color: {t.crit if tt.workers_offline else t.ok};")
        self.sb_cameras.setText(self.tr("{running}/{total} cameras running").format(running=tt.cameras_running,
                                                                                    total=tt.cameras_total))
        self.sb_throughput.setText(self.tr("{n} counts/min").format(n=num(tt.throughput_per_min)))
        open_alerts = sum(1 for a in self.bridge.state.alerts.values() if a.state == "raised")
        alerts = view_name("alerts")
        self.nav_buttons["alerts"].setText(f"  {alerts} ({open_alerts})" if open_alerts else f"  {alerts}")
        disc = tt.workers_discovered
        workers = view_name("workers")
        self.nav_buttons["workers"].setText(self.tr("  {workers} ({n} new)").format(workers=workers, n=disc)
                                            if disc else f"  {workers}")
        policy = self.bridge.state.policy
        self.pool_label.setText(self.tr("{online} of {total} workers online").format(
                                    online=tt.workers_online, total=tt.workers_total) + "\n"
                                + self.tr("{running} of {total} cameras running").format(
                                    running=tt.cameras_running, total=tt.cameras_total) + "\n"
                                + self.tr("policy: {name}").format(name=policy_word(policy) if policy else "—"))

    def _on_alert(self, alert: Alert) -> None:
        if alert.severity != "critical":
            return
        self.critical_notified.append(alert)
        text = f"{alert_source(alert, self.bridge.state.names)}: {alert_text(alert)}"
        if self.tray is not None:
            self.tray.showMessage(self.tr("CamPool — critical alert"), text, QSystemTrayIcon.MessageIcon.Critical,
                                  10000)
        self.statusBar().showMessage(self.tr("Critical alert: {text}").format(text=text), 15000)

    # ------------------------------------------------------------------ theme and state
    def apply_theme_choice(self, choice: str) -> None:
        app = QApplication.instance()
        theme.apply(app, theme.resolve(choice))
        self._update_nav_icons()
        for page in self.pages.values():
            page.apply_theme()
        self.update()

    def _restore(self) -> None:
        geo = self.settings.value("window/geometry")
        if isinstance(geo, (QByteArray, bytes)) and geo:
            self.restoreGeometry(QByteArray(geo))
        size = self.settings.value("window/size")
        # restoreGeometry() shrinks a window to the screen it lands on; the size is kept on its own
        # too, so a window saved on a big monitor comes back at its size when that monitor is back.
        if isinstance(size, QSize) and size.isValid() and not self.isMaximized():
            self.resize(size)
        elif not geo:
            self.resize(1440, 900)
        state = self.settings.value("window/state")
        if isinstance(state, (QByteArray, bytes)) and state:
            self.restoreState(QByteArray(state))
        for key in ("workers", "cameras"):
            split = getattr(self.pages[key], "splitter", None)
            val = self.settings.value(f"splitter/{key}")
            if split is not None and isinstance(val, (QByteArray, bytes)) and val:
                split.restoreState(QByteArray(val))
        grid = self.settings.value("live/grid")
        if grid is not None:
            try:
                self.pages["live"].set_grid(int(grid))  # type: ignore[attr-defined]
            except (TypeError, ValueError):
                log.info("ignored a bad remembered grid size %r", grid)
        view = str(self.settings.value("window/view", "overview"))
        self.show_view(view if view in self.pages else "overview")

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/size", self.size())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/view", self._current or "overview")
        self.settings.setValue("live/grid", self.pages["live"].grid_n)  # type: ignore[attr-defined]
        for key in ("workers", "cameras"):
            split = getattr(self.pages[key], "splitter", None)
            if split is not None:
                self.settings.setValue(f"splitter/{key}", split.saveState())
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.save_state()
        if self._current is not None:
            self.pages[self._current].hidden()  # stop previews
        if self.tray is not None:
            self.tray.hide()
        super().closeEvent(event)
