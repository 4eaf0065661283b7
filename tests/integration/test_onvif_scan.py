"""Cameras → Add → Scan, below the dialog: the WS-Discovery probe finds an ONVIF camera on the
LAN (a responder on loopback, multicast and unicast), its streams are read with the operator's
credentials (GetCapabilities, GetProfiles, GetStreamUri, a real password digest), a wrong password
is one line, and the stream URI it gives is tested like any camera's (frames read)."""
from __future__ import annotations

import pytest

from campool_gui.onvif.discovery import probe
from campool_gui.onvif.media import OnvifCamera, OnvifError
from campool_gui.stream_probe import probe_source
from tests.helpers.mjpeg_server import MjpegCamera
from tests.helpers.onvif_camera import OnvifCameraResponder

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mjpeg():
    cam = MjpegCamera().start()
    yield cam
    cam.stop()


@pytest.fixture
def camera(mjpeg):
    with OnvifCameraResponder({"main": mjpeg.url, "sub": "rtsp://127.0.0.1:8554/sub"}) as cam:
        yield cam


def _ours(devices, camera):
    return [d for d in devices if d.endpoint == camera.endpoint]


def test_the_scan_finds_the_camera_on_the_lan_by_multicast(camera):
    [found] = _ours(probe(wait_s=1.5, interface="127.0.0.1"), camera)
    assert (found.name, found.model, found.address) == ("Gate North", "TestCam 4K", "127.0.0.1")
    assert found.xaddrs == (camera.device_url,)


def test_a_camera_on_another_subnet_is_found_by_its_address(camera):
    # No multicast reaches it (another group address here): the unicast probe to its host does.
    [found] = _ours(probe(wait_s=1.5, interface="127.0.0.1", targets=["127.0.0.1"],
                          multicast=("239.255.255.251", 3702)), camera)
    assert found.name == "Gate North"


def test_its_streams_are_read_with_the_credentials_and_the_main_one_gives_frames(camera, mjpeg):
    [found] = _ours(probe(wait_s=1.5, interface="127.0.0.1"), camera)
    streams = OnvifCamera(found.xaddrs[0], "admin", "s3cret").streams()
    assert [(s.token, s.encoding, s.width, s.height, s.uri) for s in streams] == [
        ("main", "H264", 1920, 1080, mjpeg.url), ("sub", "H264", 960, 540, "rtsp://127.0.0.1:8554/sub")]
    assert camera.calls == ["GetCapabilities", "GetProfiles", "GetStreamUri", "GetStreamUri"]
    result = probe_source(streams[0].uri)   # "Test stream": the same probe as Cameras → Add's Test connection
    assert result.ok, result.error
    assert (result.width, result.height) == (320, 240)


def test_a_wrong_password_is_one_line_saying_so(camera):
    with pytest.raises(OnvifError, match="refused the user name or password") as caught:
        OnvifCamera(camera.device_url, "admin", "guess").streams()
    assert "guess" not in str(caught.value)   # never the password, in a line that may be logged
    with pytest.raises(OnvifError, match="no answer"):
        OnvifCamera("http://127.0.0.1:9/onvif/device_service", "admin", "s3cret", timeout_s=2).streams()
