"""Compare what the master stored with a fault-free count of the same frames.

Files and the synthetic camera are deterministic: counting frames [0, last] of a camera
in one uninterrupted offline run gives the crossings a fault-free pool would have stored.
`compare` matches stored events to those crossings on (line, direction) and frame index
(within a small tolerance: a tracker restarted from a warm-up a few seconds before the cut
may confirm a crossing a frame or two apart); what the reference has and the store lacks is
lost, what the store holds beyond the reference is duplicated.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from campool_worker.camera import CameraConfig, CountEvent


@dataclass(frozen=True)
class Crossing:
    frame_index: int
    line: str
    direction: str
    class_name: str = ""


@dataclass(frozen=True)
class AuditResult:
    expected: int
    stored: int
    lost: int
    duplicated: int
    lost_frames: tuple[int, ...]
    duplicated_frames: tuple[int, ...]


def reference_crossings(config: CameraConfig, last_frame: int) -> list[Crossing]:
    """Count frames [0, last_frame] offline, as one uninterrupted run would (no pacing)."""
    from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
    from campool_worker.pipeline.sources import open_source

    source = open_source(config.source, loop=config.loop, realtime=False)
    try:
        detector = load_detector(config.model, class_names=config.labels, confidence=config.confidence,
                                 classes=config.classes)
        pipe = CameraPipeline(config, detector)
        out: list[Crossing] = []
        while True:
            frame = source.read()
            if frame is None or frame.index > last_frame:
                break
            res = pipe.process(frame)
            out.extend(Crossing(c.frame_index, c.line, c.direction, c.class_name) for c in res.crossings)
        return out
    finally:
        source.close()


def compare(reference: list[Crossing], stored: list[CountEvent], tolerance: int = 3) -> AuditResult:
    """Greedy one-to-one matching per (line, direction), nearest frame first."""
    ref: dict[tuple[str, str], list[int]] = defaultdict(list)
    got: dict[tuple[str, str], list[int]] = defaultdict(list)
    for c in reference:
        ref[(c.line, c.direction)].append(c.frame_index)
    for e in stored:
        got[(e.line, e.direction)].append(e.frame_index)
    lost: list[int] = []
    dup: list[int] = []
    for key in set(ref) | set(got):
        r = sorted(ref.get(key, []))
        g = sorted(got.get(key, []))
        used = [False] * len(g)
        j0 = 0
        for f in r:
            while j0 < len(g) and g[j0] < f - tolerance:
                j0 += 1
            best = None
            j = j0
            while j < len(g) and g[j] <= f + tolerance:
                if not used[j] and (best is None or abs(g[j] - f) < abs(g[best] - f)):
                    best = j
                j += 1
            if best is None:
                lost.append(f)
            else:
                used[best] = True
        dup.extend(g[j] for j in range(len(g)) if not used[j])
    return AuditResult(len(reference), len(stored), len(lost), len(dup), tuple(sorted(lost)), tuple(sorted(dup)))
