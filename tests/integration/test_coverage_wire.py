"""Coverage spans over the real wire: a worker (played over CURVE ZeroMQ sockets with the real codec)
publishes count batches that carry coverage spans; the real master stores them, acks their closed
prefix with ``AckCounts.spans_up_to`` and its history shows the gap between them."""
from __future__ import annotations

import time

import pytest

from campool_gui.pool.master import Master, MasterSettings
from campool_worker import protocol as p
from tests.helpers.fake_worker import FakeWorker


def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")


@pytest.fixture
def master_and_worker(tmp_path):
    master = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False))
    master.start()
    worker = FakeWorker()
    try:
        yield master, worker
    finally:
        master.stop()
        worker.close()


def test_spans_from_a_worker_are_stored_acked_and_shown_as_coverage(master_and_worker):
    master, worker = master_and_worker
    wid = master.add_worker("127.0.0.1", worker.cmd_port, worker.pub_port, 0, worker.keys.public)
    wait_for(lambda: any(w.worker_id == wid and w.state != "offline" for w in master.snapshot().workers), 10,
             "the worker's first heartbeat")
    t0 = (time.time() - 600) // 60 * 60          # on a minute: the buckets are [t0, t0 + 240)
    spans = [p.CoverageSpan("gate", 1, 1, t0, t0 + 60, "primary", True),
             p.CoverageSpan("gate", 1, 2, t0 + 60, t0 + 100, "primary", True),
             p.CoverageSpan("gate", 1, 3, t0 + 130, t0 + 190, "primary", True),
             p.CoverageSpan("gate", 1, 4, t0 + 190, t0 + 200, "primary", False)]
    batch = p.CountBatch(wid, [], spans)

    def acked() -> bool:
        return any(a.spans_up_to == 3 for a in worker.acks())

    # like the worker's outbox: resent until acked (a PUB drops what it sends before the SUB joined)
    deadline = time.monotonic() + 15
    while not acked() and time.monotonic() < deadline:
        worker.publish(batch)
        time.sleep(0.3)
    assert acked(), f"no spans ack; acks seen: {worker.acks()}"
    (ack,) = {(a.camera_id, a.epoch, a.up_to_seq, a.spans_up_to) for a in worker.acks()}
    assert ack == ("gate", 1, 0, 3)              # the open span (seq 4) is not acked: it still grows

    c = master.coverage(t0, t0 + 240, "minute", "gate")
    # the master's estimate of this worker's clock offset is a few ms (same machine)
    assert [(round(a - t0), round(b - t0)) for a, b in c.gaps] == [(100, 130), (200, 240)]
    assert c.since == pytest.approx(t0, abs=0.5)
    assert c.watched_s == pytest.approx(170.0, abs=0.5)     # 60 + 40 + 60 + 10 (the open span so far)
