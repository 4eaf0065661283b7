"""A real HTTP/MJPEG camera (multipart JPEGs on a local socket): reading it, a wrong path, losing it."""
from __future__ import annotations

import time

import numpy as np
import pytest

from campool_worker.errors import SourceError
from campool_worker.pipeline.sources import open_source
from tests.helpers.mjpeg_server import MjpegCamera

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mjpeg_camera():
    cam = MjpegCamera().start()
    yield cam
    cam.stop()


def test_mjpeg_camera_delivers_its_pictures(mjpeg_camera):
    with open_source(mjpeg_camera.url) as src:
        frames = [src.read() for _ in range(20)]
    assert (src.kind, src.width, src.height) == ("http", 320, 240)
    assert [f.index for f in frames] == list(range(20))
    # JPEG is lossy, so compare with the scene the camera drew, allowing for compression.
    rendered = [mjpeg_camera.scene.render(i).astype(np.int16) for i in range(40)]
    for f in frames[:5]:
        best = min(np.abs(f.image.astype(np.int16) - r).mean() for r in rendered)
        assert best < 3.0


def test_wrong_path_on_a_live_host_says_to_check_the_path(mjpeg_camera):
    with pytest.raises(SourceError, match="check the stream path"):
        open_source(mjpeg_camera.url.replace("video.mjpg", "nothing.mjpg"), open_timeout_s=3)


def test_lost_mjpeg_camera_raises_source_error(mjpeg_camera):
    with open_source(mjpeg_camera.url, read_timeout_s=3) as src:
        src.read()
        mjpeg_camera.stop()
        t0 = time.monotonic()
        with pytest.raises(SourceError, match=r"connection was lost|stalled|ended"):
            while True:
                src.read()
    assert time.monotonic() - t0 < 3 + 2
