"""The ``test://`` camera: a runner that emits crossings fast, for the outbox and failover tests.

The daemon uses it only with the ``test_hooks`` setting on (`tests/helpers/worker_process.py`
turns it on); anywhere else a ``test://`` source is refused.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from campool_worker.camera import CameraConfig
from campool_worker.coverage import CoverageTracker
from campool_worker.pipeline.camera_pipeline import Crossing
from campool_worker.pipeline.runner import RunnerStatus, State


class BurstRunner:
    """``test://burst?rate=500&count=N``: one crossing per "frame" at ``rate`` frames a second,
    ``count`` frames in all (0: forever). Honours start_frame/count_from_frame like the real
    runner, and has its interface (start, stop, status, update_config, promote); it tells its
    frames to the coverage tracker as the real runner does (after their crossings).

    ``&occupancy=car:2,person:1`` reports that many objects of each class in every zone of the
    camera (``on_zones``), as a real pipeline reports its zones after each frame."""

    def __init__(self, camera: CameraConfig, on_crossings: Callable[[list[Crossing]], None],
                 start_frame: int | None, count_from_frame: int | None, *,
                 on_zones: Callable[[dict[str, dict[str, int]]], None] | None = None,
                 watch: CoverageTracker | None = None) -> None:
        q = parse_qs(urlsplit(camera.source).query)
        self.camera_id = camera.camera_id
        self.rate = float(q.get("rate", ["200"])[0])
        self.count = int(q.get("count", ["0"])[0])  # 0 = forever
        self.line = camera.lines[0].name if camera.lines else "line"
        self.on_crossings = on_crossings
        self.on_zones = on_zones
        self.occupancy = {k: int(v) for k, _, v in (item.partition(":") for item in
                                                   q.get("occupancy", [""])[0].split(",") if item)}
        self.zones = [z.name for z in camera.zones]
        self.index = start_frame or 0
        self.count_from = count_from_frame or 0
        self.frames = 0
        self.frame_ts = 0.0
        self.watch = watch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"burst-{camera.camera_id}", daemon=True)
        self._state: State = "starting"

    def start(self) -> BurstRunner:
        self._thread.start()
        return self

    def _run(self) -> None:
        self._state = "running"
        if self.on_zones is not None and self.zones:
            self.on_zones({z: dict(self.occupancy) for z in self.zones})
        t0 = time.monotonic()
        while not self._stop.is_set():
            if self.count and self.index >= self.count:
                self._state = "stopped"
                return
            ts = time.time()
            if self.index >= self.count_from:
                self.on_crossings([Crossing(self.line, "in" if self.index % 2 == 0 else "out", "car",
                                            self.index, self.index, ts)])
            if self.watch is not None:
                self.watch.frame(ts)
            self.frame_ts = ts  # after the crossings: a status never runs ahead of what was handed over
            self.index += 1
            self.frames += 1
            delay = t0 + self.frames / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def status(self) -> RunnerStatus:
        return RunnerStatus(self.camera_id, self._state, fps=self.rate, frames=self.frames,
                            frame_index=self.index - 1, frame_ts=self.frame_ts)

    def update_config(self, camera: CameraConfig) -> None:
        self.line = camera.lines[0].name if camera.lines else "line"
        self.zones = [z.name for z in camera.zones]
        if self.on_zones is not None:
            self.on_zones({z: dict(self.occupancy) for z in self.zones})

    def promote(self, count_from_ts: float | None) -> None:
        if self.watch is not None:
            self.watch.set_role("primary")

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        if self.watch is not None:
            self.watch.lost()
        self._state = "stopped"
