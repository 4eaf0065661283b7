"""The master keeps camera passwords in a keyring (a real backend: keyrings.alt's file keyring),
or in a clearly reported 0600 fallback file where there is none; the history and the snapshot
hold the URL masked, and an edit that does not retype the password keeps it."""
from __future__ import annotations

import json
import logging
import stat
from dataclasses import replace

import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from campool_gui.pool.actions import CameraSaved
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.models import Camera
from campool_gui.pool.store import Store
from campool_worker.camera import CameraConfig

PASSWORD = "Gr@b:it-7Kq"
URL = f"rtsp://admin:{PASSWORD}@10.0.0.5:554/cam?user=admin&pwd=Q9-token"
MASKED = "rtsp://admin:•••@10.0.0.5:554/cam?user=admin&pwd=•••"


def file_keyring(tmp_path):
    kr = PlaintextKeyring()
    kr.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")   # outside every data folder
    return kr


def master(data_dir, keyring_backend) -> Master:
    m = Master(MasterSettings(data_dir=data_dir, zeroconf=False, keyring_backend=keyring_backend))
    m.start()
    return m


def bytes_of_history(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("history.db*"))


def test_a_password_goes_to_the_keyring_and_the_history_holds_the_url_masked(tmp_path):
    kr = file_keyring(tmp_path)
    m = master(tmp_path / "master", kr)
    try:
        m.add_camera(CameraConfig("gate", URL))
        cam = next(c for c in m.snapshot().cameras if c.camera_id == "gate")
        assert cam.config.source == MASKED
        assert m.camera_source("gate", cam.config.source) == URL
        kept = json.loads(kr.get_password("campool", f"{m.master_id}/gate"))
        assert kept == {"password": PASSWORD, "query:pwd": "Q9-token"}

        # an edit that leaves the password alone (the dialog sends the masked URL back) keeps it
        m.update_camera(replace(cam.config, priority="high"))
        assert m.camera_source("gate", MASKED) == URL
        # a new password replaces it
        m.update_camera(replace(cam.config, source=MASKED.replace("admin:•••", "admin:n3w")))
        assert m.camera_source("gate", MASKED) == URL.replace(PASSWORD, "n3w")
        # a masked part with nothing kept for it is refused with what to do
        with pytest.raises(ValueError, match="password of this URL is not known"):
            m.add_camera(CameraConfig("other", "rtsp://admin:•••@10.0.0.6/cam"))
    finally:
        m.stop()
    history = bytes_of_history(tmp_path / "master")
    assert PASSWORD.encode() not in history and b"Q9-token" not in history and b"n3w" not in history
    assert MASKED.encode() in history

    again = master(tmp_path / "master", kr)            # a restart reads it back from the keyring
    try:
        assert again.camera_source("gate", MASKED) == URL.replace(PASSWORD, "n3w")
        again.remove_camera("gate")
        assert kr.get_password("campool", f"{again.master_id}/gate") is None, "a removed camera's password goes"
    finally:
        again.stop()


def test_without_a_keyring_the_fallback_is_a_0600_file_said_once_and_moved_when_a_keyring_appears(tmp_path, caplog):
    data = tmp_path / "master"
    with caplog.at_level(logging.WARNING):
        m = master(data, fail.Keyring())              # what keyring gives on a box with no keyring
    try:
        m.add_camera(CameraConfig("gate", URL))
    finally:
        m.stop()
    fallback = data / "credentials.json"
    warnings = [r.getMessage() for r in caplog.records if "camera passwords are kept in" in r.getMessage()]
    assert len(warnings) == 1 and str(fallback) in warnings[0] and "OS keyring" in warnings[0]
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o600 and stat.S_IMODE(data.stat().st_mode) == 0o700
    assert PASSWORD.encode() in fallback.read_bytes() and PASSWORD.encode() not in bytes_of_history(data)

    kr = file_keyring(tmp_path)
    again = master(data, kr)                           # a keyring now: the file's entries move into it
    try:
        assert not fallback.exists()
        assert again.camera_source("gate", MASKED) == URL
        assert PASSWORD in kr.get_password("campool", f"{again.master_id}/gate")
    finally:
        again.stop()


def test_a_camera_stored_by_an_older_master_with_its_password_moves_it_out_of_the_history(tmp_path):
    data = tmp_path / "master"
    data.mkdir()
    old = Store(data / "history.db")                   # today's format: the password in the stored URL
    old.save_records([CameraSaved(Camera(CameraConfig("gate", URL)))]).result(10)
    old.close()
    assert PASSWORD.encode() in bytes_of_history(data)

    kr = file_keyring(tmp_path)
    m = master(data, kr)
    try:
        cam = next(c for c in m.snapshot().cameras if c.camera_id == "gate")
        assert cam.config.source == MASKED
        assert m.camera_source("gate", MASKED) == URL
    finally:
        m.stop()
    history = bytes_of_history(data)
    assert PASSWORD.encode() not in history and b"Q9-token" not in history, "the old bytes are zeroed"


def test_on_a_desktop_the_password_goes_to_the_secret_service(tmp_path):
    """The real OS keyring of a Linux desktop: GNOME Keyring on a D-Bus session of this test's own."""
    from tests.helpers.secret_service import SecretService, SecretServiceMissing
    try:
        ss = SecretService(tmp_path / "desktop").start()
    except SecretServiceMissing as exc:
        pytest.skip(f"no Secret Service here: {exc}")
    try:
        backend = ss.keyring()
        m = master(tmp_path / "master", backend)
        try:
            assert "SecretService" in m.credentials.backend.description
            m.add_camera(CameraConfig("gate", URL))
        finally:
            m.stop()
        assert PASSWORD in backend.get_password("campool", f"{m.master_id}/gate")
        assert not (tmp_path / "master" / "credentials.json").exists()
        assert PASSWORD.encode() not in bytes_of_history(tmp_path / "master")
        again = master(tmp_path / "master", backend)
        try:
            assert again.camera_source("gate", MASKED) == URL
        finally:
            again.stop()
    finally:
        ss.stop()
