"""A demo pool on this machine: two real `campool-worker serve` processes on 127.0.0.1.

Used by `campool-gui --demo`, `--screenshot` and the GUI tests. Each worker is a real
daemon (real sockets, real keys, real pairing): the demo starts it on free ports,
reads its ports file, asks it for a pairing code the way an operator would
(`campool-worker pair`) and the Master adopts it with that code. Cameras are
synthetic streams, plus the shared highway / plaza videos with the YOLOX model when
../shared/data is present beside the project.

The worker processes come from `campool_gui.harness.launcher`, the one place that starts
local workers: the demo is a product feature, but a worker it starts must behave exactly
like the ones the benchmarks and the tests start (this installation's worker code, its own
data folder and ports file, stopped the same way), so it does not keep a second launcher
that could drift from theirs. It is the only product module that imports the harness.

No Qt here: the headless tests use it as well.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from campool_gui.harness.launcher import LocalWorker
from campool_worker.camera import CameraConfig, CountingLine, Zone

if TYPE_CHECKING:
    from campool_gui.pool.master import Master

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


def shared_data_dir() -> Path | None:
    """../shared/data beside the project (or $CAMPOOL_SHARED_DATA), when it exists."""
    env = os.environ.get("CAMPOOL_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [PROJECT_ROOT.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


class DemoWorkers:
    """Starts, pairs and stops the local demo workers."""

    def __init__(self, base_dir: Path | None = None, count: int = 2, capacity: int = 4, *,
                 zeroconf: bool = True) -> None:
        self._own_dir = base_dir is None
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="campool-demo-"))
        # zeroconf: announce on 127.0.0.1 only, found by this master, invisible to the LAN.
        # No master key up front: the master adopts each worker with its pairing code.
        self.workers = [LocalWorker(f"demo-{i + 1}", self.base / f"worker-{i + 1}", capacity=capacity,
                                    announce_on="127.0.0.1" if zeroconf else None, die_with_parent=True)
                        for i in range(count)]
        self.capacity = capacity
        self.zeroconf = zeroconf

    def spawn(self) -> None:
        """Start the processes (fast). Call it on a thread that lives as long as the demo: on
        Linux the workers are tied to it and die with it, so a crashed GUI leaves none behind."""
        for w in self.workers:
            if w.proc is None:
                w.spawn()

    def start(self) -> list[LocalWorker]:
        """Start every worker (if `spawn` was not called) and wait until each listens."""
        self.spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        for w in self.workers:
            w.wait_listening(max(0.0, deadline - time.monotonic()))
            log.info("demo worker %s (%s) listening: cmd %s pub %s pair %s", w.name, w.worker_id,
                     w.info.get("cmd"), w.info.get("pub"), w.info.get("pair"))
        return self.workers

    def pairing_code(self, w: LocalWorker) -> str:
        """Ask the worker for a pairing code, exactly as an operator does on the box."""
        return w.pairing_code()

    def stop(self) -> None:
        for w in self.workers:  # all at once, then wait for each
            w.signal(signal.SIGTERM)
        for w in self.workers:
            w.stop(10.0)
        if self._own_dir:
            shutil.rmtree(self.base, ignore_errors=True)


def demo_cameras(shared: Path | None = None) -> list[CameraConfig]:
    """Synthetic cameras (always) and the shared videos with the model (when present)."""
    cams = [
        CameraConfig("synthetic-gate", "synthetic://?w=640&h=360&fps=15&objects=5&seed=1", name="Gate (synthetic)",
                     lines=[CountingLine("gate", (0, 180), (640, 180))],
                     zones=[Zone("apron", ((40, 220), (300, 220), (300, 350), (40, 350)))],
                     detect_fps=8, site="north", loop=True),
        CameraConfig("synthetic-yard", "synthetic://?w=640&h=360&fps=15&objects=7&seed=7&axis=x",
                     name="Yard (synthetic)",
                     lines=[CountingLine("east", (320, 0), (320, 360))], detect_fps=8, site="south", priority="high",
                     loop=True),
        CameraConfig("synthetic-dock", "synthetic://?w=640&h=360&fps=12&objects=3&seed=3", name="Dock (synthetic)",
                     lines=[CountingLine("dock", (0, 250), (640, 120))], detect_fps=6, site="south", loop=True),
        # Unplugged on purpose: nothing listens on port 9. The demo shows what a lost stream looks
        # like (camera state, the error text, a "stream lost" alert) next to healthy ones.
        CameraConfig("back-gate", "rtsp://127.0.0.1:9/live", name="Back gate (unplugged)", site="north",
                     priority="low", lines=[CountingLine("in", (0, 200), (640, 200))]),
    ]
    if shared is not None:
        model = shared / "models" / "yolox_nano.onnx"
        highway = shared / "videos" / "highway.mp4"
        plaza = shared / "videos" / "plaza.avi"
        m = str(model) if model.is_file() else None
        if highway.is_file():
            cams.append(CameraConfig(
                "highway", str(highway), name="Highway overpass", model=m,
                classes=["car", "truck", "bus", "motorcycle"] if m else None,
                lines=[CountingLine("near", (0, 500), (1280, 500))], detect_fps=10, site="north",
                priority="critical", loop=True))
        if plaza.is_file():
            cams.append(CameraConfig(
                "plaza", str(plaza), name="Plaza", model=m, classes=["person"] if m else None,
                # the line of the by-eye count in tests/integration/test_count_accuracy.py: 6 in, 6 out a loop
                lines=[CountingLine("mid", (440, 420), (1160, 420))],
                zones=[Zone("square", ((300, 200), (1000, 200), (1000, 600), (300, 600)))],
                detect_fps=5, site="south", loop=True))
    return cams


class DemoSession:
    """Local demo workers, adopted by `master` with their pairing codes, and the demo cameras.

    Workers announce themselves on 127.0.0.1 by zeroconf, so the master finds them the way
    it finds workers on a LAN and adopts them with the code each one shows. The last
    `leave_unadopted` workers are left "found on the LAN" for the operator to adopt.
    """

    DISCOVERY_WAIT_S = 6.0

    def __init__(self, master: Master, base_dir: Path | None = None, workers: int = 2, capacity: int = 4, *,
                 leave_unadopted: int = 0, zeroconf: bool = True) -> None:
        self.master = master
        self.workers = DemoWorkers(base_dir, workers + leave_unadopted, capacity, zeroconf=zeroconf)
        self.n_adopt = workers
        self.zeroconf = zeroconf
        self.worker_ids: list[str] = []
        self.waiting: list[tuple[LocalWorker, str]] = []  # (worker, pairing code) left for the operator
        self.cameras: list[CameraConfig] = []

    def _discovered(self, worker_id: str) -> bool:
        deadline = time.monotonic() + self.DISCOVERY_WAIT_S
        while time.monotonic() < deadline:
            if any(w.worker_id == worker_id for w in self.master.snapshot().workers):
                return True
            time.sleep(0.1)
        return False

    def spawn(self) -> None:
        self.workers.spawn()

    def start(self, cameras: list[CameraConfig] | None = None) -> DemoSession:
        """Start (see `spawn`), adopt and load cameras; blocking (seconds): call it off the UI thread."""
        started = self.workers.start()
        for i, w in enumerate(started):
            code = self.workers.pairing_code(w)
            if i >= self.n_adopt:
                self.waiting.append((w, code))
                log.info("demo worker %s is left for you to adopt: pairing code %s", w.name, code)
                continue
            if self.zeroconf and self._discovered(w.worker_id):
                wid = self.master.adopt(w.worker_id, code)
            else:  # no multicast on this machine: adopt by address, as with a static config
                log.info("demo worker %s not found by zeroconf; adopting it by address", w.name)
                wid = self.master.add_worker(*w.adopt_args(), code=code)
            self.worker_ids.append(wid)
            log.info("demo worker %s adopted as %s", w.name, wid)
        self.cameras = cameras if cameras is not None else demo_cameras(shared_data_dir())
        known = {c.camera_id for c in self.master.snapshot().cameras}
        for i, cfg in enumerate(self.cameras):
            if cfg.camera_id in known:
                continue
            # One camera pinned by hand, the rest placed by the balancer: the demo shows both.
            pin = self.worker_ids[0] if i == 0 and self.worker_ids else None
            self.master.add_camera(cfg, pin=pin)
        return self

    def stop(self) -> None:
        self.workers.stop()
