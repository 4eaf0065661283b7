"""Cameras → Add → Scan, in the window: the scan lists the ONVIF camera on the LAN (a responder on
loopback, tests/helpers/onvif_camera.py), its credentials read its streams, the stream picked fills
the camera dialog (the user in the URL, the password in its field, masked), "Test connection" reads
a frame from it and the camera is added with its password."""
from __future__ import annotations

from functools import partial

import pytest

from campool_gui.onvif.discovery import probe
from campool_gui.ui.camera_dialog import CameraDialog
from tests.helpers.mjpeg_server import MjpegCamera
from tests.helpers.onvif_camera import OnvifCameraResponder

pytestmark = pytest.mark.timeout(60)
LOOPBACK_SCAN = partial(probe, wait_s=1.5, interface="127.0.0.1")


@pytest.fixture
def onvif_camera():
    mjpeg = MjpegCamera().start()
    try:
        with OnvifCameraResponder({"main": mjpeg.url, "sub": "rtsp://127.0.0.1:8554/sub"}) as cam:
            yield cam, mjpeg
    finally:
        mjpeg.stop()


def test_a_scanned_camera_is_added_with_its_stream_and_password(qtbot, onvif_camera):
    cam, mjpeg = onvif_camera
    dlg = CameraDialog(None, onvif_scan=LOOPBACK_SCAN)
    qtbot.addWidget(dlg)
    scan = dlg.scan_lan()
    qtbot.waitUntil(lambda: scan.device_list.count() >= 1, timeout=10000)
    row = next(i for i, d in enumerate(scan._devices) if d.endpoint == cam.endpoint)
    scan.device_list.setCurrentRow(row)
    assert "Gate North" in scan.device_list.item(row).text() and "TestCam 4K" in scan.device_list.item(row).text()

    scan.password_edit.setText("guess")
    with qtbot.waitSignal(scan.tasks.streams_read, timeout=10000):
        scan.read_button.click()
    assert "refused the user name or password" in scan.status.text()
    assert not scan.use_button.isEnabled()

    scan.password_edit.setText("s3cret")
    with qtbot.waitSignal(scan.tasks.streams_read, timeout=10000):
        scan.read_button.click()
    assert scan.stream_combo.count() == 2 and "1920x1080" in scan.stream_combo.itemText(0)
    scan.use_button.click()

    assert dlg.name_edit.text() == "Gate North"
    host = mjpeg.url.split("://", 1)[1]
    assert dlg.source_edit.text() == f"http://admin@{host}"      # no password in the field
    assert dlg.password_edit.text() == "s3cret"                  # in its own (dots) field
    with qtbot.waitSignal(dlg.tester.finished, timeout=10000) as probed:
        dlg.test_connection()
    assert probed.args[0].ok and "320x240" in dlg.test_status.text()
    config = dlg.build_config()
    assert config.source == f"http://admin:s3cret@{host}" and config.camera_id == "gate-north"
