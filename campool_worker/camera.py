"""The camera vocabulary shared by the worker, the wire protocol, the store and the UI.

A `Camera` is what the operator configures (a stream plus what to count in it); a
`CountingLine` and a `Zone` are drawn on it; a `CountEvent` is one object crossing a
line. The same words are used in every layer, so these types live in one place and
validate themselves where they enter (command line, config file, wire message).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Point = tuple[float, float]
Direction = Literal["in", "out"]
PRIORITIES = ("critical", "high", "normal", "low")
STANDBY_MODES = ("none", "warm", "hot")
# How often the detector runs when detect_fps is not set: "adaptive" when counting needs it
# (pipeline/adaptive.py), "every" frame.
DETECT_MODES = ("adaptive", "every")
DEFAULT_DETECT_BUDGET = 10.0  # adaptive: most detector runs in any second of video
DEFAULT_DETECT_FLOOR = 1.0  # adaptive: fewest runs a second in an idle scene

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")


class ConfigError(ValueError):
    """A camera, line or zone definition that cannot be used; the text says how to fix it."""


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"{kind} name {name!r} is not valid: use 1-64 letters, digits, spaces, '_', '-' or '.'"
        )
    return name


def _parse_numbers(kind: str, spec: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"{kind} {spec!r}: coordinates must be numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{kind} {spec!r}: coordinates must be finite numbers")
    return values


@dataclass(frozen=True)
class CountingLine:
    """A directional counting line from p1 to p2, in frame pixels.

    Walking from p1 to p2, an object that crosses from the left-hand side to the
    right-hand side counts as "in"; the other way round counts as "out". The UI draws
    the arrow for "in" so the operator sees the convention.
    """

    name: str
    p1: Point
    p2: Point

    def __post_init__(self) -> None:
        _check_name("line", self.name)
        if self.p1 == self.p2:
            raise ConfigError(f"line {self.name!r}: its two end points are the same; draw a line with length")

    @classmethod
    def parse(cls, spec: str) -> CountingLine:
        """Parse the command-line form ``NAME:x1,y1,x2,y2``."""
        name, sep, coords = spec.partition(":")
        if not sep:
            raise ConfigError(f"line {spec!r}: expected NAME:x1,y1,x2,y2, for example near:0,500,1280,500")
        values = _parse_numbers("line", spec, coords)
        if len(values) != 4:
            raise ConfigError(f"line {spec!r}: expected 4 coordinates x1,y1,x2,y2, got {len(values)}")
        return cls(_check_name("line", name.strip()), (values[0], values[1]), (values[2], values[3]))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "p1": list(self.p1), "p2": list(self.p2)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CountingLine:
        if not isinstance(d, dict) or set(d) != {"name", "p1", "p2"}:
            raise ConfigError(f"line definition {_short(d)} is malformed: expected {{name, p1, p2}}")
        return cls(_check_name("line", d["name"]), _point("line", d["p1"]), _point("line", d["p2"]))

    def outside(self, width: int, height: int) -> bool:
        """True when the whole line lies outside a width x height frame (so it can never count)."""
        return _segment_outside((self.p1, self.p2), width, height)


@dataclass(frozen=True)
class Zone:
    """A polygon zone; the counter reports its occupancy per class, the peak and dwell times."""

    name: str
    points: tuple[Point, ...]

    def __post_init__(self) -> None:
        _check_name("zone", self.name)
        if len(self.points) < 3:
            raise ConfigError(f"zone {self.name!r}: a zone needs at least 3 points, got {len(self.points)}")

    @classmethod
    def parse(cls, spec: str) -> Zone:
        """Parse the command-line form ``NAME:x1,y1,x2,y2,x3,y3,...``."""
        name, sep, coords = spec.partition(":")
        if not sep:
            raise ConfigError(f"zone {spec!r}: expected NAME:x1,y1,x2,y2,x3,y3,... (at least 3 points)")
        values = _parse_numbers("zone", spec, coords)
        if len(values) < 6 or len(values) % 2:
            raise ConfigError(f"zone {spec!r}: expected an even number (>= 6) of coordinates, got {len(values)}")
        pts = tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))
        return cls(_check_name("zone", name.strip()), pts)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "points": [list(p) for p in self.points]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Zone:
        if not isinstance(d, dict) or set(d) != {"name", "points"} or not isinstance(d["points"], list):
            raise ConfigError(f"zone definition {_short(d)} is malformed: expected {{name, points: [[x, y], ...]}}")
        return cls(_check_name("zone", d["name"]), tuple(_point("zone", p) for p in d["points"]))

    def outside(self, width: int, height: int) -> bool:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return max(xs) < 0 or max(ys) < 0 or min(xs) > width or min(ys) > height


@dataclass
class CameraConfig:
    """Everything a worker needs to run one camera. Sent whole in an assignment."""

    camera_id: str
    source: str
    name: str = ""
    lines: list[CountingLine] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    model: str | None = None  # a file path on the worker or "sha256:<hex>" of a pushed model
    classes: list[str] | None = None  # class names to count; None = all
    detect_fps: float | None = None  # a fixed detector rate; None = `detect` decides
    detect: str = "adaptive"  # one of DETECT_MODES (when detect_fps is None)
    detect_budget: float = DEFAULT_DETECT_BUDGET
    detect_floor: float = DEFAULT_DETECT_FLOOR
    confidence: float = 0.3
    priority: str = "normal"
    site: str = ""
    loop: bool = False  # loop a video file (demos, soak tests)
    labels: list[str] | None = None  # a custom model's class names in output order; None = COCO
    # A second worker ready to take over (issue #12): "hot" runs the whole pipeline, "warm" keeps the
    # stream and its recent frames; None = "hot" for a critical camera when a second worker can run it.
    standby: str | None = None

    def __post_init__(self) -> None:
        """Every field is checked for its type and range here, where a config enters (the
        command line, a file, the wire, the store): a wrong type is a clear ConfigError, never
        a camera that fails later (``confidence: "0.5"``) nor an internal error (``model: 5``).
        A float field takes an int (JSON has one number type) but never a string or a bool."""
        _check_name("camera id", self.camera_id)
        cam = f"camera {self.camera_id!r}"
        for name in ("source", "name", "priority", "site"):
            _expect(cam, name, getattr(self, name), str)
        if not self.source.strip():
            raise ConfigError(f"{cam}: source is empty; give a file path, rtsp://, http:// or device index")
        _expect(cam, "model", self.model, str, optional=True)
        if self.model is not None:
            check_model_reference(self.model, cam)
        for name in ("classes", "labels"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ConfigError(f"{cam}: {name} must be a list of class names (strings), got {_short(value)}")
        _expect(cam, "loop", self.loop, bool)
        self.confidence = _number(cam, "confidence", self.confidence)
        if self.detect_fps is not None:
            self.detect_fps = _number(cam, "detect_fps", self.detect_fps)
        _expect(cam, "detect", self.detect, str)
        if self.detect not in DETECT_MODES:
            raise ConfigError(f"{cam}: detect {self.detect!r} is not one of {', '.join(DETECT_MODES)} "
                              "(or set detect_fps for a fixed rate)")
        self.detect_budget = _number(cam, "detect_budget", self.detect_budget)
        self.detect_floor = _number(cam, "detect_floor", self.detect_floor)
        if not 0 < self.detect_floor <= self.detect_budget <= 240:
            raise ConfigError(f"{cam}: detect floor and budget must satisfy 0 < floor <= budget <= 240 "
                              f"runs a second (got floor {self.detect_floor:g}, budget {self.detect_budget:g})")
        for name, kind in (("lines", CountingLine), ("zones", Zone)):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
                raise ConfigError(f"{cam}: {name} must be a list of {kind.__name__} definitions")
        if self.labels is not None and (not self.labels or not all(n.strip() for n in self.labels)):
            raise ConfigError(f"{cam}: labels must be a non-empty list of class names, one per model output class")
        if self.priority not in PRIORITIES:
            raise ConfigError(f"{cam}: priority {self.priority!r} is not one of {', '.join(PRIORITIES)}")
        _expect(cam, "standby", self.standby, str, optional=True)
        if self.standby is not None and self.standby not in STANDBY_MODES:
            raise ConfigError(f"{cam}: standby {self.standby!r} is not one of {', '.join(STANDBY_MODES)} "
                              "(or leave it unset: hot for a critical camera)")
        if self.detect_fps is not None and not (0 < self.detect_fps <= 240):
            raise ConfigError(f"{cam}: detect fps must be between 0 and 240")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"{cam}: confidence must be between 0 and 1")
        names = [ln.name for ln in self.lines] + [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ConfigError(f"{cam}: line and zone names must be unique")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = [ln.to_dict() for ln in self.lines]
        d["zones"] = [z.to_dict() for z in self.zones]
        if self.labels is None:
            del d["labels"]  # what workers that predate custom labels expect
        if self.standby is None:
            del d["standby"]
        # the defaults are left out, so a worker that predates adaptive detection takes the camera
        for key, default in (("detect", "adaptive"), ("detect_budget", DEFAULT_DETECT_BUDGET),
                             ("detect_floor", DEFAULT_DETECT_FLOOR)):
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraConfig:
        """A camera from its JSON form (`to_dict`); every field is type-checked (see __post_init__)."""
        if not isinstance(d, dict):
            raise ConfigError(f"camera definition must be a mapping, got {_type_name(d)}")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"camera definition has unknown fields: {', '.join(sorted(map(str, unknown)))}")
        missing = {"camera_id", "source"} - set(d)
        if missing:
            raise ConfigError(f"camera definition lacks {', '.join(sorted(missing))}")
        kw = dict(d)
        for key, parse in (("lines", CountingLine.from_dict), ("zones", Zone.from_dict)):
            value = d.get(key)
            if value is None:
                kw[key] = []
            elif isinstance(value, list):
                kw[key] = [parse(x) for x in value]
            else:
                raise ConfigError(f"camera {d.get('camera_id')!r}: {key} must be a list, got {_type_name(value)}")
        return cls(**kw)


@dataclass
class LineCounts:
    """Running totals of one counting line, in one shape everywhere: the counter keeps them, previews
    carry them, the master rebuilds them from its store and the UI shows them.

    ``by_class`` maps a class name to ``{"in": n, "out": m}``; ``to_dict`` is the JSON form of
    ``campool-worker count --json`` (``{"in", "out", "by_class"}``).
    """

    in_total: int = 0
    out_total: int = 0
    by_class: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, direction: Direction, class_name: str, n: int = 1) -> None:
        if direction == "in":
            self.in_total += n
        elif direction == "out":
            self.out_total += n
        else:
            raise ValueError(f"direction {direction!r} is not 'in' or 'out'")
        per = self.by_class.setdefault(class_name, {"in": 0, "out": 0})
        per[direction] = per.get(direction, 0) + n

    def of(self, direction: Direction) -> int:
        return self.in_total if direction == "in" else self.out_total

    @property
    def total(self) -> int:
        return self.in_total + self.out_total

    def copy(self) -> LineCounts:
        return LineCounts(self.in_total, self.out_total, {k: dict(v) for k, v in self.by_class.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"in": self.in_total, "out": self.out_total,
                "by_class": {k: {"in": v.get("in", 0), "out": v.get("out", 0)}
                             for k, v in sorted(self.by_class.items())}}


@dataclass(frozen=True)
class CountEvent:
    """One object crossing one counting line: the unit that must never be lost nor doubled.

    (camera_id, epoch, seq) identifies it across the system; the worker assigns seq
    when it commits the event to its outbox.
    """

    camera_id: str
    epoch: int
    seq: int
    line: str
    direction: Direction
    class_name: str
    track_id: int
    ts: float  # wall-clock seconds (time.time()) of the frame
    frame_index: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CountEvent:
        try:
            ev = cls(
                camera_id=str(d["camera_id"]), epoch=int(d["epoch"]), seq=int(d["seq"]),
                line=str(d["line"]), direction=d["direction"], class_name=str(d["class_name"]),
                track_id=int(d["track_id"]), ts=float(d["ts"]), frame_index=int(d["frame_index"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"count event is malformed: {exc}") from None
        if ev.direction not in ("in", "out"):
            raise ConfigError(f"count event direction {ev.direction!r} is not 'in' or 'out'")
        return ev


def _point(kind: str, p: Any) -> Point:
    if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_number(v) for v in p)):
        raise ConfigError(f"{kind} point {_short(p)} is not [x, y] with two numbers")
    x, y = float(p[0]), float(p[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ConfigError(f"{kind} point {_short(p)} is not finite")
    return (x, y)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    return {int: "an integer", float: "a number", str: "a string", list: "a list", tuple: "a list",
            dict: "a mapping"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _expect(cam: str, name: str, value: Any, kind: type, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        want = {str: "a string", bool: "true or false"}.get(kind, kind.__name__)
        raise ConfigError(f"{cam}: {name} must be {want}{' or null' if optional else ''}, "
                          f"got {_type_name(value)} ({_short(value)})")


def _number(cam: str, name: str, value: Any) -> float:
    if not _is_number(value):
        raise ConfigError(f"{cam}: {name} must be a number, got {_type_name(value)} ({_short(value)})")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{cam}: {name} must be a finite number")
    return number


MODEL_REFERENCE_PREFIX = "sha256:"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def check_model_reference(model: str, context: str = "camera") -> str:
    """A camera's ``model``: a path on the worker, or ``sha256:`` and exactly 64 lowercase hex
    digits (a pushed model). Anything else that starts with ``sha256:`` (``sha256:../../x``) is a
    ConfigError: a reference is never read as a path."""
    if model.startswith(MODEL_REFERENCE_PREFIX) and not _SHA256_HEX.match(model[len(MODEL_REFERENCE_PREFIX):]):
        raise ConfigError(f"{context}: model {_short(model)} is not a valid reference; a pushed model is "
                          "sha256: followed by 64 lowercase hex digits")
    return model


def _segment_outside(seg: tuple[Point, Point], width: int, height: int) -> bool:
    """True when a segment misses the frame rectangle entirely (Liang-Barsky clip)."""
    (x1, y1), (x2, y2) = seg
    dx, dy = x2 - x1, y2 - y1
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x1), (dx, width - x1), (-dy, y1), (dy, height - y1)):
        if p == 0:
            if q < 0:
                return True
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return True
    return False
