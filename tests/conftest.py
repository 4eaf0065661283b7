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
