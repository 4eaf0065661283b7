"""A real RTSP camera (gst-rtsp-server serving highway.mp4): reading, losing and regaining it."""
from __future__ import annotations

import itertools
import os
import signal
import time

import numpy as np
import psutil
import pytest

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.errors import SourceError
from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
from campool_worker.pipeline.runner import CameraRunner
from campool_worker.pipeline.sources import open_source

pytestmark = [pytest.mark.rtsp, pytest.mark.alone, pytest.mark.timeout(120)]


def _wait_for(predicate, timeout_s: float, poll_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    return predicate()


def _udp_sockets() -> int:
    return len(psutil.Process().net_connections(kind="udp"))


def test_rtsp_camera_delivers_the_video_over_tcp(rtsp_camera, highway_video):
    udp_before = _udp_sockets()
    with open_source(rtsp_camera.url) as src:
        frames = [src.read() for _ in range(45)]
        tcp = [c for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == rtsp_camera.port and c.status == psutil.CONN_ESTABLISHED]
        udp_during = _udp_sockets()
    assert (src.width, src.height, src.kind, src.seekable) == (1280, 720, "rtsp", False)
    assert len(tcp) >= 1, "RTSP must run over a TCP connection to the camera"
    assert udp_during == udp_before, "RTP over UDP was used; the source must ask for TCP"
    assert [f.index for f in frames] == list(range(45))
    # H.264 passes through untouched, so the pictures are the file's, bit for bit.
    with open_source(str(highway_video)) as file_src:
        assert all(np.array_equal(f.image, file_src.read().image) for f in frames[:5])


@pytest.mark.slow
def test_rtsp_camera_loops_past_the_end_of_its_file(rtsp_camera):
    # The server loops highway.mp4 (450 frames, 15 s); a live camera has no end.
    with open_source(rtsp_camera.url) as src:
        last = None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            last = src.read()
            if last.index >= 480:
                break
    assert last is not None and last.index >= 480


def test_killed_camera_is_reported_within_seconds(rtsp_camera):
    with open_source(rtsp_camera.url, read_timeout_s=3) as src:
        for _ in range(10):
            src.read()
        rtsp_camera.stop()
        t0 = time.monotonic()
        with pytest.raises(SourceError, match=r"connection was lost|stalled"):
            while True:
                src.read()
        detected = time.monotonic() - t0
    print(f"\nRTSP camera killed: loss detected after {detected:.2f} s")
    assert detected < 3 + 2


def test_stalled_camera_is_detected_by_the_read_timeout(rtsp_camera):
    # SIGSTOP: the TCP connection stays open but no byte arrives, the case FFmpeg's
    # own timeouts do not always catch.
    with open_source(rtsp_camera.url, read_timeout_s=2) as src:
        for _ in range(10):
            src.read()
        os.killpg(rtsp_camera.proc.pid, signal.SIGSTOP)
        try:
            t0 = last_frame = time.monotonic()
            with pytest.raises(SourceError, match="no frame for 2 s; the stream stalled"):
                while True:
                    src.read()
                    last_frame = time.monotonic()
            raised = time.monotonic()
        finally:
            os.killpg(rtsp_camera.proc.pid, signal.SIGCONT)
    # What the camera had already sent still drains from the socket and decoder after the
    # SIGSTOP (longer on a loaded box), so the timeout is judged from the last frame.
    silent = raised - last_frame
    print(f"\nRTSP camera stalled: {raised - t0:.2f} s after SIGSTOP, {silent:.2f} s after the last frame")
    assert 2 - 0.1 <= silent < 2 + 1


def _runner(url: str, frames: list, **kw) -> CameraRunner:
    cfg = CameraConfig(camera_id="gate-2", source=url, lines=[CountingLine.parse("near:0,500,1280,500")])
    return CameraRunner(cfg, lambda c: _Recorder(c, frames), read_timeout_s=3, open_timeout_s=3, **kw)


class _Recorder:
    """The real motion pipeline, also noting which frame indices it was given."""

    def __init__(self, config: CameraConfig, seen: list) -> None:
        self.inner = CameraPipeline(config, load_detector(None), fps=30)
        self.seen = seen

    def process(self, frame):
        self.seen.append(frame.index)
        return self.inner.process(frame)


@pytest.mark.slow
def test_runner_reports_the_loss_and_reconnects_when_the_camera_returns(rtsp_camera):
    seen: list[int] = []
    runner = _runner(rtsp_camera.url, seen, backoff_initial_s=0.5, backoff_max_s=4).start()
    try:
        assert _wait_for(lambda: runner.status().state == "running" and runner.status().frames > 20, 20)
        rtsp_camera.stop()
        t0 = time.monotonic()
        assert _wait_for(lambda: runner.status().state == "reconnecting", 10)
        detected = time.monotonic() - t0
        st = runner.status()
        assert "rtsp://127.0.0.1" in st.last_error
        assert any(w in st.last_error for w in ("connection was lost", "stalled", "cannot connect"))
        print(f"\nrunner: RTSP loss reported after {detected:.2f} s: {st.last_error!r}")
        assert detected < 3 + 2
        # While it is down, attempts fail with the reason and back off.
        assert _wait_for(lambda: "Connection refused" in (runner.status().last_error or ""), 5)
        time.sleep(2.0)
        index_before = runner.status().frame_index
        frames_before = runner.status().frames
        rtsp_camera.start()  # the same camera comes back on the same port
        assert _wait_for(lambda: runner.status().state == "running"
                         and runner.status().frames > frames_before + 20, 20), runner.status()
        st = runner.status()
        assert st.last_error is None and st.reconnects == 1
        # Indices keep growing across the outage, and jump by about its length.
        assert st.frame_index > index_before + 30
        assert all(b > a for a, b in itertools.pairwise(seen))
    finally:
        t0 = time.monotonic()
        runner.stop()
        assert time.monotonic() - t0 < 3
    assert runner.status().state == "stopped"


def test_runner_stop_is_prompt_while_the_camera_is_stalled(rtsp_camera):
    runner = _runner(rtsp_camera.url, []).start()
    try:
        assert _wait_for(lambda: runner.status().frames > 5, 20)
        os.killpg(rtsp_camera.proc.pid, signal.SIGSTOP)
        time.sleep(0.5)
        t0 = time.monotonic()
        runner.stop()
        took = time.monotonic() - t0
    finally:
        os.killpg(rtsp_camera.proc.pid, signal.SIGCONT)
    assert runner.status().state == "stopped"
    assert took < 2.5
    assert _wait_for(lambda: not runner.alive, 5), "the camera thread kept running after stop()"
