"""The master dies and comes back; a worker is cut off by a network partition and heals.

Real processes throughout: `campool-gui --headless` (tests/helpers/master_proc.py) killed
with SIGKILL, and a worker inside its own network namespace whose link is taken down for
15 s. Afterwards every camera's stored events must match an uninterrupted offline count.
"""
from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from campool_gui.harness.launcher import LocalWorker
from campool_gui.harness.netns import Namespace, NetnsUnavailable, unique_tag
from campool_gui.pool.store import Store
from campool_worker.security import load_or_create_keypair
from tests.helpers.master_proc import start_master_process
from tests.helpers.pool_e2e import E2EPool, audit_store, highway_cameras, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(300)]
log = logging.getLogger(__name__)
PARTITION_S = 15   # long enough for the master to move the camera and the worker to count on alone


def stored_count(db: Path, camera_id: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM count_events WHERE camera_id = ? AND fenced = 0",
                            (camera_id,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()




def test_master_sigkill_and_restart_loses_nothing(tmp_path, highway_video, yolox_model):
    data = tmp_path / "master"
    data.mkdir()
    key = load_or_create_keypair(data / "keys", "master").public
    workers = [LocalWorker(f"w{i}", tmp_path / f"w{i}", key, capacity=2) for i in (1, 2)]
    cams = highway_cameras(highway_video, yolox_model, 2)
    lines = ["[master]", 'name = "e2e"']
    for lw in workers:
        lw.start()
        lines += ["[[workers]]", 'host = "127.0.0.1"', f'ports_file = "{lw.ports_file}"']
    for c in cams:
        lines += ["[[cameras]]", f'camera_id = "{c.camera_id}"', f'source = "{c.source}"', f'model = "{c.model}"',
                  f"classes = {json.dumps(c.classes)}", 'lines = ["near:0,500,1280,500"]', "detect_fps = 10.0",
                  "loop = true"]
    config = tmp_path / "pool.toml"
    config.write_text("\n".join(lines) + "\n")
    db = data / "history.db"
    master = start_master_process(data, config)
    try:
        wait_for(lambda: all(stored_count(db, c.camera_id) >= 3 for c in cams), 90, "counts stored by the master")
        master.kill()                       # SIGKILL: no goodbye
        master.wait(10)
        before = {c.camera_id: stored_count(db, c.camera_id) for c in cams}
        time.sleep(8)                       # the workers keep counting into their outboxes
        master = start_master_process(data, config)
        wait_for(lambda: all(stored_count(db, c.camera_id) > before[c.camera_id] + 3 for c in cams), 90,
                 "the backlog and new counts stored after the restart")
        time.sleep(4)
        master.send_signal(signal.SIGTERM)
        assert master.wait(30) == 0
    finally:
        if master.poll() is None:
            master.kill()
        for lw in workers:
            lw.stop()
    store = Store(db)
    try:
        for c in cams:
            res, frames = audit_store(store, c)
            log.info("camera %s: frames 0..%d expected %d stored %d lost %d duplicated %d", c.camera_id, frames,
                     res.expected, res.stored, res.lost, res.duplicated)
            assert res.expected > 0
            assert (res.lost, res.duplicated) == (0, 0), res
        epochs = store.assignment_history()
        assert {(a["camera_id"], a["epoch"]) for a in epochs} == {(c.camera_id, 1) for c in cams}, \
            "a restarted master must take over the running leases, not re-assign the cameras"
    finally:
        store.close()


@pytest.fixture
def netns():
    """A host in a network namespace of its own (campool_gui/harness/netns.py): (namespace, host ip,
    namespace ip, its link)."""
    try:
        host = Namespace(*unique_tag())
    except NetnsUnavailable as exc:
        pytest.skip(str(exc))
    with host:
        yield host.name, host.host_ip, host.ip, host.link


def test_partitioned_worker_heals_and_nothing_is_lost_or_doubled(tmp_path, netns, highway_video, yolox_model):
    ns, _host_ip, ns_ip, ns_if = netns
    pool = E2EPool(tmp_path, workers=2, capacity=2)
    cut_off = LocalWorker("w-ns", tmp_path / "w-ns", pool.master.public_key, capacity=1, netns=ns, bind=ns_ip)
    try:
        cams = highway_cameras(highway_video, yolox_model, 3)
        pool.start(cams[:2], extra=[cut_off])
        pool.master.add_camera(cams[2], pin=pool.ids["w-ns"])      # it returns there after the heal
        pool.configs = cams
        # The worker in the namespace may come online after the pin was first seen; the
        # camera then runs by policy meanwhile and returns to its pin, which is what we wait for.
        wait_for(lambda: all(c.state == "running" for c in pool.master.snapshot().cameras)
                 and pool.holding()["w-ns"] == ["cam3"], 60, "all running, cam3 on its pinned worker")
        time.sleep(5)
        epoch = pool.epochs()["cam3"]
        # the worker's cable is pulled: its end of the link goes down, so its packets go nowhere
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "down"], check=True)
        try:
            wait_for(lambda: pool.running_elsewhere({"cam3": epoch}, "w-ns"), 20, "cam3 running elsewhere")
            time.sleep(PARTITION_S - 5)
        finally:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"], check=True)
        wait_for(lambda: pool.holding()["w-ns"] == ["cam3"] and
                 next(c for c in pool.master.snapshot().cameras if c.camera_id == "cam3").state == "running",
                 60, "the pinned camera back on the healed worker")
        time.sleep(6)
        fenced = pool.master.snapshot().totals.events_fenced
        results = pool.audit()
    finally:
        pool.close()
        cut_off.stop()
    log.info("partition: %d fenced event(s)", fenced)
    for cid, (res, frames) in results.items():
        log.info("camera %s: frames 0..%d expected %d stored %d lost %d duplicated %d", cid, frames, res.expected,
                 res.stored, res.lost, res.duplicated)
        assert res.expected > 0
        assert (res.lost, res.duplicated) == (0, 0), (cid, res)
