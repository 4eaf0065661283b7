"""Fixtures shared by every test layer."""
from __future__ import annotations

import os

import pytest

from tests.helpers.data import shared_file
from tests.helpers.rtsp_server import RtspCamera, gi_rtsp_missing

# Qt tests never need a display; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def highway_video():
    return shared_file("videos/highway.mp4")


@pytest.fixture(scope="session")
def plaza_video():
    return shared_file("videos/plaza.avi")


@pytest.fixture(scope="session")
def yolox_model():
    return shared_file("models/yolox_nano.onnx")


@pytest.fixture(scope="session")
def rtsp_available():
    reason = gi_rtsp_missing()
    if reason:
        pytest.skip(f"no RTSP server for stream tests: {reason}")


@pytest.fixture
def rtsp_camera(rtsp_available, highway_video):
    """The test camera: gst-rtsp-server looping the shared highway video at real time."""
    cam = RtspCamera(highway_video).start()
    yield cam
    cam.stop()


# ---------------------------------------------------------------- two test processes, some tests alone
# The suite runs in two processes (pytest-xdist, `-n 2` in pyproject.toml): most tests wait on
# sockets, timers and subprocesses, not on the CPU. A test marked `alone` (a live camera at real
# time, heartbeat deadlines, the live audits) runs with no other test beside it: the other process
# waits before its next test, so such a test sees the machine a serial run would give it.
# Each module is one xdist group (its module fixtures run once), and the GUI tests are one group,
# so the session's GUI pool (two workers, three cameras) starts in one process only.

@pytest.hookimpl(tryfirst=True)    # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group("gui" if path.startswith("tests/gui/") else path))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid or os.name != "posix":   # one process, or no flock (Windows: the timing tests skip there)
        yield
        return
    from tests.helpers.alone import RunAlone
    with RunAlone(uid).hold(exclusive=item.get_closest_marker("alone") is not None):
        yield
