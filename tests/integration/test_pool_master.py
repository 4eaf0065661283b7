"""The master against a real worker process: mDNS discovery on loopback, pairing, counting,
acks, key pinning, restart, and a camera that fails everywhere."""
from __future__ import annotations

import time

import pytest

from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.core import CoreSettings
from campool_gui.pool.failover import RetrySettings
from campool_gui.pool.master import Master, MasterError, MasterSettings
from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.discovery import Announcer
from campool_worker.security import PairingCodes, load_or_create_keypair
from tests.helpers.pool_e2e import wait_for

pytestmark = pytest.mark.timeout(120)


def synthetic(cid: str, seed: int = 1) -> CameraConfig:
    return CameraConfig(cid, f"synthetic://?w=320&h=180&fps=10&objects=2&seed={seed}",
                        lines=[CountingLine.parse("mid:0,90,320,90")])


def worker_view(master: Master, wid: str):
    return next((w for w in master.snapshot().workers if w.worker_id == wid), None)


def camera_view(master: Master, cid: str):
    return next(c for c in master.snapshot().cameras if c.camera_id == cid)


@pytest.fixture
def master(tmp_path):
    m = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=True, zeroconf_interfaces=["127.0.0.1"]))
    m.start()
    yield m
    m.stop()


def test_discovered_worker_is_adopted_with_its_code_counts_are_stored_and_acked(tmp_path, master):
    lw = LocalWorker("gate-box", tmp_path / "w", master.public_key, capacity=2, announce_on="127.0.0.1",
                     trust_master=False)
    lw.start()
    try:
        wid = lw.ports["id"]
        wait_for(lambda: (w := worker_view(master, wid)) is not None and w.state.value == "discovered", 20,
                 "the worker discovered on mDNS")
        with pytest.raises(MasterError, match=r"refused|wrong"):
            master.adopt(wid, "0000-0000")
        code, _ = PairingCodes(lw.data_dir / "pairing.json").new_code()
        assert master.adopt(wid, code) == wid
        wait_for(lambda: worker_view(master, wid).state.value in ("online", "busy", "degraded"), 10, "online")
        assert worker_view(master, wid).key_fingerprint == lw.ports["key"][:8]

        events = []
        master.subscribe(lambda ev: events.append(ev))
        master.add_camera(synthetic("yard"))
        wait_for(lambda: camera_view(master, "yard").state == "running", 20, "the camera running")
        wait_for(lambda: master.snapshot().totals.events_stored >= 3, 60, "count events stored")
        stored = master.store.stored_events("yard")
        assert [e.seq for e in stored if e.epoch == 1] == list(range(1, len(stored) + 1))
        assert any(type(e).__name__ == "CountsChanged" and e.camera_id == "yard" for e in events)
        # the worker deleted what the master acked: its outbox drains to (nearly) nothing
        wait_for(lambda: (m := worker_view(master, wid).metrics) is not None and m.outbox_backlog <= 2, 20,
                 "the worker's outbox acked")
        rows = master.history(time.time() - 3600, time.time() + 60, "minute", camera_id="yard")
        assert sum(r["count"] for r in rows) == len(master.store.stored_events("yard"))

        # an impostor announces the same name and id with another key: flagged, never trusted
        other = load_or_create_keypair(tmp_path / "impostor", "worker").public
        fake = Announcer("gate-box", lw.ports["cmd"] + 1000,
                         {"id": wid, "ver": "0", "proto": "1", "pub": "1", "pair": "2", "key": other, "gpu": "0",
                          "cams": "8"}, interfaces=["127.0.0.1"], host_label="impostor")
        fake.start()
        try:
            wait_for(lambda: any(w.key_conflict for w in master.snapshot().workers), 20, "the impostor flagged")
            wait_for(lambda: any(a.kind == "key_conflict" for a in master.snapshot().alerts), 5, "an alert about it")
            real = worker_view(master, wid)
            assert real.state.value in ("online", "busy", "degraded") and real.key_fingerprint == lw.ports["key"][:8]
            assert camera_view(master, "yard").worker_id == wid
        finally:
            fake.close()
    finally:
        lw.stop()


def test_restarted_master_takes_over_running_cameras_without_reassigning(tmp_path):
    settings = MasterSettings(data_dir=tmp_path / "master", zeroconf=False)
    m = Master(settings)
    m.start()
    lw = LocalWorker("w1", tmp_path / "w1", m.public_key, capacity=2)
    lw.start()
    try:
        wid = m.add_worker(*lw.adopt_args())
        m.add_camera(synthetic("c1"))
        wait_for(lambda: camera_view(m, "c1").state == "running", 20, "running")
        m.stop()
        m = Master(settings)
        m.start()
        wait_for(lambda: camera_view(m, "c1").state == "running", 20, "running again after the restart")
        c = camera_view(m, "c1")
        assert (c.worker_id, c.epoch) == (wid, 1)
        assert [a["epoch"] for a in m.assignment_history("c1")] == [1]
    finally:
        m.stop()
        lw.stop()


def test_a_camera_that_fails_on_every_worker_is_dead_lettered_with_the_workers_error(tmp_path):
    # a missing file keeps the worker "reconnecting": after 2 s on one worker that is a failure
    m = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False,
                              core=CoreSettings(stream_fail_s=2.0),
                              retry=RetrySettings(backoff=(0.2, 0.2), reset_s=600)))
    m.start()
    lw = LocalWorker("w1", tmp_path / "w1", m.public_key, capacity=2)
    lw.start()
    try:
        m.add_worker(*lw.adopt_args())
        m.add_camera(CameraConfig("broken", str(tmp_path / "no-such-video.mp4"), loop=True))
        m.add_camera(synthetic("fine"))
        wait_for(lambda: camera_view(m, "broken").state == "dead_letter", 60, "the broken camera dead-lettered")
        broken = camera_view(m, "broken")
        assert any("no-such-video" in e or "not" in e for e in broken.errors.values()), broken.errors
        assert camera_view(m, "fine").state == "running"
        m.retry_camera("broken")
        assert camera_view(m, "broken").state != "dead_letter"
    finally:
        m.stop()
        lw.stop()
