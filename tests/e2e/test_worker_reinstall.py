"""A worker reinstalled (a newer release, another install of the code, as install-worker.sh makes
in /opt/campool/venv) on the data folder it had keeps its id, its CURVE keys, the masters it
trusts, the counts no master has acknowledged and its cameras: everything it owns is in the data
folder, nothing beside the code. Real processes; the second one runs from a copy of the package
outside the checkout (``python -P``: not even the working directory on its path), marked 0.1.1."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.data import PROJECT_ROOT
from tests.helpers.worker_process import TelemetryCollector, WorkerProcess, wait_until

pytestmark = pytest.mark.timeout(120)
NEW_RELEASE = "0.1.1"


def _install_copy(where: Path) -> Path:
    """The worker package installed elsewhere, as a newer release (its version says which ran)."""
    shutil.copytree(PROJECT_ROOT / "campool_worker", where / "campool_worker",
                    ignore=shutil.ignore_patterns("__pycache__"))
    init = where / "campool_worker" / "__init__.py"
    text = init.read_text()
    assert '__version__ = "' in text
    init.write_text(text.replace(text.split('__version__ = "', 1)[1].split('"', 1)[0], NEW_RELEASE, 1))
    return where


class ReinstalledWorker(WorkerProcess):
    """The same worker command, run from `install` only."""

    def __init__(self, data_dir: Path, install: Path) -> None:
        super().__init__(data_dir, env={"PYTHONPATH": str(install)})

    def command(self) -> list[str]:
        cmd = super().command()
        module = cmd.index("campool_worker.cli")
        return [sys.executable, "-P", "-m", *cmd[module:]]


def test_a_reinstalled_worker_keeps_its_keys_trust_outbox_and_cameras(tmp_path: Path) -> None:
    data = tmp_path / "var-lib-campool-worker"
    camera = CameraConfig("burst", "test://burst?rate=100", lines=[CountingLine("gate", (0, 0), (10, 10))])
    col = TelemetryCollector()
    with WorkerProcess(data) as before:
        keys = before.adopt()   # paired once, with a code
        identity = (before.info["id"], before.info["key"])
        with before.client(keys, on_telemetry=col.on_telemetry) as link:
            wait_until(lambda: col.last_heartbeat() is not None, message="the first heartbeat")
            link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
            link.call(p.AssignCamera(camera, 3), expect=p.Ok)
            wait_until(lambda: col.contiguous_seq("burst", 3) >= 20, message="counts to flow")
            heard = col.contiguous_seq("burst", 3)
            link.call(p.AckCounts("burst", 3, heard), expect=p.AckReply)
            link.unsubscribe(p.TOPIC_COUNT)   # the master hears no more: what follows stays in the outbox
            wait_until(lambda: (hb := col.last_heartbeat()) is not None and hb.outbox_pending >= 50,
                       message="unacknowledged counts in the outbox")
    # SIGTERM, as systemctl restart after the new install: the worker drained and stopped.

    after = ReinstalledWorker(data, _install_copy(tmp_path / "opt-campool"))
    col2 = TelemetryCollector()
    with after:
        assert (after.info["id"], after.info["key"]) == identity       # same id, same CURVE key pair
        with after.client(keys, on_telemetry=col2.on_telemetry) as link:   # no new pairing: it still trusts us
            hello = link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
            assert hello.status.version == NEW_RELEASE                 # the new install is what runs
            assert hello.status.worker_id == identity[0]
            assert [(c.camera_id, c.epoch) for c in hello.status.cameras] == [("burst", 3)]   # its camera
            # Every count it had not been acknowledged for arrives, numbered on from the last ack.
            def seqs() -> list[int]:
                with col2.lock:
                    return sorted(seq for cam, epoch, seq in col2.events if (cam, epoch) == ("burst", 3))

            wait_until(lambda: set(range(heard + 1, heard + 51)) <= set(seqs()), 30,
                       message="the outbox's counts after the reinstall")
            assert seqs()[0] == heard + 1, "acknowledged counts are not sent again; none after them is lost"
