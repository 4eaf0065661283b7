"""Liveness by the heartbeat period each worker declares, and the live handover cut by time.

Driven by a FakeClock: exact and instant.
"""
from __future__ import annotations

from campool_gui.pool.clock import FakeClock
from campool_gui.pool.core import PoolCore
from campool_gui.pool.models import Worker, WorkerCapabilities, WorkerState
from campool_worker import protocol as p
from tests.helpers import wire
from tests.helpers.pool_sim import SimPool


def _adopted(core: PoolCore, wid: str = "w1") -> None:
    core.upsert_worker(Worker(wid, wid, adopted=True, public_key="K" * 40, capabilities=WorkerCapabilities()))


def test_a_worker_beating_every_5_s_stays_online_and_is_declared_dead_by_its_own_period():
    clock = FakeClock()
    core = PoolCore(clock)
    _adopted(core)
    offline_flaps = 0
    was_alive = False
    for second in range(33):                    # the user's 32 s, beating every 5 s
        if second % 5 == 0:
            core.heartbeat("w1", wire.status("w1", clock=clock.wall(), heartbeat_s=5.0))
        core.tick()
        alive = core.workers["w1"].alive
        offline_flaps += was_alive and not alive
        was_alive = alive
        clock.advance(1.0)
    assert offline_flaps == 0
    assert core.workers["w1"].dead_after_s == 3 * 5.0
    clock.advance(14.0 - 3.0)                    # 14 s after its last beat: still within 3 periods
    core.tick()
    assert core.workers["w1"].alive
    clock.advance(2.0)                           # 16 s: three periods missed
    core.tick()
    assert core.workers["w1"].state is WorkerState.OFFLINE


def test_a_worker_adopted_after_the_startup_grace_is_not_called_down_before_its_first_heartbeat():
    clock = FakeClock()
    core = PoolCore(clock)
    clock.advance(core.settings.startup_grace_s + 60.0)    # the master has been up a while
    core.tick()
    _adopted(core)                                         # the operator adopts the waiting worker
    for _ in range(20):                                    # 2 s: its first heartbeat is on its way
        clock.advance(0.1)
        core.tick()
    core.take_records()
    assert not [a for a in core.alerts.alerts.values() if a.kind == "worker_down"]
    grace = max(core.settings.startup_grace_s, core.workers["w1"].dead_after_s)
    clock.advance(grace - 2.0 + 0.5)                       # still silent past the grace: it is down
    core.tick()
    [alert] = [a for a in core.alerts.open_alerts() if a.kind == "worker_down"]
    assert alert.subject == "w1" and "not reachable" in alert.message


def test_a_changed_period_takes_effect_with_the_next_heartbeat():
    clock = FakeClock()
    core = PoolCore(clock)
    _adopted(core)
    core.heartbeat("w1", wire.status("w1", clock=clock.wall(), heartbeat_s=10.0))
    clock.advance(20.0)
    core.tick()
    assert core.workers["w1"].alive
    core.heartbeat("w1", wire.status("w1", clock=clock.wall(), heartbeat_s=0.5))   # restarted with 0.5 s
    clock.advance(p.dead_after_s(0.5) + 0.1)
    core.tick()
    assert not core.workers["w1"].alive
    assert p.dead_after_s(0.05) == p.MIN_DEAD_AFTER_S   # a 20 Hz beat is not judged on a 150 ms silence


def test_the_hello_reply_declares_the_period_before_the_first_heartbeat():
    clock = FakeClock()
    core = PoolCore(clock)
    _adopted(core)
    core.worker_hello("w1", wire.status("w1", clock=clock.wall(), heartbeat_s=5.0))
    assert core.workers["w1"].heartbeat_s == 5.0 and not core.workers["w1"].alive   # a reply is not a beat


def test_a_live_camera_handover_carries_the_cut_as_a_time_in_the_new_workers_clock():
    pool = SimPool()
    pool.add_worker("w1", clock_skew=100.0)
    pool.add_camera("gate", source="rtsp://10.0.0.5/stream")
    pool.step(ticks=3)
    first = [a for a in pool.assigns if a.camera.camera_id == "gate"][-1]
    assert first.worker_id == "w1" and first.count_from_ts is None and first.count_from_frame is None
    pool.add_worker("w2", clock_skew=-50.0)
    pool.step()
    pool.workers["w1"].kill()
    pool.step(ticks=6)
    last = [a for a in pool.assigns if a.camera.camera_id == "gate"][-1]
    assert last.worker_id == "w2" and last.epoch == first.epoch + 1
    cut = pool.core.fence.cuts[("gate", first.epoch)]
    assert cut.frame is None and cut.wall is not None
    assert abs(cut.ts - (cut.wall + 100.0)) < 1e-6             # judged in the old worker's clock
    assert abs(last.count_from_ts - (cut.wall - 50.0)) < 1e-6  # the same instant in the new worker's
    assert last.start_frame is None and last.count_from_frame is None   # frame indices mean nothing here
