"""One live preview: the frame, and over it boxes, track ids, counting lines with their
"in" arrow, zones and running counts. Pure painting; frames arrive already decoded, with the
worker's preview message (`protocol.PreviewFrame`: tracks, line counts, zone occupancy,
the camera's frame size) they came in."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from campool_gui.pool.views import CameraView
from campool_gui.ui import geometry, theme
from campool_gui.ui.display import state_word
from campool_gui.ui.i18n import num
from campool_worker import protocol

_CLASS_COLORS = ("#4c8dff", "#2fbf71", "#f0a020", "#c678dd", "#38c8c8", "#ef4f55", "#e5c07b", "#9aa5ce")


def class_color(name: str) -> QColor:
    """A stable colour per class name (car is always the same colour in every tile)."""
    h = sum(ord(c) * (i + 1) for i, c in enumerate(name)) if name else 0
    return QColor(_CLASS_COLORS[h % len(_CLASS_COLORS)])


class PreviewTile(QWidget):
    """Shows one camera. `camera_id` may change when the grid is re-filled."""

    doubleClicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 100)
        self.camera: CameraView | None = None
        self.image: QImage | None = None
        self.preview: protocol.PreviewFrame | None = None  # the message of the frame shown
        self.frames_shown = 0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    @property
    def camera_id(self) -> str | None:
        return self.camera.camera_id if self.camera else None

    def set_camera(self, cam: CameraView | None) -> None:
        if (cam.camera_id if cam else None) != self.camera_id:
            self.image = None
            self.preview = None
            self.frames_shown = 0
        self.camera = cam
        self.update()

    def set_frame(self, image: QImage, preview: protocol.PreviewFrame | None) -> None:
        self.image = image
        self.preview = preview
        self.frames_shown += 1
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:
        if self.camera_id:
            self.doubleClicked.emit(self.camera_id)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _event) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.rect()
        p.fillRect(r, QColor("#07090c"))
        if self.camera is None:
            p.setPen(QColor(t.muted))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.tr("Empty tile\nassign a camera"))
            p.end()
            return
        if self.image is not None and not self.image.isNull():
            iw, ih = self.image.width(), self.image.height()
            ox, oy, s = geometry.fit(iw, ih, r.width(), r.height())
            target = QRectF(ox, oy, iw * s, ih * s)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, r.width() > 500)
            p.drawImage(target, self.image)
            self._paint_overlay(p, ox, oy, s, iw, ih)
        else:
            self._paint_placeholder(p)
        self._paint_header(p)
        p.end()

    def _paint_placeholder(self, p: QPainter) -> None:
        t = theme.current()
        cam = self.camera
        assert cam is not None
        if cam.state in ("failed", "reconnecting") and cam.error:
            p.setPen(QColor(t.crit if cam.state == "failed" else t.warn))
            text = f"{state_word(cam.state)}\n{cam.error}"
        elif cam.state == "unassigned":
            p.setPen(QColor(t.muted))
            text = self.tr("Not running — no worker has it yet")
        else:
            p.setPen(QColor(t.muted))
            text = self.tr("Waiting for preview…")
        p.drawText(self.rect().adjusted(12, 30, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                   text)

    def _paint_header(self, p: QPainter) -> None:
        t = theme.current()
        cam = self.camera
        assert cam is not None
        bar = QRectF(0, 0, self.width(), 24)
        p.fillRect(bar, QColor(0, 0, 0, 150))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(t.status_color(cam.state)))
        p.drawEllipse(QPointF(12, 12), 4.5, 4.5)
        f = QFont(self.font())
        f.setPointSizeF(9)
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor("#ffffff"))
        p.drawText(QRectF(22, 0, self.width() - 120, 24), Qt.AlignmentFlag.AlignVCenter, cam.name)
        f.setBold(False)
        p.setFont(f)
        right = []
        if cam.fps is not None and cam.state == "running":
            right.append(f"{num(cam.fps)} fps")
        right.append(f"Σ {num(cam.counts_total)}")
        p.setPen(QColor("#c8d0dc"))
        p.drawText(QRectF(0, 0, self.width() - 8, 24), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                   "   ".join(right))

    def _paint_overlay(self, p: QPainter, ox: float, oy: float, s: float, iw: int, ih: int) -> None:
        cam = self.camera
        assert cam is not None
        ov = self.preview
        # Lines and zones are in the camera's frame pixels; the JPEG may be a scaled-down copy
        # (0 = the worker did not say: then lines are taken as JPEG pixels).
        src_w = ov.source_width if ov and ov.source_width else iw
        src_h = ov.source_height if ov and ov.source_height else ih
        kx, ky = s * iw / src_w, s * ih / src_h

        def m(pt) -> QPointF:
            return QPointF(ox + pt[0] * kx, oy + pt[1] * ky)

        small = QFont(self.font())
        small.setPointSizeF(8)
        small.setBold(True)
        p.setFont(small)
        for i, z in enumerate(cam.config.zones):
            color = QColor(theme.current().series[(i + 3) % 8])
            fill = QColor(color)
            fill.setAlpha(45)
            poly = QPolygonF([m(pt) for pt in z.points])
            p.setPen(QPen(color, 1.5, Qt.PenStyle.DashLine))
            p.setBrush(fill)
            p.drawPolygon(poly)
            # objects in it: per class in the preview, else as the camera's last heartbeat said
            n = sum(ov.zones.get(z.name, {}).values()) if ov else cam.zones.get(z.name, 0)
            c = m(geometry.centroid(z.points))
            self._badge(p, c, f"{z.name}: {n}", color)
        counts = ov.counts if ov and ov.counts else cam.counts
        for line in cam.config.lines:
            a, b = m(line.p1), m(line.p2)
            color = QColor("#ffd23f")
            p.setPen(QPen(QColor(0, 0, 0, 160), 4.5))
            p.drawLine(a, b)
            p.setPen(QPen(color, 2.5))
            p.drawLine(a, b)
            _tail, tip, w1, w2 = geometry.arrow((a.x(), a.y()), (b.x(), b.y()), 22)
            p.drawLine(QPointF(*_tail), QPointF(*tip))
            path = QPainterPath(QPointF(*tip))
            path.lineTo(QPointF(*w1))
            path.lineTo(QPointF(*w2))
            path.closeSubpath()
            p.fillPath(path, QBrush(color))
            lc = counts.get(line.name) if counts else None
            self._badge(p, QPointF(a.x() + 6, a.y() - 14),
                        self.tr("{line}  in {n_in}  out {n_out}").format(
                            line=line.name, n_in=lc.in_total if lc else 0, n_out=lc.out_total if lc else 0), color)
        if ov:
            for tr in ov.tracks:
                color = class_color(tr.class_name)
                x1, y1, x2, y2 = tr.box
                rect = QRectF(ox + x1 * s, oy + y1 * s, (x2 - x1) * s, (y2 - y1) * s)
                p.setPen(QPen(color, 1.6))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(rect)
                tag = f"#{tr.track_id} {tr.class_name}".strip()
                tw = p.fontMetrics().horizontalAdvance(tag) + 6
                bg = QRectF(rect.left(), rect.top() - 13, tw, 13)
                p.fillRect(bg, color)
                p.setPen(QColor("#0b0e12"))
                p.drawText(bg, Qt.AlignmentFlag.AlignCenter, tag)

    def _badge(self, p: QPainter, at: QPointF, text: str, color: QColor) -> None:
        fm = p.fontMetrics()
        w = fm.horizontalAdvance(text) + 10
        rect = QRectF(at.x(), at.y() - 8, w, 16)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(rect, 4, 4)
        p.setPen(color)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
