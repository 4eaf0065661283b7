"""Failover, retries, circuit breakers, dead letters and epoch fencing in the pool core.

Driven by a FakeClock through tests/helpers/pool_sim.py: exact and instant.
"""
from __future__ import annotations

import itertools

from campool_gui.pool.core import CoreSettings, SendFence
from campool_gui.pool.failover import BreakerState, RetrySettings
from campool_gui.pool.models import WorkerState
from tests.helpers.pool_sim import EVENT_EVERY, SimPool


def expected_frames(pool: SimPool, cid: str) -> list[int]:
    """Every crossing up to the frame the camera's current holder has processed."""
    holder = pool.where()[cid]
    last = pool.workers[holder].cameras[cid].frame_index
    in_flight = {e.frame_index for e in pool.workers[holder].pending if e.camera_id == cid}
    return [f for f in range(0, last + 1, EVENT_EVERY) if f not in in_flight]


def three_workers(capacity: int = 2, cameras: int = 4, **kw) -> SimPool:
    pool = SimPool(**kw)
    for w in ("w1", "w2", "w3"):
        pool.add_worker(w, capacity=capacity)
    for i in range(cameras):
        pool.add_camera(f"c{i}")
    pool.step()
    return pool


def test_dead_worker_cameras_move_within_liveness_window_and_respect_capacity():
    pool = three_workers(capacity=2, cameras=4)
    pool.step(ticks=5)
    victim = pool.where()["c0"]
    moved = [c for c, w in pool.where().items() if w == victim]
    pool.workers[victim].alive = False
    pool.workers[victim].frozen = True            # SIGKILL: no heartbeats, no progress
    killed_at = pool.clock.now()
    while any(c not in pool.where() for c in moved):
        pool.step(0.5)
        assert pool.clock.now() - killed_at <= 5.0, "cameras of a dead worker must run elsewhere within 5 s"
    assert pool.core.workers[victim].state is WorkerState.OFFLINE
    counts = pool.running_counts()
    assert counts[victim] == 0
    assert all(n <= 2 for n in counts.values())
    assert sorted(pool.where()) == ["c0", "c1", "c2", "c3"]


def test_failover_counts_every_crossing_exactly_once():
    pool = three_workers(capacity=4, cameras=3)
    pool.step(ticks=7)
    victim = pool.where()["c1"]
    pool.workers[victim].alive = False
    pool.workers[victim].frozen = True
    pool.step(ticks=12)
    for cid in ("c0", "c1", "c2"):
        assert pool.counted_frames(cid) == expected_frames(pool, cid), cid


def test_handover_assignment_starts_before_the_cut_and_counts_from_it():
    pool = SimPool(settings=CoreSettings(warmup_frames=30))
    pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=9)
    previous = pool.workers["w1"].cameras["c0"].frame_index   # in the heartbeat before the last
    pool.step()
    assert previous > 60
    pool.add_worker("w2")
    pool.workers["w1"].alive = False
    pool.workers["w1"].frozen = True
    pool.step(ticks=5)
    last = [a for a in pool.assigns if a.camera.camera_id == "c0"][-1]
    assert last.worker_id == "w2" and last.epoch == 2
    stored = max(pool.counted_frames("c0"))
    assert last.count_from_frame == max(previous, stored + 1)
    assert last.start_frame == last.count_from_frame - 30


def test_crossings_not_yet_committed_when_a_worker_dies_are_recounted_by_the_next_holder():
    pool = SimPool()
    for w in ("w1", "w2"):
        pool.add_worker(w, commit_lag=True)
    pool.add_camera("c0")
    pool.step(ticks=9)
    victim = pool.where()["c0"]
    assert pool.workers[victim].pending, "the test needs crossings in flight at the kill"
    pool.workers[victim].kill()
    pool.step(ticks=10)
    assert pool.where()["c0"] != victim
    assert pool.counted_frames("c0") == expected_frames(pool, "c0")


def test_stopped_worker_that_resumes_is_fenced_and_never_double_counts():
    """SIGSTOP for 15 s, then SIGCONT: the camera moved meanwhile; the old holder's epoch is stale."""
    pool = three_workers(capacity=4, cameras=3)
    pool.step(ticks=5)
    victim = pool.where()["c2"]
    pool.workers[victim].alive = False
    pool.workers[victim].frozen = True
    pool.step(ticks=15)
    pool.workers[victim].alive = True
    pool.workers[victim].frozen = False              # SIGCONT: it carries on counting its old epoch
    pool.step(ticks=6)
    fences = [a for a in pool.workers[victim].received if isinstance(a, SendFence)]
    assert fences, "the resumed worker must be told its epoch is stale"
    for cid in ("c0", "c1", "c2"):
        assert pool.counted_frames(cid) == expected_frames(pool, cid), cid
    assert pool.core.state.events_fenced > 0


def test_partitioned_worker_backlog_before_the_cut_is_kept_after_it_is_fenced():
    """A partition: the worker keeps counting into its outbox; on heal only the part before the cut is stored."""
    pool = three_workers(capacity=4, cameras=2)
    pool.step(ticks=4)
    victim = pool.where()["c0"]
    pool.workers[victim].alive = False               # cut off, still running
    pool.step(ticks=30)
    pool.workers[victim].alive = True
    pool.step(ticks=6)
    for cid in ("c0", "c1"):
        assert pool.counted_frames(cid) == expected_frames(pool, cid), cid


def test_pinned_camera_falls_back_to_auto_and_returns_when_its_worker_is_back():
    pool = SimPool()
    for w in ("w1", "w2"):
        pool.add_worker(w)
    pool.add_camera("gate", pin="w1")
    pool.step(ticks=3)
    assert pool.where()["gate"] == "w1"
    pool.workers["w1"].alive = False
    pool.workers["w1"].frozen = True
    pool.step(ticks=5)
    assert pool.where()["gate"] == "w2"
    pool.workers["w1"].alive = True
    pool.workers["w1"].frozen = False
    pool.step(ticks=3)
    assert pool.where()["gate"] == "w1"
    assert pool.counted_frames("gate") == expected_frames(pool, "gate")


def test_pinned_camera_stays_on_the_fallback_when_the_operator_said_so():
    pool = SimPool()
    for w in ("w1", "w2"):
        pool.add_worker(w)
    pool.add_camera("gate", pin="w1", pin_return=False)
    pool.step(ticks=3)
    pool.workers["w1"].alive = False
    pool.workers["w1"].frozen = True
    pool.step(ticks=5)
    pool.workers["w1"].alive = True
    pool.workers["w1"].frozen = False
    pool.step(ticks=5)
    assert pool.where()["gate"] == "w2"


def test_refused_assignment_is_retried_with_backoff_then_moves_to_the_next_worker():
    pool = SimPool()
    pool.add_worker("w1", refuse="model file missing")
    pool.add_camera("c0")
    times = []
    for _ in range(80):
        pool.step(0.25)
        tries = [a for a in pool.assigns if a.worker_id == "w1"]
        if len(tries) > len(times):
            times.append(pool.clock.now())
    tries = [a for a in pool.assigns if a.worker_id == "w1"]
    assert len(tries) == 4, "one attempt and three retries on the same worker"
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(times)]
    assert gaps == [1.0, 2.0, 4.0]
    assert pool.core.breakers.state("c0", "w1") is BreakerState.OPEN
    pool.add_worker("w2")
    pool.step(0.25, ticks=3)
    assert pool.where() == {"c0": "w2"}


def test_camera_failing_everywhere_is_dead_lettered_with_its_errors_and_can_be_retried():
    pool = SimPool(retry=RetrySettings(backoff=(1.0,), reset_s=60.0))
    pool.add_worker("w1", fail_cameras={"bad"})
    pool.add_worker("w2", fail_cameras={"bad"})
    pool.add_camera("bad")
    pool.add_camera("good")
    pool.step(ticks=10)
    snap = pool.core.snapshot()
    bad = next(c for c in snap.cameras if c.camera_id == "bad")
    assert bad.state == "dead_letter"
    assert set(bad.errors) == {"w1", "w2"} and "decoder crashed" in bad.errors["w1"]
    assert "bad" in snap.dead_letters
    assert any(a.kind == "dead_letter" and a.subject == "bad" for a in snap.alerts)
    assert pool.where().get("good") is not None
    # the operator fixes the stream and retries
    for sim in pool.workers.values():
        sim.fail_cameras.clear()
    pool.core.retry_camera("bad")
    pool.step(ticks=3)
    assert "bad" in pool.where()
    assert "bad" not in pool.core.snapshot().dead_letters


def test_breaker_half_opens_after_reset_and_a_good_probe_closes_it():
    pool = SimPool(retry=RetrySettings(backoff=(1.0,), reset_s=30.0))
    sim = pool.add_worker("w1", fail_cameras={"c0"})
    pool.add_camera("c0")
    pool.step(ticks=5)
    assert pool.core.breakers.state("c0", "w1") is BreakerState.OPEN
    sim.fail_cameras.clear()                           # the stream came back
    pool.step(ticks=20)
    assert "c0" not in pool.where(), "still open: no probe before the reset time"
    pool.step(ticks=12)
    assert pool.where() == {"c0": "w1"}
    assert pool.core.breakers.state("c0", "w1") is BreakerState.CLOSED


def test_failed_half_open_probe_reopens_for_longer():
    clock_pool = SimPool(retry=RetrySettings(backoff=(1.0,), reset_s=10.0))
    clock_pool.add_worker("w1", fail_cameras={"c0"})
    clock_pool.add_camera("c0")
    clock_pool.step(ticks=4)
    b = clock_pool.core.breakers
    assert b.state("c0", "w1") is BreakerState.OPEN
    clock_pool.step(ticks=12)                          # probe runs and fails again
    assert b.state("c0", "w1") is BreakerState.OPEN
    breaker = b.breaker("c0", "w1")
    assert breaker is not None and breaker.reset_s == 20.0


def test_drain_moves_every_camera_off_and_places_none_there():
    pool = three_workers(capacity=4, cameras=6)
    pool.step(ticks=3)
    pool.core.drain("w2")
    pool.step(ticks=3)
    assert pool.running_counts()["w2"] == 0
    assert pool.core.workers["w2"].state is WorkerState.DRAINING
    pool.add_camera("c9")
    pool.step(ticks=2)
    assert pool.where()["c9"] != "w2"
    for cid in ("c0", "c1", "c2", "c3", "c4", "c5"):
        assert pool.counted_frames(cid) == expected_frames(pool, cid), cid
    pool.core.drain("w2", on=False)
    pool.step()
    assert pool.core.workers["w2"].state is not WorkerState.DRAINING


def test_master_restart_keeps_leases_and_waits_for_workers_before_replacing():
    pool = three_workers(capacity=4, cameras=3)
    pool.step(ticks=3)
    before = pool.where()
    old = pool.core
    # a new master process: the same store contents, workers not heard from yet
    from campool_gui.pool.core import PoolCore
    new = PoolCore(pool.clock)
    new.restore(workers=[w for w in old.workers.values()], cameras=list(old.state.cameras.values()),
                leases=list(old.state.leases.values()), epochs=dict(old.fence.current),
                cuts=list(old.fence.cuts.values()), last_frames=dict(old.fence.last_frame), counts={})
    pool.core = new
    assigns_before = len(pool.assigns)
    pool.step(ticks=8)
    assert pool.where() == before
    assert len(pool.assigns) == assigns_before, "no camera re-placed: the workers still run them"
    assert all(a.state == "active" for a in new.state.leases.values())


def test_fenced_assignment_reply_makes_the_master_jump_past_the_workers_epoch():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step()
    lease = pool.core.state.leases["c0"]
    sim.cameras["c0"].epoch = lease.epoch + 5      # another master (a lost record) assigned it
    pool.core.assign_result("c0", "w1", lease.epoch, False, "", current_epoch=lease.epoch + 5)
    pool.step(ticks=2)
    assert pool.assigns[-1].epoch == lease.epoch + 6
    assert pool.where() == {"c0": "w1"} and sim.cameras["c0"].epoch == lease.epoch + 6


def test_worker_reporting_an_epoch_the_master_never_issued_is_outranked():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step()
    sim.cameras["c0"].epoch = 9
    pool.step(ticks=2)
    assert pool.core.fence.epoch_of("c0") == 10
    assert sim.cameras["c0"].epoch == 10


def test_breaker_reopen_time_doubles_up_to_its_cap():
    from campool_gui.pool.clock import FakeClock
    from campool_gui.pool.failover import BreakerBoard

    clock = FakeClock()
    board = BreakerBoard(clock, RetrySettings(backoff=(), reset_s=10.0, reset_max_s=25.0))
    opened_for = []
    for _ in range(4):
        assert board.failure("c0", "w1", "decoder crashed") is None     # open at once, then each failed probe
        breaker = board.breaker("c0", "w1")
        assert breaker is not None
        opened_for.append(breaker.reset_s)
        clock.advance(breaker.reset_s)
        assert board.state("c0", "w1") is BreakerState.HALF_OPEN
    assert opened_for == [10.0, 20.0, 25.0, 25.0]
    board.success("c0", "w1")
    assert board.failure("c0", "w1", "again") is None
    assert board.breaker("c0", "w1").reset_s == 10.0                     # a success starts it again
