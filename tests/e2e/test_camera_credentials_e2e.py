"""A camera with a password, end to end: a real RTSP camera that asks for it, a real worker
process, the real master with a real keyring backend (keyrings.alt's file keyring, outside
both data folders). After the run the password is found nowhere in the master's or the
worker's data folders, their logs or the captured log records, except in the keyring and the
worker's 0600 credentials file."""
from __future__ import annotations

import logging
import stat
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from keyrings.alt.file import PlaintextKeyring

from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.core import CoreSettings
from campool_gui.pool.failover import RetrySettings
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.ui.application import setup_file_logging
from campool_worker import log_redaction
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.pool_e2e import wait_for
from tests.helpers.rtsp_server import RtspCamera

pytestmark = [pytest.mark.rtsp, pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(300)]

PASSWORD = "Gr@b:it-7Kq"        # an @ and a : unencoded, as operators type them
WRONG = "n0t-Th3-0ne-x"


def _camera(m: Master, cid: str):
    return next(c for c in m.snapshot().cameras if c.camera_id == cid)


def _files_holding(folders: list[Path], needles: list[bytes]) -> dict[Path, list[bytes]]:
    found: dict[Path, list[bytes]] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                hits = [n for n in needles if n in data]
                if hits:
                    found[path] = hits
    return found


def test_after_a_run_the_password_is_nowhere_but_the_keyring_and_the_workers_0600_file(
        tmp_path, caplog, rtsp_available, highway_video):
    log_redaction.install()                         # as campool-gui and campool-worker do at start
    caplog.set_level(logging.DEBUG)
    keyring = PlaintextKeyring()
    keyring.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    camera = RtspCamera(highway_video, user="admin", password=PASSWORD).start()
    master_dir = tmp_path / "master"
    m = Master(MasterSettings(data_dir=master_dir, zeroconf=False, keyring_backend=keyring,
                              core=CoreSettings(stream_fail_s=3.0), retry=RetrySettings(backoff=(0.5, 1.0))))
    gui_log_path = setup_file_logging(master_dir / "logs")   # the GUI's own rotating log file
    assert gui_log_path is not None
    gui_log = next(h for h in logging.getLogger().handlers if getattr(h, "baseFilename", "") == str(gui_log_path))
    m.start()
    worker = LocalWorker("w1", tmp_path / "w1", m.public_key, capacity=2)
    worker.start()
    try:
        m.add_worker(*worker.adopt_args())
        m.add_camera(CameraConfig("gate", camera.url_with("admin", PASSWORD), detect_fps=5.0,
                                  lines=[CountingLine.parse("near:0,500,1280,500")]))
        m.add_camera(CameraConfig("wrong", camera.url_with("admin", WRONG)))   # refused by the camera: errors
        wait_for(lambda: _camera(m, "gate").state == "running" and _camera(m, "gate").status.frames > 0, 60,
                 "the credentialed camera to run on the worker")
        gate = _camera(m, "gate")
        assert gate.config.source == f"rtsp://admin:•••@127.0.0.1:{camera.port}/cam"
        wait_for(lambda: _camera(m, "wrong").errors or _camera(m, "wrong").error, 60,
                 "the camera with a wrong password to fail")

        # an edit that does not retype the password (as the dialog and the line editor send it) keeps it
        m.update_camera(replace(gate.config, lines=[CountingLine.parse("far:0,300,1280,300")], priority="high"))
        assert m.camera_source("gate", gate.config.source) == camera.url_with("admin", PASSWORD)
        # SIGKILL the worker: it resumes the camera from its own store, password included
        worker.kill()
        worker.start()
        wait_for(lambda: _camera(m, "gate").state == "running", 60, "the camera to run again after the restart")
        frames = _camera(m, "gate").status.frames
        wait_for(lambda: _camera(m, "gate").status.frames > frames, 30, "frames after the restart")
    finally:
        m.stop()
        worker.stop()
        camera.stop()
        logging.getLogger().removeHandler(gui_log)
        gui_log.close()

    needles = [p.encode() for p in (PASSWORD, quote(PASSWORD, safe=""), WRONG)]
    found = _files_holding([master_dir, worker.data_dir], needles)
    secrets_file = worker.data_dir / "camera-secrets.json"
    assert set(found) <= {secrets_file}, f"passwords found in {sorted(map(str, found))}"
    assert secrets_file in found, "the search finds a password where one is (the worker's kept assignment)"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    for db in [*master_dir.glob("history.db*"), *worker.data_dir.glob("worker.db*")]:
        assert stat.S_IMODE(db.stat().st_mode) == 0o600, db
    assert gui_log_path.stat().st_size > 0 and worker.log_file.stat().st_size > 0
    assert stat.S_IMODE(gui_log_path.stat().st_mode) == 0o600
    records = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert not [n for n in needles if n in records.encode()], "a log record shows a password"
    assert "rtsp://admin:•••@127.0.0.1" in records or "rtsp://admin:•••@127.0.0.1" in worker.read_log()
    # where it is: in the keyring (the keyring file lies outside both data folders)
    assert PASSWORD in (keyring.get_password("campool", f"{m.master_id}/gate") or "")
