"""Draw and edit counting lines (named, with a direction arrow) and zone polygons on a camera snapshot.

The scene is in image pixels: the snapshot sits at (0, 0) at its natural size and the
view scales it to fit, so what the editor emits (`CountingLine` / `Zone`) is in the
frame coordinates the worker counts in, whatever the window size.

Tools: Select (drag the round handles; Delete removes the selection), Line (press at
the start, release at the end), Zone (click the corners, double-click or click the
first corner to close, Esc to cancel).
"""
from __future__ import annotations

import logging
import math

from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
)

from campool_gui.ui import geometry
from campool_worker.camera import ConfigError, CountingLine, Zone

log = logging.getLogger(__name__)

LINE_COLOR = QColor("#ffd23f")
ZONE_COLOR = QColor("#38c8c8")
MIN_LINE_PX = 6.0  # a press-release shorter than this is a click, not a line


class Handle(QGraphicsEllipseItem):
    """A draggable vertex; stays the same size on screen and inside the image."""

    def __init__(self, owner: ShapeItem, index: int, pos: QPointF) -> None:
        super().__init__(-6, -6, 12, 12, owner)
        self.owner = owner
        self.index = index
        self.setPos(pos)
        self.setBrush(QBrush(QColor("#ffffff")))
        self.setPen(QPen(QColor("#0b0e12"), 1.5))
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
                      | QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setCursor(Qt.CursorShape.SizeAllCursor)
        self.setZValue(10)

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange:
            w, h = self.owner.bounds
            x, y = geometry.clamp((value.x(), value.y()), w, h)
            return QPointF(x, y)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.owner.handle_moved(self.index, self.pos())
        return super().itemChange(change, value)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        self.owner.edited()


class ShapeItem(QGraphicsObject):
    """Common part of lines and zones: a name, vertices with handles, selection."""

    def __init__(self, name: str, points: list[QPointF], bounds: tuple[float, float]) -> None:
        super().__init__()
        self.name = name
        self.bounds = bounds
        self.points = [QPointF(p) for p in points]
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.handles = [Handle(self, i, p) for i, p in enumerate(self.points)]
        self._editor: LineZoneScene | None = None

    def handle_moved(self, index: int, pos: QPointF) -> None:
        self.prepareGeometryChange()
        self.points[index] = QPointF(pos)
        self.update()

    def edited(self) -> None:
        if self._editor is not None:
            self._editor.notify_changed()

    def set_name(self, name: str) -> None:
        self.name = name
        self.update()


class LineItem(ShapeItem):
    kind = "line"

    def _arrow_len(self) -> float:
        w, h = self.bounds
        return max(12.0, 0.035 * math.hypot(w, h))

    def boundingRect(self) -> QRectF:
        a = self._arrow_len() * 1.5
        r = QRectF(self.points[0], self.points[1]).normalized()
        return r.adjusted(-a - 120, -a - 30, a + 120, a + 30)

    def shape(self) -> QPainterPath:
        path = QPainterPath(self.points[0])
        path.lineTo(self.points[1])
        stroker = QPainterPathStroker()
        stroker.setWidth(14)
        return stroker.createStroke(path)

    def paint(self, p: QPainter, _opt, _widget=None) -> None:
        a, b = self.points
        width = 4.0 if self.isSelected() else 2.5
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(0, 0, 0, 150), width + 2.5))
        p.drawLine(a, b)
        p.setPen(QPen(LINE_COLOR, width))
        p.drawLine(a, b)
        tail, tip, w1, w2 = geometry.arrow((a.x(), a.y()), (b.x(), b.y()), self._arrow_len())
        p.setPen(QPen(LINE_COLOR, width))
        p.drawLine(QPointF(*tail), QPointF(*tip))
        head = QPainterPath(QPointF(*tip))
        head.lineTo(QPointF(*w1))
        head.lineTo(QPointF(*w2))
        head.closeSubpath()
        p.fillPath(head, QBrush(LINE_COLOR))
        text = QCoreApplication.translate("LineItem", "{name} · in").format(name=self.name)
        _label(p, QPointF(tip[0] + 4, tip[1] + 4), text, LINE_COLOR, self._arrow_len())

    def flip(self) -> None:
        """Swap the ends, which reverses what counts as "in"."""
        self.prepareGeometryChange()
        self.points.reverse()
        for i, h in enumerate(self.handles):
            h.setPos(self.points[i])
        self.update()
        self.edited()

    def to_line(self) -> CountingLine:
        p1 = geometry.round_point((self.points[0].x(), self.points[0].y()))
        p2 = geometry.round_point((self.points[1].x(), self.points[1].y()))
        return CountingLine(self.name, p1, p2)


class ZoneItem(ShapeItem):
    kind = "zone"

    def boundingRect(self) -> QRectF:
        return QPolygonF(self.points).boundingRect().adjusted(-100, -30, 100, 30)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addPolygon(QPolygonF(self.points))
        path.closeSubpath()
        return path

    def paint(self, p: QPainter, _opt, _widget=None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(ZONE_COLOR)
        fill.setAlpha(70 if self.isSelected() else 45)
        p.setBrush(fill)
        p.setPen(QPen(ZONE_COLOR, 3.0 if self.isSelected() else 2.0, Qt.PenStyle.DashLine))
        p.drawPolygon(QPolygonF(self.points))
        c = geometry.centroid([(q.x(), q.y()) for q in self.points])
        w, h = self.bounds
        _label(p, QPointF(*c), self.name, ZONE_COLOR, max(12.0, 0.035 * math.hypot(w, h)))

    def to_zone(self) -> Zone:
        return Zone(self.name, tuple(geometry.round_point((q.x(), q.y())) for q in self.points))


def _label(p: QPainter, at: QPointF, text: str, color: QColor, scale: float) -> None:
    f = QFont()
    f.setPixelSize(max(10, int(scale * 0.55)))
    f.setBold(True)
    p.setFont(f)
    fm = p.fontMetrics()
    rect = QRectF(at.x(), at.y(), fm.horizontalAdvance(text) + 10, fm.height() + 4)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 170))
    p.drawRoundedRect(rect, 4, 4)
    p.setPen(color)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class LineZoneScene(QGraphicsScene):
    """Holds the snapshot and the shapes; the single source of the edited geometry."""

    changed_shapes = Signal()

    def __init__(self, image: QImage, parent=None) -> None:
        super().__init__(parent)
        self.image_size = (float(image.width()), float(image.height()))
        self.background = QGraphicsPixmapItem(QPixmap.fromImage(image))
        self.background.setZValue(-10)
        self.addItem(self.background)
        self.setSceneRect(QRectF(0, 0, *self.image_size))
        self.shapes: list[ShapeItem] = []

    def notify_changed(self) -> None:
        self.changed_shapes.emit()

    def _unique(self, base: str) -> str:
        names = {s.name for s in self.shapes}
        i = 1
        while f"{base}-{i}" in names:
            i += 1
        return f"{base}-{i}"

    def add_line(self, p1: tuple[float, float], p2: tuple[float, float], name: str | None = None) -> LineItem:
        w, h = self.image_size
        a, b = geometry.clamp(p1, w, h), geometry.clamp(p2, w, h)
        item = LineItem(name or self._unique("line"), [QPointF(*a), QPointF(*b)], self.image_size)
        return self._add(item)

    def add_zone(self, points: list[tuple[float, float]], name: str | None = None) -> ZoneItem:
        w, h = self.image_size
        pts = [QPointF(*geometry.clamp(p, w, h)) for p in points]
        item = ZoneItem(name or self._unique("zone"), pts, self.image_size)
        return self._add(item)

    def _add(self, item: ShapeItem):
        item._editor = self
        self.addItem(item)
        self.shapes.append(item)
        self.notify_changed()
        return item

    def remove(self, item: ShapeItem) -> None:
        if item in self.shapes:
            self.shapes.remove(item)
            self.removeItem(item)
            self.notify_changed()

    def load(self, lines: list[CountingLine], zones: list[Zone]) -> None:
        for ln in lines:
            self.add_line(ln.p1, ln.p2, ln.name)
        for z in zones:
            self.add_zone(list(z.points), z.name)

    def elements(self) -> tuple[list[CountingLine], list[Zone]]:
        """The edited lines and zones in image pixels; raises ConfigError when a shape is not valid."""
        lines = [s.to_line() for s in self.shapes if isinstance(s, LineItem)]
        zones = [s.to_zone() for s in self.shapes if isinstance(s, ZoneItem)]
        names = [x.name for x in lines] + [z.name for z in zones]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(QCoreApplication.translate(
                "LineZoneScene", "names must be unique; rename {names}").format(names=", ".join(sorted(dup))))
        return lines, zones


class LineZoneView(QGraphicsView):
    """The canvas. `tool` is "select", "line" or "zone"."""

    shapeCreated = Signal(object)

    def __init__(self, scene: LineZoneScene, parent=None) -> None:
        super().__init__(scene, parent)
        self.editor_scene = scene
        self.tool = "select"
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor("#07090c"))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumSize(480, 270)
        self._drag_start: QPointF | None = None
        self._rubber: LineItem | None = None
        self._zone_pts: list[QPointF] = []
        self._zone_preview: QGraphicsItem | None = None

    def set_tool(self, tool: str) -> None:
        self._cancel_zone()
        self.tool = tool
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.viewport().setCursor(Qt.CursorShape.ArrowCursor if tool == "select" else Qt.CursorShape.CrossCursor)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.fit()

    def fit(self) -> None:
        self.fitInView(self.editor_scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def image_point(self, view_pos) -> tuple[float, float]:
        """A viewport position in image pixels, clamped to the frame."""
        sp = self.mapToScene(view_pos)
        return geometry.clamp((sp.x(), sp.y()), *self.editor_scene.image_size)

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.tool == "select":
            super().mousePressEvent(event)
            return
        pt = self.image_point(event.position().toPoint())
        if self.tool == "line":
            self._drag_start = QPointF(*pt)
        elif self.tool == "zone":
            if len(self._zone_pts) >= 3 and _near(self, self._zone_pts[0], QPointF(*pt)):
                self._close_zone()
                return
            self._zone_pts.append(QPointF(*pt))
            self._update_zone_preview()
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self.tool == "line" and self._drag_start is not None:
            pt = QPointF(*self.image_point(event.position().toPoint()))
            if self._rubber is None:
                self._rubber = LineItem("new", [self._drag_start, pt], self.editor_scene.image_size)
                self.editor_scene.addItem(self._rubber)
            else:
                self._rubber.handles[1].setPos(pt)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self.tool == "line" and self._drag_start is not None and event.button() == Qt.MouseButton.LeftButton:
            end = self.image_point(event.position().toPoint())
            start = (self._drag_start.x(), self._drag_start.y())
            self._drag_start = None
            if self._rubber is not None:
                self.editor_scene.removeItem(self._rubber)
                self._rubber = None
            if math.dist(start, end) >= MIN_LINE_PX:
                item = self.editor_scene.add_line(start, end)
                self.shapeCreated.emit(item)
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.tool == "zone":
            if len(self._zone_pts) >= 3:
                self._close_zone()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._cancel_zone()
            return
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            for item in list(self.editor_scene.selectedItems()):
                if isinstance(item, ShapeItem):
                    self.editor_scene.remove(item)
            return
        super().keyPressEvent(event)

    def _update_zone_preview(self) -> None:
        if self._zone_preview is not None:
            self.editor_scene.removeItem(self._zone_preview)
        path = QPainterPath(self._zone_pts[0])
        for q in self._zone_pts[1:]:
            path.lineTo(q)
        self._zone_preview = self.editor_scene.addPath(path, QPen(ZONE_COLOR, 2, Qt.PenStyle.DashLine))

    def _close_zone(self) -> None:
        pts = [(q.x(), q.y()) for q in self._zone_pts]
        self._cancel_zone()
        if abs(geometry.polygon_area(pts)) < 1.0:
            log.info("ignored a zone with no area")
            return
        item = self.editor_scene.add_zone(pts)
        self.shapeCreated.emit(item)

    def _cancel_zone(self) -> None:
        self._zone_pts = []
        if self._zone_preview is not None:
            self.editor_scene.removeItem(self._zone_preview)
            self._zone_preview = None


def _near(view: QGraphicsView, a: QPointF, b: QPointF, px: float = 10.0) -> bool:
    """True when two scene points are within `px` screen pixels."""
    va, vb = view.mapFromScene(a), view.mapFromScene(b)
    return math.hypot(va.x() - vb.x(), va.y() - vb.y()) <= px
