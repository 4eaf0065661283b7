"""`campool-gui --screenshot DIR`: every main view of a running pool, rendered to PNG.

Each view is shown, given the time it needs to have something true to show (worker
charts with a few samples, a decoded preview in each visible tile, stored counts in
the history), then grabbed. What it waits for is bounded: a view that never gets its
data is still rendered, as it is, and the wait is logged.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.main_window import VIEWS, MainWindow

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


def render_all_views(window: MainWindow, bridge: PoolBridge, out_dir: Path, *, patience: float = 40.0) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    window.resize(*SIZE)
    window.show()
    st = lambda: bridge.state  # noqa: E731 - read the newest state each time
    wait_for("workers online", lambda: st().totals.workers_active >= 1 and st().totals.cameras_running >= 1, patience)
    wait_for("worker charts", lambda: all(len(w.history["cpu"]) >= 12 for w in st().workers.values() if w.online),
             patience)
    # The demo has one unreachable camera; its "stream lost" alert shows what an alert looks like.
    wait_for("an alert", lambda: any(a.state != "resolved" for a in st().alerts.values()), 25)
    wait_for("counts", lambda: st().totals.throughput_per_min > 0 or any(c.total_count() for c in st().cameras.values()),
             patience)
    paths: list[Path] = []
    for key, _title in VIEWS:
        window.show_view(key)
        page = window.pages[key]
        if key == "workers":
            running = [w for w in st().workers.values() if w.online]
            if running:
                page.select(sorted(running, key=lambda w: w.name)[0].worker_id)  # type: ignore[attr-defined]
            spin(0.6)
        elif key == "live":
            tiles = lambda: [t for t in page.tiles if t.camera is not None and t.camera.state == "running"]  # type: ignore[attr-defined]  # noqa: E731
            wait_for("preview frames", lambda: bool(tiles()) and all(t.frames_shown >= 2 for t in tiles()), patience)
        elif key == "history":
            page.range_combo.setCurrentText("Last hour")  # type: ignore[attr-defined]
            page.bucket_combo.setCurrentText("minute")  # type: ignore[attr-defined]
            page.run_query()  # type: ignore[attr-defined]
            wait_for("history rows", lambda: page.queries_done > 0 and bool(page.rows), 10)  # type: ignore[attr-defined]
        elif key == "cameras":
            cams = sorted(st().cameras)
            if cams:
                page.select_ids(cams[:1])  # type: ignore[attr-defined]
            spin(0.3)
        else:
            spin(0.4)
        path = out_dir / f"{key}.png"
        if not window.grab().save(str(path)):
            raise OSError(f"could not write {path}; check the folder is writable")
        log.info("screenshot of %s written to %s", key, path)
        paths.append(path)
    return paths
