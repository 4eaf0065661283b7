"""The tests' RTSP camera: the harness's (campool_gui/harness/rtsp_camera.py), which the live
failover bench uses too; one launcher, so the tests and the bench serve the same stream.

The `rtsp_camera` fixtures live in the test modules that use it: RtspCamera(video).start(),
stop() (SIGKILL, like a camera losing power), restart(); gi_rtsp_missing() gives the skip
reason when gi or GstRtspServer is missing.
"""
from __future__ import annotations

from campool_gui.harness.rtsp_camera import SYSTEM_PYTHON, RtspCamera, free_port, gi_rtsp_missing

__all__ = ["SYSTEM_PYTHON", "RtspCamera", "free_port", "gi_rtsp_missing"]
