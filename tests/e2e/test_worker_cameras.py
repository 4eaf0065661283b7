"""Cameras inside the daemon: the real runner and pipeline, previews, and a broken camera failing alone."""
from __future__ import annotations

import cv2
import numpy as np

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.worker_process import TelemetryCollector, WorkerProcess, wait_until

SYNTH = "synthetic://?w=320&h=180&fps=15&objects=3&seed=2&speed=3"


def test_synthetic_camera_counts_and_previews_while_a_broken_camera_fails_alone(tmp_path):
    col = TelemetryCollector()
    with WorkerProcess(tmp_path / "w", extra_args=["--capacity", "4"]) as worker:
        keys = worker.adopt()
        with worker.client(keys, on_telemetry=col.on_telemetry) as link:
            link.subscribe(p.TOPIC_PREVIEW + b"synth")
            good = CameraConfig("synth", SYNTH, lines=[CountingLine("mid", (0, 90), (320, 90))])
            broken = CameraConfig("broken", str(tmp_path / "no-such-video.mp4"))
            link.call(p.AssignCamera(good, 1), expect=p.Ok)
            link.call(p.AssignCamera(broken, 1), expect=p.Ok)
            link.call(p.SetPreview("synth", True, width=160, fps=5), expect=p.Ok)

            def camera(cid):
                hb = col.last_heartbeat()
                return next((c for c in hb.cameras if c.camera_id == cid), None) if hb else None

            wait_until(lambda: camera("broken") is not None and camera("broken").state in ("failed", "reconnecting"),
                       20, message="the broken camera to report its failure")
            assert "no-such-video" in (camera("broken").last_error or "")
            wait_until(lambda: any(a.code == "camera_down" and a.camera_id == "broken" for a in col.alerts), 5,
                       message="an alert for the broken camera")
            wait_until(lambda: len(col.events) >= 2 and col.previews, 30, message="counts and previews")
            first = len(col.events)
            wait_until(lambda: len(col.events) > first, 30, message="counting to go on beside the broken camera")

            preview = col.previews[-1]
            image = cv2.imdecode(np.frombuffer(preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape[1] == preview.width == 160 and image.shape[0] == preview.height == 90
            assert (preview.source_width, preview.source_height) == (320, 180), "lines are drawn in source pixels"
            assert "mid" in preview.counts
            events = sorted(col.events.values(), key=lambda e: e.seq)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert all(e.camera_id == "synth" and e.line == "mid" and e.direction in ("in", "out") for e in events)
            status = link.call(p.GetStatus(), expect=p.StatusReply).status
            synth = next(c for c in status.cameras if c.camera_id == "synth")
            assert synth.state == "running" and synth.detector == "motion" and synth.frames > 0
        assert worker.alive()
