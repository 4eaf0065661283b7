"""GUI test fixtures: a real Master with real local worker processes, shared by the GUI tests.

The pool is started once per session (two `campool-worker serve` processes on 127.0.0.1,
adopted with their pairing codes, three synthetic cameras) because starting workers
costs seconds; each test gets its own bridge and window on top of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtCore import QSettings

from campool_gui.demo import DemoSession, demo_cameras
from campool_gui.ui import theme


@dataclass
class Pool:
    master: object
    demo: DemoSession

    @property
    def worker_ids(self) -> list[str]:
        return self.demo.worker_ids

    def snapshot(self):
        return self.master.snapshot()

    def camera(self, camera_id: str):
        return next(c for c in self.master.snapshot().cameras if c.camera_id == camera_id)


@pytest.fixture(scope="session", autouse=True)
def _theme(qapp):
    theme.apply(qapp, theme.DARK)


def start_master(path, **kw):
    from campool_gui.pool.master import Master, MasterSettings
    master = Master(MasterSettings(data_dir=path, **kw))
    master.start()
    return master


@pytest.fixture(scope="session")
def pool(tmp_path_factory):
    base = tmp_path_factory.mktemp("gui-pool")
    master = start_master(base / "master", zeroconf=False)
    demo = DemoSession(master, base_dir=base / "workers", workers=2, zeroconf=False)
    try:
        demo.start([c for c in demo_cameras(None) if c.source.startswith("synthetic://")])
        yield Pool(master, demo)
    finally:
        master.stop()
        demo.stop()


@pytest.fixture
def bridge(qtbot, pool):
    from campool_gui.ui.bridge import PoolBridge
    b = PoolBridge(pool.master)
    # Ready when the pool is: both workers heartbeating, the cameras running.
    qtbot.waitUntil(lambda: b.state.totals.workers_online == 2 and b.state.totals.cameras_running >= 3,
                    timeout=30000)
    yield b
    b.close()


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "campool-gui.ini"), QSettings.Format.IniFormat)


def open_main_window(qtbot, bridge, settings):
    """The main window as the screenshots see it (1440x900, shown); a test that switches the language
    opens its own after the switch."""
    from campool_gui.ui.main_window import MainWindow
    w = MainWindow(bridge, settings, data_dir="/tmp/campool-test", tray=False)
    qtbot.addWidget(w)
    w.resize(1440, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(qtbot, bridge, settings):
    w = open_main_window(qtbot, bridge, settings)
    yield w
    w.close()
