"""`campool-gui --screenshot DIR`: every main view of a running pool, rendered to PNG.

Each view is shown, given the time it needs to have something true to show (worker
charts with a few samples, a decoded preview in each visible tile, stored counts in
the history), then grabbed. What it waits for is bounded: a view that never gets its
data is still rendered, as it is, and the wait is logged.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

from campool_gui.ui.application import open_desktop
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.cameras_view import CamerasView
from campool_gui.ui.common import Page
from campool_gui.ui.history_view import HistoryView
from campool_gui.ui.jobs_view import JobsView
from campool_gui.ui.live_view import LiveView
from campool_gui.ui.main_window import VIEWS, MainWindow
from campool_gui.ui.preview_tile import PreviewTile
from campool_gui.ui.state import UiState
from campool_gui.ui.workers_view import WorkersView

log = logging.getLogger(__name__)

SIZE = (1440, 900)


def spin(seconds: float) -> None:
    """Run the event loop for `seconds` (the CLI path has no other loop running)."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_for(what: str, pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if pred():
            return True
        spin(0.05)
    log.warning("screenshot: gave up waiting for %s after %.0f s; rendering as it is", what, timeout)
    return False


def screenshot_command(args: Any) -> int:
    """`campool-gui --screenshot DIR`: reads screenshot (DIR) and the desktop options from args."""
    desk = open_desktop(args, demo_mode=True, tray=False)
    try:
        desk.add_demo(zeroconf=not args.no_zeroconf).start()
        for path in render_all_views(desk.window, desk.bridge, Path(args.screenshot)):
            sys.stdout.write(f"{path}\n")
        return 0
    finally:
        desk.close()


def render_all_views(window: MainWindow, bridge: PoolBridge, out_dir: Path, *, patience: float = 40.0) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    window.resize(*SIZE)
    window.show()

    def st() -> UiState:  # the newest state, each time
        return bridge.state

    wait_for("workers online", lambda: st().totals.workers_online >= 1 and st().totals.cameras_running >= 1, patience)
    wait_for("worker charts", lambda: all(len(w.history) >= 12 for w in st().workers.values() if w.online),
             patience)
    # The demo has one unreachable camera; its "stream lost" alert shows what an alert looks like.
    wait_for("an alert", lambda: any(a.state != "resolved" for a in st().alerts.values()), 25)
    wait_for("counts", lambda: st().totals.throughput_per_min > 0 or any(c.counts_total for c in st().cameras.values()),
             patience)
    paths: list[Path] = []
    for key, _title in VIEWS:
        window.show_view(key)
        _prepare(window.pages[key], st(), patience)
        path = out_dir / f"{key}.png"
        if not window.grab().save(str(path)):
            raise OSError(f"could not write {path}; check the folder is writable")
        log.info("screenshot of %s written to %s", key, path)
        paths.append(path)
    return paths


def _prepare(page: Page, state: UiState, patience: float) -> None:
    """Give the view on screen what it needs to show something true: a selected worker,
    decoded previews, the last hour's history, a selected camera."""
    if isinstance(page, WorkersView):
        running = [w for w in state.workers.values() if w.online]
        if running:
            page.select(min(running, key=lambda w: w.name).worker_id)
        spin(0.6)
    elif isinstance(page, LiveView):
        live = page

        def tiles() -> list[PreviewTile]:
            return [t for t in live.tiles if t.camera is not None and t.camera.state == "running"]

        wait_for("preview frames", lambda: bool(tiles()) and all(t.frames_shown >= 2 for t in tiles()), patience)
    elif isinstance(page, HistoryView):
        history = page
        history.select_range("Last hour")
        history.select_bucket("minute")
        history.run_query()
        wait_for("history rows", lambda: history.queries_done > 0 and bool(history.rows), 10)
    elif isinstance(page, JobsView):
        _queue_demo_job(page)
        wait_for("a job under way", lambda: any(j.progress > 0.05 or j.finished_at for j in page.jobs.values()), 30)
        spin(0.5)
    elif isinstance(page, CamerasView):
        cams = sorted(state.cameras)
        if cams:
            page.select_ids(cams[:1])
        spin(0.3)
    else:
        spin(0.4)


def _queue_demo_job(page: JobsView) -> None:
    """A survey job over the shared highway video (when it is here), so the view shows a queue in motion."""
    from campool_gui.harness.bench_failover import shared_file
    from campool_gui.pool.jobs import JobSpec
    from campool_worker.camera import CountingLine

    video = shared_file("videos/highway.mp4")
    if video is None or page.jobs:
        return
    model = shared_file("models/yolox_nano.onnx")
    spec = JobSpec(files=(str(video), str(video)), lines=(CountingLine.parse("near:0,500,1280,500"),),
                   model=str(model) if model else None, name="highway survey", detect_fps=10.0, interval_min=1.0)
    page.bridge.call("queueing the demo job", lambda: page.bridge.master.submit_job(spec),
                     on_done=lambda _e: page.shown())
