"""Small building blocks shared by the views: page frame, KPI tile, status dot, flow layout."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from campool_gui.ui import theme


class Page(QWidget):
    """A main view: a title row (title, subtitle, actions on the right) above its content.

    `shown()` / `hidden()` are called by the main window when the page comes into or
    leaves view, so a page can stop work nobody sees (the Live page stops previews).
    """

    # Marked with QT_TRANSLATE_NOOP(<the page's class name>, ...) in each page: translated here.
    title = ""
    subtitle = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 16)
        outer.setSpacing(14)
        head = QHBoxLayout()
        head.setSpacing(8)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title_label = QLabel(QCoreApplication.translate(type(self).__name__, self.title))
        self.title_label.setObjectName("pageTitle")
        self.subtitle_label = QLabel(QCoreApplication.translate(type(self).__name__, self.subtitle))
        self.subtitle_label.setObjectName("pageSubtitle")
        titles.addWidget(self.title_label)
        titles.addWidget(self.subtitle_label)
        head.addLayout(titles)
        head.addStretch(1)
        self.actions_layout = QHBoxLayout()
        self.actions_layout.setSpacing(8)
        head.addLayout(self.actions_layout)
        outer.addLayout(head)
        self.body = QVBoxLayout()
        self.body.setSpacing(12)
        outer.addLayout(self.body, 1)

    def add_action_button(self, text: str, icon_name: str | None = None, *, primary: bool = False,
                          tooltip: str = "") -> QPushButton:
        btn = button(text, icon_name, primary=primary, tooltip=tooltip)
        self.actions_layout.addWidget(btn)
        return btn

    _stale = False  # the pool changed while the page was hidden

    def sync(self) -> None:
        """Bring the page up to date with the pool state (pages that show that state override it)."""

    def refresh_when_visible(self, *_: object) -> None:
        """Slot for the bridge's change signals: a hidden page does no work; it catches up when shown."""
        if self.isVisible():
            self._stale = False
            self.sync()
        else:
            self._stale = True

    def shown(self) -> None:
        """Called when the page becomes the visible view."""
        if self._stale:
            self._stale = False
            self.sync()

    def hidden(self) -> None:
        """Called when another view replaces this page."""

    def apply_theme(self) -> None:
        """Re-colour what the stylesheet cannot reach (charts, painted items)."""


def button(text: str, icon_name: str | None = None, *, primary: bool = False, danger: bool = False,
           tooltip: str = "") -> QPushButton:
    btn = QPushButton(text)
    if icon_name:
        t = theme.current()
        btn.setIcon(theme.icon(icon_name, t.accent_text if primary else (t.crit if danger else t.text), 16))
    if primary:
        btn.setProperty("primary", True)
    if danger:
        btn.setProperty("danger", True)
    if tooltip:
        btn.setToolTip(tooltip)
    btn.setCursor(Qt.CursorShape.PointingHandCursor)
    return btn


def card(parent: QWidget | None = None) -> QFrame:
    f = QFrame(parent)
    f.setObjectName("card")
    return f


def label(text: str = "", name: str | None = None, *, wrap: bool = False) -> QLabel:
    lab = QLabel(text)
    if name:
        lab.setObjectName(name)
    lab.setWordWrap(wrap)
    return lab


def repolish(w: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property used by a selector changed."""
    w.style().unpolish(w)
    w.style().polish(w)
    w.update()


class StatusDot(QWidget):
    """A small filled circle in a state's colour (green running, amber degraded, red offline ...)."""

    def __init__(self, status: str = "", size: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._status = status
        self._size = size
        self.setFixedSize(size + 4, size + 4)

    def set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = QColor(theme.current().status_color(self._status))
        halo = QColor(color)
        halo.setAlpha(60)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(halo)
        p.drawEllipse(self.rect())
        p.setBrush(color)
        p.drawEllipse(self.rect().adjusted(2, 2, -2, -2))


class KpiTile(QFrame):
    """One big number with a caption and a note (e.g. "WORKERS  5  4 active · 1 failed")."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.setSpacing(2)
        self.caption = label(caption.upper(), "kpiLabel")
        self.value = label("—", "kpiValue")
        self.note = label("", "kpiNote")
        # Seven tiles share a 1440 px row: a long note takes a second line, and every note has room
        # for two, so the tiles of a row stay the same height.
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.note.ensurePolished()
        self.note.setMinimumHeight(2 * self.note.fontMetrics().lineSpacing())
        lay.addWidget(self.caption)
        lay.addWidget(self.value)
        lay.addWidget(self.note)
        lay.addStretch(1)
        self._accent: str | None = None

    def set(self, value: str, note: str = "", accent: str | None = None) -> None:
        self.value.setText(value)
        self.note.setText(note)
        if accent != self._accent:
            self._accent = accent
            self.value.setStyleSheet(f"color: {accent};" if accent else "")


class FlowLayout(QLayout):
    """Lays widgets out left to right and wraps, like cards on a dashboard (Qt's flow layout example)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 12) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._do_layout(QRect(0, 0, width, 0), test_only=True)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._do_layout(rect, test_only=False)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _do_layout(self, rect: QRect, *, test_only: bool) -> int:
        m = self.contentsMargins()
        eff = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line_h = eff.x(), eff.y(), 0
        for item in self._items:
            if item.widget() is not None and item.widget().isHidden():
                continue
            hint = item.sizeHint()
            next_x = x + hint.width() + self._spacing
            if next_x - self._spacing > eff.right() + 1 and line_h > 0:
                x = eff.x()
                y += line_h + self._spacing
                next_x = x + hint.width() + self._spacing
                line_h = 0
            if not test_only:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x = next_x
            line_h = max(line_h, hint.height())
        return y + line_h - rect.y() + m.bottom()
