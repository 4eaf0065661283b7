"""Plane geometry for counting lines and zones, shared by the preview overlay and the editor.

No Qt here: points are (x, y) tuples in image pixels (y grows downwards), so the
rules (which way the "in" arrow points, where a drop lands in the image) are unit
tested on their own.

Direction convention (campool_worker.camera.CountingLine): walking from p1 to p2, an
object crossing from the left-hand side to the right-hand side counts "in". In image
coordinates the right-hand side of travel direction (dx, dy) is along (-dy, dx).
"""
from __future__ import annotations

import math

Point = tuple[float, float]


def in_normal(p1: Point, p2: Point) -> Point:
    """Unit vector pointing the way an object moves when it counts as "in"."""
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    n = math.hypot(dx, dy)
    if n == 0:
        return (0.0, 0.0)
    return (-dy / n, dx / n)


def side_of(p1: Point, p2: Point, pt: Point) -> str:
    """"left" or "right" of the line walked from p1 to p2 (image coordinates), "on" when on it."""
    cross = (p2[0] - p1[0]) * (pt[1] - p1[1]) - (p2[1] - p1[1]) * (pt[0] - p1[0])
    # With y pointing down, a positive cross product is on the right-hand side.
    if cross > 0:
        return "right"
    if cross < 0:
        return "left"
    return "on"


def crossing_direction(p1: Point, p2: Point, before: Point, after: Point) -> str | None:
    """"in" / "out" for an object that moved from `before` to `after` across the line, else None."""
    a, b = side_of(p1, p2, before), side_of(p1, p2, after)
    if a == "left" and b == "right":
        return "in"
    if a == "right" and b == "left":
        return "out"
    return None


def arrow(p1: Point, p2: Point, length: float, head: float | None = None) -> tuple[Point, Point, Point, Point]:
    """The "in" arrow drawn from the line's midpoint: (tail, tip, wing_left, wing_right)."""
    nx, ny = in_normal(p1, p2)
    mx, my = (p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2
    tip = (mx + nx * length, my + ny * length)
    h = head if head is not None else length * 0.35
    # Wings: back from the tip along -n, spread along the line's direction (ny, -nx rotated).
    bx, by = tip[0] - nx * h, tip[1] - ny * h
    tx, ty = ny, -nx  # unit tangent (p1 -> p2 direction)
    return (mx, my), tip, (bx + tx * h * 0.6, by + ty * h * 0.6), (bx - tx * h * 0.6, by - ty * h * 0.6)


def distance_to_segment(pt: Point, p1: Point, p2: Point) -> float:
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    seg2 = dx * dx + dy * dy
    if seg2 == 0:
        return math.hypot(pt[0] - p1[0], pt[1] - p1[1])
    t = max(0.0, min(1.0, ((pt[0] - p1[0]) * dx + (pt[1] - p1[1]) * dy) / seg2))
    return math.hypot(pt[0] - (p1[0] + t * dx), pt[1] - (p1[1] + t * dy))


def clamp(pt: Point, width: float, height: float) -> Point:
    """Keep a point inside the frame (0..width, 0..height), so nothing is drawn where it cannot count."""
    return (min(max(pt[0], 0.0), float(width)), min(max(pt[1], 0.0), float(height)))


def fit(src_w: float, src_h: float, dst_w: float, dst_h: float) -> tuple[float, float, float]:
    """Letterbox a src_w x src_h image into dst: returns (offset_x, offset_y, scale)."""
    if src_w <= 0 or src_h <= 0:
        return (0.0, 0.0, 1.0)
    s = min(dst_w / src_w, dst_h / src_h)
    return ((dst_w - src_w * s) / 2, (dst_h - src_h * s) / 2, s)


def polygon_area(points: list[Point] | tuple[Point, ...]) -> float:
    """Signed shoelace area (positive = clockwise on screen, since y points down)."""
    a = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        a += x1 * y2 - x2 * y1
    return a / 2


def centroid(points: list[Point] | tuple[Point, ...]) -> Point:
    n = len(points)
    if n == 0:
        return (0.0, 0.0)
    return (sum(p[0] for p in points) / n, sum(p[1] for p in points) / n)


def round_point(pt: Point, ndigits: int = 1) -> Point:
    return (round(pt[0], ndigits), round(pt[1], ndigits))
