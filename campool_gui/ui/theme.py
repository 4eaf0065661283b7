"""Colours, palette, stylesheet and icons for the control center.

One `Theme` (a set of named colours) drives the QPalette, the Qt stylesheet, the
pyqtgraph charts and the painted overlays, so a dark/light switch changes all of them
together. The default follows the system colour scheme (Qt 6.5+ style hints).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


@dataclass(frozen=True)
class Theme:
    name: str  # "dark" | "light"
    window: str
    surface: str  # cards, tables
    raised: str  # hover, inputs
    border: str
    text: str
    muted: str
    accent: str
    accent_text: str
    sidebar: str
    sidebar_text: str
    sidebar_active: str
    ok: str
    warn: str
    crit: str
    info: str
    idle: str
    series: tuple[str, ...]  # chart colours, in order

    def status_color(self, status: str) -> str:
        """The colour of a worker or camera state, the same everywhere in the UI."""
        return {
            "online": self.ok, "running": self.ok, "ready": self.ok,
            "busy": self.info, "starting": self.info, "draining": self.info, "adopting": self.info,
            "assigning": self.info,
            "degraded": self.warn, "reconnecting": self.warn, "pending": self.warn, "retrying": self.warn,
            "waiting": self.warn, "unassigned": self.idle,
            "offline": self.crit, "failed": self.crit, "lost": self.crit, "dead_letter": self.crit,
            "stopped": self.idle, "discovered": self.accent,
        }.get(status, self.idle)

    def severity_color(self, severity: str) -> str:
        return {"critical": self.crit, "error": self.crit, "warning": self.warn, "info": self.info}.get(severity, self.muted)


DARK = Theme(
    name="dark", window="#111419", surface="#181c23", raised="#212631", border="#2a303c",
    text="#e4e8ef", muted="#8a93a4", accent="#4c8dff", accent_text="#ffffff",
    sidebar="#0b0e12", sidebar_text="#aab3c2", sidebar_active="#1d2532",
    ok="#2fbf71", warn="#f0a020", crit="#ef4f55", info="#38a8e8", idle="#6b7385",
    series=("#4c8dff", "#2fbf71", "#f0a020", "#c678dd", "#38c8c8", "#ef4f55", "#e5c07b", "#9aa5ce"),
)
LIGHT = Theme(
    name="light", window="#f3f5f8", surface="#ffffff", raised="#eef1f5", border="#dde2ea",
    text="#1b2029", muted="#667085", accent="#2f6fed", accent_text="#ffffff",
    sidebar="#151a22", sidebar_text="#aab3c2", sidebar_active="#232c3a",
    ok="#1f9d57", warn="#d98a06", crit="#d93f45", info="#1d8fd0", idle="#8a93a4",
    series=("#2f6fed", "#1f9d57", "#d98a06", "#9b51e0", "#0ea5a5", "#d93f45", "#b08900", "#5b6b9a"),
)

_current: Theme = DARK


def current() -> Theme:
    return _current


def system_prefers_dark() -> bool:
    """True when the desktop asks for dark mode; an unknown scheme (offscreen, old desktops) means dark,
    which suits a control-room application."""
    app = QGuiApplication.instance()
    if app is None:
        return True
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Light:
        return False
    return True


def resolve(choice: str) -> Theme:
    """Map a setting ("system" | "dark" | "light") to a theme."""
    if choice == "light":
        return LIGHT
    if choice == "dark":
        return DARK
    return DARK if system_prefers_dark() else LIGHT


def apply(app: QApplication, theme: Theme) -> None:
    """Install the palette and the stylesheet of `theme` on the whole application."""
    global _current
    _current = theme
    app.setStyle("Fusion")
    pal = QPalette()
    c = QColor
    pal.setColor(QPalette.ColorRole.Window, c(theme.window))
    pal.setColor(QPalette.ColorRole.WindowText, c(theme.text))
    pal.setColor(QPalette.ColorRole.Base, c(theme.surface))
    pal.setColor(QPalette.ColorRole.AlternateBase, c(theme.raised))
    pal.setColor(QPalette.ColorRole.Text, c(theme.text))
    pal.setColor(QPalette.ColorRole.Button, c(theme.raised))
    pal.setColor(QPalette.ColorRole.ButtonText, c(theme.text))
    pal.setColor(QPalette.ColorRole.Highlight, c(theme.accent))
    pal.setColor(QPalette.ColorRole.HighlightedText, c(theme.accent_text))
    pal.setColor(QPalette.ColorRole.ToolTipBase, c(theme.raised))
    pal.setColor(QPalette.ColorRole.ToolTipText, c(theme.text))
    pal.setColor(QPalette.ColorRole.PlaceholderText, c(theme.muted))
    pal.setColor(QPalette.ColorRole.Link, c(theme.accent))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, c(theme.muted))
    app.setPalette(pal)
    app.setStyleSheet(stylesheet(theme))
    icon.cache_clear()
    dot.cache_clear()
    try:
        import pyqtgraph as pg
        pg.setConfigOptions(antialias=True, background=theme.surface, foreground=theme.muted)
    except ImportError:  # pragma: no cover - pyqtgraph is a GUI dependency
        pass


def stylesheet(t: Theme) -> str:
    """The application stylesheet. Object names (#sidebar, #card, ...) select the custom parts."""
    return f"""
QWidget {{ font-size: 10pt; }}
QMainWindow, QStackedWidget > QWidget#page {{ background: {t.window}; }}
QToolTip {{ background: {t.raised}; color: {t.text}; border: 1px solid {t.border}; padding: 4px 6px; }}

#sidebar {{ background: {t.sidebar}; border: none; }}
#brand {{ color: #ffffff; font-size: 14pt; font-weight: 600; padding: 2px 0; }}
#brandSub {{ color: {t.sidebar_text}; font-size: 8.5pt; }}
#sidebar QToolButton {{
    color: {t.sidebar_text}; background: transparent; border: none; border-radius: 8px;
    padding: 8px 10px; text-align: left; font-size: 10.5pt;
}}
#sidebar QToolButton:hover {{ background: {t.sidebar_active}; color: #ffffff; }}
#sidebar QToolButton:checked {{ background: {t.sidebar_active}; color: #ffffff; border-left: 3px solid {t.accent}; }}
#sidebarFooter {{ color: {t.sidebar_text}; font-size: 8.5pt; }}
#navBadge {{ background: {t.crit}; color: white; border-radius: 8px; padding: 0 5px; font-size: 8pt; font-weight: 600; }}

#pageTitle {{ font-size: 17pt; font-weight: 600; color: {t.text}; }}
#pageSubtitle {{ color: {t.muted}; }}
#sectionTitle {{ font-size: 11pt; font-weight: 600; color: {t.text}; }}
#muted, QLabel[muted="true"] {{ color: {t.muted}; }}

#card, QFrame#card {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 10px; }}
QFrame#card[selected="true"] {{ border: 2px solid {t.accent}; }}
QFrame#card[dropTarget="true"] {{ border: 2px dashed {t.accent}; background: {t.raised}; }}
#kpiValue {{ font-size: 18pt; font-weight: 600; color: {t.text}; }}
#kpiLabel {{ color: {t.muted}; font-size: 9pt; text-transform: uppercase; }}
#kpiNote {{ color: {t.muted}; font-size: 8.5pt; }}
#cardTitle {{ font-size: 11.5pt; font-weight: 600; color: {t.text}; }}
#metricValue {{ font-weight: 600; color: {t.text}; }}
#metricLabel {{ color: {t.muted}; font-size: 8.5pt; }}
#chip {{ background: {t.raised}; color: {t.muted}; border-radius: 9px; padding: 1px 8px; font-size: 8.5pt; }}

QPushButton {{
    background: {t.raised}; color: {t.text}; border: 1px solid {t.border}; border-radius: 6px; padding: 5px 12px;
}}
QPushButton:hover {{ border-color: {t.accent}; }}
QPushButton:pressed {{ background: {t.border}; }}
QPushButton:disabled {{ color: {t.muted}; border-color: {t.border}; }}
QPushButton[primary="true"] {{ background: {t.accent}; color: {t.accent_text}; border-color: {t.accent}; }}
QPushButton[primary="true"]:hover {{ background: {QColor(t.accent).lighter(112).name()}; }}
QPushButton[danger="true"] {{ color: {t.crit}; }}
QToolButton#segment {{
    background: {t.raised}; color: {t.muted}; border: 1px solid {t.border}; padding: 4px 10px;
}}
QToolButton#segment:checked {{ background: {t.accent}; color: {t.accent_text}; border-color: {t.accent}; }}

QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox, QDateTimeEdit, QPlainTextEdit {{
    background: {t.raised}; color: {t.text}; border: 1px solid {t.border}; border-radius: 6px; padding: 4px 6px;
    selection-background-color: {t.accent};
}}
QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus, QDateTimeEdit:focus {{ border-color: {t.accent}; }}
QCheckBox::indicator {{ width: 15px; height: 15px; border: 1px solid {t.muted}; border-radius: 4px; background: {t.raised}; }}
QCheckBox::indicator:checked {{ background: {t.accent}; border-color: {t.accent}; image: url({(RESOURCES / "icon-check-white.svg").as_posix()}); }}
QProgressBar {{ background: {t.raised}; border: none; border-radius: 3px; }}
QProgressBar::chunk {{ background: {t.accent}; border-radius: 3px; }}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{ border: none; width: 18px; background: transparent; }}
QAbstractSpinBox::up-arrow {{ image: url({(RESOURCES / "icon-chevron-up.svg").as_posix()}); width: 10px; height: 10px; }}
QAbstractSpinBox::down-arrow {{ image: url({(RESOURCES / "icon-chevron-down.svg").as_posix()}); width: 10px; height: 10px; }}
QComboBox::drop-down, QDateTimeEdit::drop-down {{ border: none; width: 22px; }}
QComboBox::down-arrow, QDateTimeEdit::down-arrow {{ image: url({(RESOURCES / "icon-chevron-down.svg").as_posix()}); width: 12px; height: 12px; }}
QComboBox QAbstractItemView {{ background: {t.surface}; border: 1px solid {t.border}; selection-background-color: {t.accent}; }}

QTableView, QListView, QTreeView {{
    background: {t.surface}; alternate-background-color: {t.raised}; border: 1px solid {t.border}; border-radius: 8px;
    gridline-color: {t.border}; selection-background-color: {QColor(t.accent).darker(140).name() if t.name == "dark" else QColor(t.accent).lighter(170).name()};
    selection-color: {t.text};
}}
QHeaderView::section {{
    background: {t.surface}; color: {t.muted}; border: none; border-bottom: 1px solid {t.border};
    padding: 6px 8px; font-weight: 600; font-size: 8.5pt;
}}
QTableView::item {{ padding: 4px 6px; border: none; }}

QScrollArea {{ background: transparent; border: none; }}
QScrollArea > QWidget > QWidget {{ background: transparent; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {t.border}; border-radius: 4px; min-height: 24px; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {t.border}; border-radius: 4px; min-width: 24px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}

QStatusBar {{ background: {t.surface}; color: {t.muted}; border-top: 1px solid {t.border}; }}
QStatusBar QLabel {{ color: {t.muted}; padding: 0 8px; }}
QSplitter::handle {{ background: {t.window}; }}
QGroupBox {{ border: 1px solid {t.border}; border-radius: 8px; margin-top: 14px; padding: 10px 8px 8px 8px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {t.muted}; font-weight: 600; }}
QTabWidget::pane {{ border: 1px solid {t.border}; border-radius: 8px; background: {t.surface}; }}
QTabBar::tab {{ background: transparent; color: {t.muted}; padding: 6px 14px; border: none; }}
QTabBar::tab:selected {{ color: {t.text}; border-bottom: 2px solid {t.accent}; }}
QDialog {{ background: {t.window}; }}
QMenu {{ background: {t.surface}; border: 1px solid {t.border}; padding: 4px; }}
QMenu::item {{ padding: 5px 18px; border-radius: 4px; }}
QMenu::item:selected {{ background: {t.accent}; color: {t.accent_text}; }}
"""


@lru_cache(maxsize=256)
def icon(name: str, color: str | None = None, size: int = 20) -> QIcon:
    """A themed icon from resources/icon-NAME.svg, drawn in `color` (default: the text colour)."""
    path = RESOURCES / f"icon-{name}.svg"
    try:
        svg = path.read_text(encoding="utf-8")
    except OSError:
        log.warning("icon %s not found at %s", name, path)
        return QIcon()
    svg = svg.replace("currentColor", color or _current.text)
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    result = QIcon()
    for scale in (1, 2):
        pm = QPixmap(QSize(size * scale, size * scale))
        pm.fill(Qt.GlobalColor.transparent)
        pm.setDevicePixelRatio(scale)
        p = QPainter(pm)
        renderer.render(p)
        p.end()
        result.addPixmap(pm)
    return result


@lru_cache(maxsize=64)
def dot(color: str, size: int = 10) -> QIcon:
    """A round status dot as an icon, for table cells."""
    pm = QPixmap(QSize(size * 2, size * 2))
    pm.fill(Qt.GlobalColor.transparent)
    pm.setDevicePixelRatio(2)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pm)


def app_icon() -> QIcon:
    return QIcon(str(RESOURCES / "campool.svg"))
