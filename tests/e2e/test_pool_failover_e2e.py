"""Real worker processes on loopback: SIGKILL and SIGSTOP a worker under load.

Each test runs a master (in this process) and three `campool-worker serve` processes
counting looped copies of the shared highway video, then compares every camera's stored
count events with an uninterrupted offline count of the same frames: nothing may be lost
and nothing counted twice.
"""
from __future__ import annotations

import logging
import signal
import time

import pytest

from tests.helpers.pool_e2e import E2EPool, highway_cameras, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(240)]
log = logging.getLogger(__name__)


@pytest.fixture
def pool(tmp_path, highway_video, yolox_model):
    p = E2EPool(tmp_path, workers=3, capacity=2)
    p.start(highway_cameras(highway_video, yolox_model, 3))
    yield p
    p.close()


def assert_exact(p: E2EPool) -> None:
    for cid, (res, frames) in p.audit().items():
        log.info("camera %s: frames 0..%d, expected %d, stored %d, lost %d, duplicated %d", cid, frames,
                 res.expected, res.stored, res.lost, res.duplicated)
        assert res.expected > 0, f"camera {cid}: the reference counted nothing; the audit would prove nothing"
        assert res.lost == 0, f"camera {cid}: lost crossings at frames {res.lost_frames}"
        assert res.duplicated == 0, f"camera {cid}: counted twice at frames {res.duplicated_frames}"


def test_sigkill_worker_its_cameras_run_elsewhere_and_counts_have_no_gap_nor_double(pool):
    time.sleep(6)
    victim = pool.busiest()
    moved = {cid: pool.epochs()[cid] for cid in pool.holding()[victim]}
    assert moved
    t_kill = time.monotonic()
    pool.worker(victim).kill()
    replaced = wait_for(lambda: all(
        any(k[0] == cid and k[1] > ep and v[1] != pool.ids[victim] for k, v in pool.rec.leased.items())
        for cid, ep in moved.items()), 5.0, "the killed worker's cameras re-assigned within 5 s", step=0.02)
    wait_for(lambda: pool.running_elsewhere(moved, victim), 20, "its cameras running elsewhere")
    log.info("SIGKILL: cameras re-assigned after %.2f s, reported running after %.2f s", replaced,
             time.monotonic() - t_kill)
    snap = pool.master.snapshot()
    assert next(w for w in snap.workers if w.worker_id == pool.ids[victim]).state.value == "offline"
    assert any(a.kind == "worker_down" and a.subject == pool.ids[victim] for a in snap.alerts)
    time.sleep(8)                            # the new holders count past the cut
    assert_exact(pool)


def test_sigstop_15s_then_sigcont_never_counts_twice(pool):
    time.sleep(5)
    victim = pool.busiest()
    moved = {cid: pool.epochs()[cid] for cid in pool.holding()[victim]}
    pool.worker(victim).signal(signal.SIGSTOP)
    try:
        wait_for(lambda: pool.running_elsewhere(moved, victim), 20, "its cameras running elsewhere")
        time.sleep(15 - 5)
    finally:
        pool.worker(victim).signal(signal.SIGCONT)
    # it wakes up still believing it runs the old epochs: it must be fenced and stop them
    vid = pool.ids[victim]

    def stale_running() -> set[str]:
        reported = pool.master._call(lambda: dict(pool.master.core.workers[vid].camera_status))
        return {cid for cid, st in reported.items() if cid in moved and st.epoch == moved[cid]
                and st.state not in ("fenced", "stopped")}

    wait_for(lambda: pool.master.snapshot().workers and
             next(w for w in pool.master.snapshot().workers if w.worker_id == vid).state.value != "offline",
             20, "the resumed worker heard again")
    wait_for(lambda: not stale_running(), 20, "the resumed worker to stop its stale cameras")
    time.sleep(6)
    assert_exact(pool)
