"""A worker process started on a damaged outbox (issue #11, item 6): one clear line, the damaged
file kept aside, a fresh outbox, the same worker id, and an alert to the master; never a
traceback, never a silent start as someone else.

The old worker gave a Python traceback and exit 1 on a junk, truncated or page-damaged outbox,
and started silently on a zero-length one with a new worker id and an empty outbox.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.identity import IDENTITY_FILE
from tests.helpers.damage import emptied, junk, pages_damaged, truncated
from tests.helpers.data import PROJECT_ROOT
from tests.helpers.worker_process import TelemetryCollector, WorkerProcess, wait_until

CAMERA = CameraConfig("burst", "test://burst?rate=300", lines=[CountingLine("gate", (0, 0), (10, 10))])


def counted_then_stopped(worker: WorkerProcess, keys, col: TelemetryCollector) -> None:
    """A worker that ran a camera and stopped with unacked counts in its outbox (and the camera's
    assignment), as an operator finds it."""
    with worker.client(keys, on_telemetry=col.on_telemetry) as link:
        wait_until(lambda: col.last_heartbeat() is not None, message="the first heartbeat")
        link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
        link.call(p.AssignCamera(CAMERA, 1), expect=p.Ok)
        wait_until(lambda: len(col.events) >= 600, 20, message="counts to flow")   # many pages of events
    assert worker.terminate() == 0


@pytest.mark.parametrize("damage", [junk, truncated, pages_damaged, emptied],
                         ids=["junk", "truncated", "pages", "zero-length"])
def test_a_worker_on_a_damaged_outbox_keeps_it_aside_and_starts_fresh_as_itself(tmp_path, damage):
    worker = WorkerProcess(tmp_path / "w1").start()
    try:
        wid = worker.worker_id
        keys = worker.adopt()
        counted_then_stopped(worker, keys, TelemetryCollector())
        db = worker.data_dir / "worker.db"
        damage(db)
        damaged_bytes = db.read_bytes()
        log_before = len(worker.log())

        worker.start()                                   # the old worker: a traceback and exit 1 here
        kept = sorted(worker.data_dir.glob("worker.db.damaged-*"))
        kept = [k for k in kept if not k.name.endswith(("-wal", "-shm"))]
        assert len(kept) == 1 and kept[0].read_bytes() == damaged_bytes    # kept, never overwritten
        log = worker.log()[log_before:]
        errors = [line for line in log.splitlines() if " ERROR " in line]
        assert len(errors) == 1, log
        assert "is damaged" in errors[0] and kept[0].name in errors[0] and "assignments are gone" in errors[0]
        assert "Traceback" not in log
        assert worker.worker_id == wid, "no silent identity change"

        col = TelemetryCollector()
        with worker.client(keys, on_telemetry=col.on_telemetry) as link:
            wait_until(lambda: col.last_heartbeat() is not None, message="a heartbeat of the restarted worker")
            hello = link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
            assert hello.status.worker_id == wid
            assert hello.status.cameras == [] and hello.status.outbox_pending == 0   # a fresh outbox
            wait_until(lambda: [a for a in col.alerts if a.code == "outbox_damaged"], 10,
                       message="the master to be told")
            (alert,) = [a for a in col.alerts if a.code == "outbox_damaged"]
            assert alert.level == "error" and alert.worker_id == wid and kept[0].name in alert.message
            link.call(p.AssignCamera(CAMERA, 2), expect=p.Ok)                # the master places it again
            wait_until(lambda: len(col.events) >= 100, 20, message="counts into the fresh outbox")
            assert min(seq for _, _, seq in col.events) == 1
        assert worker.terminate() == 0
        assert "Traceback" not in worker.log()
    finally:
        worker.kill()


def test_a_damaged_id_file_with_a_damaged_outbox_is_one_line_and_touches_nothing(tmp_path):
    worker = WorkerProcess(tmp_path / "w1").start()
    assert worker.terminate() == 0
    (worker.data_dir / IDENTITY_FILE).write_text("{garbage")
    junk(worker.data_dir / "worker.db")
    before = sorted(p.name for p in worker.data_dir.iterdir())
    out = subprocess.run([sys.executable, "-m", "campool_worker.cli", "serve", "--data-dir", str(worker.data_dir),
                          "--bind", "127.0.0.1", "--cmd-port", "0", "--pub-port", "0", "--pair-port", "0",
                          "--no-zeroconf"], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    text = out.stdout + out.stderr
    assert out.returncode == 2 and "Traceback" not in text
    (line,) = [ln for ln in text.splitlines() if "error" in ln.lower()]
    assert IDENTITY_FILE in line and "id is unknown" in line
    assert sorted(p.name for p in worker.data_dir.iterdir()) == before
