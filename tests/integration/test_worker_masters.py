"""`campool-worker masters --remove` against a running daemon: the revocation holds at once, for
commands and for telemetry, without a restart."""
from __future__ import annotations

import json
import queue
import subprocess
import sys

from campool_worker import protocol as p
from tests.helpers.worker_process import PROJECT_ROOT, TelemetryCollector, WorkerProcess, wait_until


def masters_cli(worker: WorkerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "campool_worker.cli", "masters", "--data-dir", str(worker.data_dir),
                           *args], capture_output=True, text=True, timeout=30, cwd=PROJECT_ROOT, check=False)


def drain(q: queue.Queue) -> int:
    n = 0
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return n
        n += 1


def test_a_master_revoked_while_connected_is_refused_and_the_worker_serves_the_others(tmp_path):
    with WorkerProcess(tmp_path / "w") as worker:
        desk = worker.adopt(tmp_path / "desk", name="desk")
        laptop = worker.adopt(tmp_path / "laptop", name="laptop")
        others = TelemetryCollector()
        with worker.client(desk) as revoked, worker.client(laptop, on_telemetry=others.on_telemetry) as trusted:
            revoked.call(p.GetStatus(), expect=p.StatusReply)
            wait_until(lambda: not revoked.telemetry.empty(), 10, message="the desk's first heartbeat")

            out = masters_cli(worker, f"--remove={desk.public[:10]}")
            assert out.returncode == 0, out.stderr
            assert "Revoked master 'desk'" in out.stdout

            # The CURVE session of the desk is still up, yet its commands are refused, with a reason.
            for _ in range(3):
                reply = revoked.call(p.GetStatus(), timeout=5)
                assert isinstance(reply, p.Error) and reply.code == "unauthorized", reply
            assert "no longer trusted" in reply.message
            assert worker.log().count(f"from master key {desk.public}") == 1, "logged once, not per command"

            # Telemetry: the daemon drops its subscribers within a beat; only the trusted ones come back.
            wait_until(lambda: "telemetry subscribers were disconnected" in worker.log(), 10,
                       message="the worker to drop the revoked subscriber")
            seen = len(others.heartbeats)
            wait_until(lambda: len(others.heartbeats) > seen, 10, message="the laptop to get heartbeats again")
            drain(revoked.telemetry)
            seen = len(others.heartbeats)
            wait_until(lambda: len(others.heartbeats) >= seen + 3, 15, message="three more heartbeats")
            assert revoked.telemetry.empty(), "a revoked master gets no more heartbeats or counts"

            status = trusted.call(p.GetStatus(), expect=p.StatusReply).status
            assert status.state == "running" and worker.alive()

            listed = masters_cli(worker, "--json")
            assert [m["name"] for m in json.loads(listed.stdout)["masters"]] == ["laptop"]

            # Pairing is untouched: the desk can be adopted again and is served again.
            worker.adopt(tmp_path / "desk", name="desk")
            revoked.call(p.GetStatus(), expect=p.StatusReply)
