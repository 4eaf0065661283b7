"""Tiny live charts for worker cards, on pyqtgraph.

The curve (a `PlotDataItem`) is created once and fed with `setData`; nothing is cleared
or re-plotted, which is what keeps 64 cards x 4 charts cheap. The owner decides when
to push data (a view-level timer at a few Hz), so telemetry bursts do not turn into
repaint bursts.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from campool_gui.ui import theme


class Sparkline(pg.GraphicsView):
    """A borderless, axis-less line with a soft fill, for one metric's recent history.

    Built on a bare ViewBox rather than a PlotWidget: a PlotItem carries a context menu
    and an options form of some forty widgets, which for 64 cards x 4 charts made the
    heap ten times larger and Python's full garbage collections long enough to stall
    the UI (see `campool-gui bench-ui`).
    """

    def __init__(self, color: str, *, y_max: float | None = 100.0, height: int = 34,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background=theme.current().surface)
        self._color = color
        self._y_max = y_max
        self.setFixedHeight(height)
        self.setMinimumWidth(60)
        self.setStyleSheet("border: none; background: transparent;")
        self.vb = pg.ViewBox(enableMouse=False, enableMenu=False, defaultPadding=0.02)
        self.setCentralItem(self.vb)
        if y_max is not None:
            self.vb.setYRange(0, y_max, padding=0.05)
            self.vb.enableAutoRange(axis=pg.ViewBox.YAxis, enable=False)
        self.vb.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        self.curve = pg.PlotDataItem()
        self._style_curve()
        self.vb.addItem(self.curve)
        self._len = 0

    def _style_curve(self) -> None:
        c = QColor(self._color)
        fill = QColor(c)
        fill.setAlpha(50)
        self.curve.setPen(pg.mkPen(c, width=1.6))
        self.curve.setFillLevel(0)
        self.curve.setBrush(pg.mkBrush(fill))

    def set_color(self, color: str) -> None:
        self._color = color
        self._style_curve()
        self.setBackground(theme.current().surface)

    def set_values(self, values: Iterable[float], capacity: int | None = None) -> None:
        """Show `values` (oldest first); the x range is fixed to `capacity` points so the line scrolls."""
        y = np.fromiter(values, dtype=float)
        n = len(y)
        if n == 0:
            self.curve.setData([], [])
            return
        # Until the history fills up the line spans the whole width (a young worker's chart
        # is readable, not a blob at the right edge); then it scrolls over `capacity` points.
        cap = max(min(capacity or n, n), 2)
        x = np.arange(cap - n, cap, dtype=float)
        self.curve.setData(x, y)
        if self._len != cap:
            self._len = cap
            self.vb.setXRange(0, cap - 1, padding=0)
        if self._y_max is None:
            top = max(float(y.max()) * 1.15, 1.0)
            self.vb.setYRange(0, top, padding=0)
