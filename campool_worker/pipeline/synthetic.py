"""A built-in camera with no camera: coloured objects crossing the frame on seeded paths.

`synthetic://?w=640&h=360&fps=15&objects=4&seed=1` gives a demo and the tests a
stream that needs no hardware and no data files. The scene is a pure function of
(parameters, frame index), so the same URL always yields the same pixels, seeking is
exact, and the ground truth (which object crosses which horizontal line, and in which
direction) can be computed instead of counted by eye.

Layout: the frame is split into `objects` vertical lanes (or horizontal ones with
axis=x). Each lane carries one object at a time, so objects never overlap and a
motion detector sees one clean blob per object. Each object enters at one edge,
crosses the whole frame at a constant speed, leaves at the opposite edge, and the
lane waits a seeded gap before the next one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from campool_worker.errors import SourceError

_INT_PARAMS = {"w": (32, 7680), "h": (32, 4320), "objects": (1, 64), "seed": (0, 2**31 - 1), "frames": (1, 10**9)}
_FLOAT_PARAMS = {"fps": (0.1, 240.0), "speed": (0.1, 10.0)}


@dataclass(frozen=True)
class SyntheticParams:
    width: int = 640
    height: int = 360
    fps: float = 15.0
    objects: int = 4
    seed: int = 1
    frames: int | None = None  # None = endless, like a live camera
    axis: str = "y"  # "y": objects move up/down the image; "x": left/right
    speed: float = 1.0  # multiplies the seeded speeds

    @classmethod
    def parse(cls, url: str) -> SyntheticParams:
        """Parse ``synthetic://?w=..&h=..&fps=..&objects=..&seed=..&frames=..&axis=y|x&speed=..``."""
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        known = set(_INT_PARAMS) | set(_FLOAT_PARAMS) | {"axis"}
        unknown = set(query) - known
        if unknown:
            raise SourceError(f"synthetic source {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                              f"use {', '.join(sorted(known))}")
        kw: dict[str, object] = {}
        names = {"w": "width", "h": "height"}
        for key, (lo, hi) in {**_INT_PARAMS, **_FLOAT_PARAMS}.items():
            if key not in query:
                continue
            raw = query[key][-1]
            try:
                value = int(raw) if key in _INT_PARAMS else float(raw)
            except ValueError:
                raise SourceError(f"synthetic source {url!r}: {key}={raw!r} is not a number") from None
            if not (lo <= value <= hi) or (isinstance(value, float) and not math.isfinite(value)):
                raise SourceError(f"synthetic source {url!r}: {key}={raw} is out of range [{lo}, {hi}]")
            kw[names.get(key, key)] = value
        if "axis" in query:
            axis = query["axis"][-1]
            if axis not in ("x", "y"):
                raise SourceError(f"synthetic source {url!r}: axis must be 'x' or 'y', got {axis!r}")
            kw["axis"] = axis
        return cls(**kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SyntheticObject:
    """One object's whole trip across the frame; its box at any frame follows from these."""

    object_id: int
    lane: int
    start: int  # first frame index it is (partly) visible
    end: int  # first frame index it is gone again
    direction: int  # +1: towards larger coordinates (down / right), -1: the other way
    speed: float  # pixels per frame along the axis
    size: tuple[int, int]  # (along the lane's cross axis, along the motion axis)
    cross: int  # centre on the cross axis
    color: tuple[int, int, int]


class SyntheticScene:
    """Deterministic scene: `render(i)` and `objects_at(i)` are pure functions of the index."""

    def __init__(self, params: SyntheticParams) -> None:
        self.params = params
        p = params
        self._along = p.height if p.axis == "y" else p.width
        self._across = p.width if p.axis == "y" else p.height
        self._lane_w = self._across / p.objects
        self._lanes: list[list[SyntheticObject]] = [[] for _ in range(p.objects)]
        self._rngs = [np.random.default_rng([p.seed, lane]) for lane in range(p.objects)]
        self._next_id = [lane for lane in range(p.objects)]
        self._background = self._make_background()

    def _make_background(self) -> np.ndarray:
        p = self.params
        rng = np.random.default_rng([p.seed, 1_000_003])
        # A static, slightly textured background: flat grey hides no bugs in a
        # background subtractor, pure noise would swamp it.
        ys = np.linspace(70, 110, p.height, dtype=np.float32)[:, None]
        xs = np.linspace(0, 20, p.width, dtype=np.float32)[None, :]
        base = ys + xs + rng.normal(0, 3, (p.height, p.width)).astype(np.float32)
        grey = np.clip(base, 0, 255).astype(np.uint8)
        background: np.ndarray = cv2.merge([grey, grey, grey])
        return background

    def _extend_lane(self, lane: int, until: int) -> None:
        """Plan objects in `lane` until one starts after frame `until`."""
        objs = self._lanes[lane]
        rng = self._rngs[lane]
        p = self.params
        while not objs or objs[-1].start <= until:
            prev_end = objs[-1].end if objs else 0
            gap = int(rng.integers(int(0.3 * p.fps), int(2.0 * p.fps) + 2))
            start = prev_end + gap if objs else int(rng.integers(0, int(1.5 * p.fps) + 1))
            size_along = int(rng.uniform(0.10, 0.18) * self._along)
            size_across = int(rng.uniform(0.45, 0.75) * self._lane_w)
            size_along, size_across = max(size_along, 8), max(size_across, 8)
            # Crossing the frame takes 1.5 to 3 seconds at speed=1.
            seconds = float(rng.uniform(1.5, 3.0)) / p.speed
            travel = self._along + size_along
            frames = max(2, math.ceil(seconds * p.fps))
            speed = travel / frames
            direction = 1 if rng.random() < 0.5 else -1
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            # Keep objects distinct from the grey background.
            if max(color) - min(color) < 80:
                color = (int(color[0]), 255 - int(color[0]) // 4, 30)
            jitter = rng.uniform(-0.1, 0.1) * self._lane_w
            cross = int((lane + 0.5) * self._lane_w + jitter)
            objs.append(SyntheticObject(
                object_id=self._next_id[lane], lane=lane, start=start, end=start + frames + 1,
                direction=direction, speed=speed, size=(size_across, size_along), cross=cross,
                color=color,  # type: ignore[arg-type]
            ))
            self._next_id[lane] += p.objects

    def _scene_index(self, index: int) -> int:
        frames = self.params.frames
        return index % frames if frames else index

    def objects_at(self, index: int) -> list[tuple[SyntheticObject, tuple[float, float, float, float]]]:
        """The objects visible at frame `index` with their boxes (x1, y1, x2, y2) in pixels."""
        i = self._scene_index(index)
        out = []
        for lane in range(self.params.objects):
            self._extend_lane(lane, i)
            for obj in self._lanes[lane]:
                if obj.start > i:
                    break
                if obj.end <= i:
                    continue
                c = self._centre(obj, i)
                half_along, half_across = obj.size[1] / 2.0, obj.size[0] / 2.0
                if self.params.axis == "y":
                    box = (obj.cross - half_across, c - half_along, obj.cross + half_across, c + half_along)
                else:
                    box = (c - half_along, obj.cross - half_across, c + half_along, obj.cross + half_across)
                out.append((obj, box))
        return out

    def _centre(self, obj: SyntheticObject, i: int) -> float:
        half = obj.size[1] / 2.0
        entry = -half if obj.direction > 0 else self._along + half
        return entry + obj.direction * obj.speed * (i - obj.start)

    def render(self, index: int) -> np.ndarray:
        img = self._background.copy()
        for obj, (x1, y1, x2, y2) in self.objects_at(index):
            p1, p2 = (round(x1), round(y1)), (round(x2), round(y2))
            cv2.rectangle(img, p1, p2, obj.color, thickness=-1)
            dark = tuple(c // 2 for c in obj.color)
            cv2.rectangle(img, p1, p2, dark, thickness=2)
        return img

    def crossings(self, coord: float, frames: int) -> list[tuple[int, int, int]]:
        """Ground truth: objects whose centre crosses `coord` on the motion axis in frames [0, frames).

        Returns (frame_index, object_id, direction) where frame_index is the first frame
        the centre is past the line and direction is +1 (down/right) or -1.
        """
        out = []
        total = self.params.frames
        for lane in range(self.params.objects):
            self._extend_lane(lane, min(frames, total) if total else frames)
            for obj in self._lanes[lane]:
                if obj.start >= (min(frames, total) if total else frames):
                    break
                for i in range(obj.start + 1, obj.end):
                    before, after = self._centre(obj, i - 1), self._centre(obj, i)
                    if (before - coord) * (after - coord) < 0 or (after == coord != before):
                        if total is None or i < total:
                            out.append((i, obj.object_id, obj.direction))
                        break
        if total:
            loops = [(i + k * total, oid, d) for k in range(1, frames // total + 1) for (i, oid, d) in out]
            out += loops
        return sorted(x for x in out if x[0] < frames)
