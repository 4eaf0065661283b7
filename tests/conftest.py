"""Fixtures shared by every test layer."""
from __future__ import annotations

import os

import pytest

from tests.helpers.data import shared_file

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
