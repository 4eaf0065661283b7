"""A worker whose data folder is on a full disk stays up and keeps counting (issue #11, item 4).

Real parts: a 3 MiB tmpfs as the worker's data folder (a filler file takes the rest of it), a real
`campool-worker serve` process with a fast test camera (``test://burst?rate=500``: one crossing
a frame), and a real client on the wire that stores every event once and acks what it stored,
as a master does. The old worker died with ``sqlite3.OperationalError: database or disk is full``
within seconds of the disk filling, and again at every restart while it stayed full.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.small_disk import fill, small_disk
from tests.helpers.worker_process import TelemetryCollector, WorkerProcess, wait_until

pytestmark = pytest.mark.slow

CAMERA = CameraConfig("burst", "test://burst?rate=500", lines=[CountingLine("gate", (0, 0), (10, 10))])
FULL_FOR_S = 20.0


class SmallDiskWorker(WorkerProcess):
    """A worker whose data folder is the small disk; its log and ports file lie beside it (they
    are the harness's, and a test must read them while the disk is full)."""

    def __init__(self, data_dir: Path, side_dir: Path) -> None:
        super().__init__(data_dir)
        self.side_dir = side_dir
        side_dir.mkdir(parents=True, exist_ok=True)

    @property
    def log_file(self) -> Path:
        return self.side_dir / "worker.log"

    @property
    def ports_file(self) -> Path:
        return self.side_dir / "ports.json"


class Acker:
    """Acks, every 0.2 s, what the collector holds without a gap: a master acks what it stored."""

    def __init__(self, link, col: TelemetryCollector) -> None:
        self.link, self.col = link, col
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            seq = self.col.contiguous_seq("burst", 1)
            if seq:
                self.link.request(p.AckCounts("burst", 1, seq))  # a full disk may refuse it: acked again later

    def __enter__(self) -> Acker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def delivered(col: TelemetryCollector) -> list:
    with col.lock:
        return sorted((e for k, e in col.events.items() if k[:2] == ("burst", 1)), key=lambda e: e.seq)


def storage(col: TelemetryCollector) -> p.StorageStatus:
    return col.last_heartbeat().storage


def drain_and_check(worker: SmallDiskWorker, link, col: TelemetryCollector) -> list:
    """Stop the camera, wait for every committed event to arrive and be acked; check them all."""
    link.call(p.UnassignCamera("burst", 1), expect=p.Ok)
    wait_until(lambda: storage(col).state != "failing" and not col.last_heartbeat().cameras, 20,
               message="the camera to stop with nothing held")
    last = link.call(p.GetStatus(), expect=p.StatusReply).status
    wait_until(lambda: link.call(p.GetStatus(), expect=p.StatusReply).status.outbox_pending == 0, 30,
               message="every event delivered and acked")
    events = delivered(col)
    seqs = [e.seq for e in events]
    frames = sorted(e.frame_index for e in events)
    assert seqs == list(range(1, len(seqs) + 1)), "no seq missing"
    # one crossing a frame: every frame the camera made is counted exactly once (none lost, none doubled)
    assert frames == list(range(len(frames)))
    assert last.storage.buffered == 0
    return events


def integrity(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_a_full_disk_holds_the_counts_in_memory_and_delivers_them_once_there_is_room(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        worker = SmallDiskWorker(disk / "worker", tmp_path / "side").start()
        try:
            keys = worker.adopt()
            col = TelemetryCollector()
            with worker.client(keys, on_telemetry=col.on_telemetry) as link, Acker(link, col):
                wait_until(lambda: col.last_heartbeat() is not None, message="the first heartbeat")
                link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
                link.call(p.AssignCamera(CAMERA, 1), expect=p.Ok)
                wait_until(lambda: len(col.events) >= 1000, 20, message="counts to flow")

                filler = fill(disk)
                full_at = time.monotonic()
                wait_until(lambda: storage(col).state == "failing" and storage(col).buffered > 0, 15,
                           message="the worker to report its storage failing")
                boot = col.last_heartbeat().boot_id
                most_held = 0
                while time.monotonic() - full_at < FULL_FOR_S:
                    assert worker.alive(), worker.log()
                    heard = len(delivered(col))
                    now = link.call(p.GetStatus(), expect=p.StatusReply).status
                    most_held = max(most_held, now.storage.buffered)
                    assert heard <= now.cameras[0].last_seq, "only what is committed is published"
                    time.sleep(0.5)
                # (a commit may get through now and then: a checkpoint gives back a little room)
                wait_until(lambda: storage(col).state == "failing" and storage(col).buffered > 0, 5,
                           message="the storage still failing")
                hb = col.last_heartbeat()
                assert worker.alive() and hb.boot_id == boot and time.time() - hb.clock < 3, "up and beating"
                assert most_held > 1000 and "database or disk is full" in hb.storage.message
                failing = [a for a in col.alerts if a.code == "storage_failing"]
                assert len(failing) == 1 and failing[0].level == "error"
                full_s = time.monotonic() - full_at
                before_room = len(delivered(col))

                filler.unlink()
                wait_until(lambda: storage(col).state != "failing", 20, message="the held counts to be committed")
                wait_until(lambda: len(delivered(col)) >= before_room + most_held, 10,
                           message="the held counts to be delivered")

                def recovered() -> list[p.AlertEvent]:
                    return [a for a in col.alerts if a.code in ("storage_ok", "storage_low") and a.ts > failing[0].ts]

                wait_until(recovered, 20, message="the recovery to be told")
                assert "committed and sent" in recovered()[0].message and "none lost" in recovered()[0].message
                assert not [a for a in col.alerts if a.code == "counts_dropped"]
                events = drain_and_check(worker, link, col)
                uptime = col.last_heartbeat().uptime_s
            assert worker.terminate() == 0
            log = worker.log()
            assert "Traceback" not in log and "OperationalError" not in log
            assert integrity(worker.data_dir / "worker.db") == "ok"
            print(f"\nfull disk for {full_s:.1f} s: the worker stayed up (uptime {uptime:.0f} s, one boot); "
                  f"{most_held} crossings held in memory at most, all committed and delivered once space came "
                  f"back ({len(events) - before_room} events delivered after that, camera still counting); "
                  f"{len(events)} events in all, seqs 1..{len(events)} without a gap, 0 lost, 0 doubled "
                  f"({col.duplicates} resent deliveries dropped by the store); integrity ok")
        finally:
            worker.kill()


def test_a_worker_started_on_a_full_disk_comes_up_counts_and_commits_once_there_is_room(tmp_path):
    """A clean stop removes the outbox's -shm file, which a full disk cannot give back: the old
    worker (and a plain SQLite open) failed at every start while the disk stayed full."""
    with small_disk(tmp_path / "disk") as disk:
        worker = SmallDiskWorker(disk / "worker", tmp_path / "side").start()
        try:
            keys = worker.adopt()
            col = TelemetryCollector()
            with worker.client(keys, on_telemetry=col.on_telemetry) as link, Acker(link, col):
                wait_until(lambda: col.last_heartbeat() is not None, message="the first heartbeat")
                link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
                link.call(p.AssignCamera(CAMERA, 1), expect=p.Ok)
                wait_until(lambda: len(col.events) >= 500, 20, message="counts to flow")
                assert worker.terminate() == 0
                filler = fill(disk)
                boot = col.last_heartbeat().boot_id
                worker.start()                          # the same ports: the client reconnects by itself
                wait_until(lambda: col.last_heartbeat().boot_id != boot, 15, message="the restarted worker")
                link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
                wait_until(lambda: storage(col).state == "failing" and storage(col).buffered > 500, 15,
                           message="the camera to count into memory")
                assert [c.camera_id for c in col.last_heartbeat().cameras] == ["burst"], "its camera resumed"
                filler.unlink()
                drain_and_check(worker, link, col)
            assert worker.terminate() == 0
            assert "Traceback" not in worker.log()
            assert integrity(worker.data_dir / "worker.db") == "ok"
        finally:
            worker.kill()


def test_an_outbox_growing_while_no_master_acks_warns_before_the_disk_is_full(tmp_path):
    """The master is away, the outbox grows: the worker says its storage runs low (free space
    against the outbox's growth) while there is still room, before any commit fails. The old
    worker said nothing until it died."""
    with small_disk(tmp_path / "disk") as disk:
        worker = SmallDiskWorker(disk / "worker", tmp_path / "side").start()
        try:
            keys = worker.adopt()
            col = TelemetryCollector()
            with worker.client(keys, on_telemetry=col.on_telemetry) as link:   # it hears, it never acks
                wait_until(lambda: col.last_heartbeat() is not None, message="the first heartbeat")
                link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
                link.call(p.AssignCamera(CAMERA, 1), expect=p.Ok)
                wait_until(lambda: [a for a in col.alerts if a.code == "storage_low"], 40,
                           message="the storage-low warning")
                (low,) = [a for a in col.alerts if a.code == "storage_low"]
                hb = col.last_heartbeat()
                assert low.level == "warning" and "at the outbox's growth of" in low.message
                assert not [a for a in col.alerts if a.code == "storage_failing"]
                assert hb.storage.state == "low" and hb.storage.free_mb > 0.5
                print(f"\nwarned with {hb.storage.free_mb} MB still free: {low.message}")
        finally:
            worker.kill()
