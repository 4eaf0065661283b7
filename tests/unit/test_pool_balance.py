"""Rebalancing on join and on overload, with hysteresis (no flapping)."""
from __future__ import annotations

from campool_gui.pool.balance import BalanceSettings
from campool_gui.pool.core import SendAssign
from tests.helpers.pool_sim import SimPool

FAST = BalanceSettings(overload_hold_s=10, clear_hold_s=20, dwell_s=60, cooldown_s=30, interval_s=5, max_moves=1)


def moves_of(pool: SimPool, reason_filter=None) -> list[SendAssign]:
    return list(pool.assigns)


def test_joining_worker_receives_cameras_until_counts_are_even_then_nothing_moves():
    pool = SimPool(balance=FAST)
    pool.add_worker("w1", capacity=8)
    pool.add_worker("w2", capacity=8)
    for i in range(8):
        pool.add_camera(f"c{i}")
    pool.step(ticks=70)                      # past the dwell time of the first placement
    assert pool.running_counts() == {"w1": 4, "w2": 4}
    pool.add_worker("w3", capacity=8)
    pool.step(ticks=120)
    counts = pool.running_counts()
    assert sorted(counts.values()) == [2, 3, 3]
    before = len(pool.assigns)
    pool.step(ticks=600)                     # ten quiet minutes
    assert len(pool.assigns) == before, "a balanced pool must not move cameras"


def test_overloaded_worker_sheds_one_camera_per_cooldown_after_the_hold_time():
    pool = SimPool(balance=FAST)
    hot = pool.add_worker("hot", capacity=8)
    pool.add_worker("cool", capacity=8)
    for i in range(4):
        pool.add_camera(f"c{i}", pin=None)
    pool.step(ticks=70)
    start = pool.running_counts()
    hot.cpu = 95.0
    pool.step(ticks=8)
    assert pool.running_counts() == start, "not overloaded before the hold time"
    pool.step(ticks=5)
    assert pool.core.workers["hot"].overloaded
    pool.step(ticks=3)
    after_one = pool.running_counts()
    assert after_one["hot"] == start["hot"] - 1
    pool.step(ticks=20)
    assert pool.running_counts()["hot"] == after_one["hot"], "cooldown: one camera per 30 s"
    pool.step(ticks=15)
    assert pool.running_counts()["hot"] == after_one["hot"] - 1


def test_cpu_hovering_around_the_threshold_does_not_flap():
    pool = SimPool(balance=FAST)
    w1 = pool.add_worker("w1", capacity=8)
    pool.add_worker("w2", capacity=8)
    for i in range(4):
        pool.add_camera(f"c{i}")
    pool.step(ticks=70)
    before = len(pool.assigns)
    for k in range(300):                     # 78 %, 84 %, 78 %, 84 %... every 5 s
        w1.cpu = 84.0 if (k // 5) % 2 else 78.0
        pool.step()
    assert len(pool.assigns) == before
    assert not pool.core.workers["w1"].overloaded


def test_overload_clears_only_after_staying_cool():
    pool = SimPool(balance=FAST)
    w1 = pool.add_worker("w1")
    pool.add_camera("c0")
    w1.cpu = 95
    pool.step(ticks=12)
    assert pool.core.workers["w1"].overloaded
    assert pool.core.workers["w1"].state.value == "degraded"
    w1.cpu = 75                              # below 80 but not below the 70 % exit threshold
    pool.step(ticks=40)
    assert pool.core.workers["w1"].overloaded
    w1.cpu = 50
    pool.step(ticks=15)
    assert pool.core.workers["w1"].overloaded
    pool.step(ticks=10)
    assert not pool.core.workers["w1"].overloaded


def test_pinned_cameras_are_never_moved_by_the_balancer():
    pool = SimPool(balance=FAST)
    hot = pool.add_worker("hot", capacity=8)
    pool.add_worker("cool", capacity=8)
    for i in range(3):
        pool.add_camera(f"p{i}", pin="hot")
    pool.step(ticks=70)
    hot.cpu = 99
    pool.step(ticks=120)
    assert pool.running_counts() == {"hot": 3, "cool": 0}


def test_low_fps_against_target_counts_as_overload():
    pool = SimPool(balance=FAST)
    pool.add_worker("w1", fps=5.0)
    pool.add_worker("w2")
    pool.add_camera("c0", target_fps=10.0)
    pool.add_camera("c1", target_fps=10.0)
    pool.core.pin_camera("c0", "w1")
    pool.core.pin_camera("c1", "w1")
    pool.step(ticks=20)
    assert pool.core.workers["w1"].overloaded
    assert any(a.kind == "fps_low" for a in pool.core.alerts.open_alerts()) is False  # held 30 s first
    pool.step(ticks=20)
    assert any(a.kind == "fps_low" and a.subject == "c0" for a in pool.core.alerts.open_alerts())


def test_a_camera_whose_detector_runs_are_refused_raises_an_alert_that_names_it():
    pool = SimPool(balance=FAST)
    w1 = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=5)
    for _ in range(15):  # refused runs keep growing: the worker cannot give it what counting needs
        w1.starved["c0"] = w1.starved.get("c0", 0) + 3
        pool.step(ticks=1)
    alerts = [a for a in pool.core.alerts.open_alerts() if a.kind == "detect_starved"]
    assert [a.subject for a in alerts] == ["c0"]
    assert "below its need" in alerts[0].message and "budget of 10" in alerts[0].message
    pool.step(ticks=60)  # no more refusals: it resolves
    assert not [a for a in pool.core.alerts.open_alerts() if a.kind == "detect_starved"]


def test_a_camera_a_saturated_worker_lowered_says_why_in_its_alert():
    pool = SimPool(balance=FAST)
    w1 = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=5)
    w1.budget_reason["c0"] = ("the worker cannot keep up (12 frame(s) dropped in the last second on c1): "
                              "low-priority cameras give way first; detection lowered to 4.9 of 10 runs a second")
    for _ in range(15):
        w1.starved["c0"] = w1.starved.get("c0", 0) + 3
        pool.step(ticks=1)
    [alert] = [a for a in pool.core.alerts.open_alerts() if a.kind == "detect_starved"]
    assert alert.subject == "c0" and "cannot keep up" in alert.message and "give way first" in alert.message
    # The Overview's headroom: the free slots, and the camera whose detection its worker lowered.
    t = pool.core.snapshot().totals
    [w] = pool.core.snapshot().workers
    assert (t.cameras_lowered, t.slots_total, t.slots_free) == (1, w.capacity, w.capacity - 1)
    w1.budget_reason.clear()
    pool.step(ticks=2)
    assert pool.core.snapshot().totals.cameras_lowered == 0


def test_a_worker_that_lowered_a_cameras_detection_sheds_its_lowest_priority_camera_to_one_with_room():
    """Saturation by priority, the master's half: the worker lowered detection on a camera (it
    dropped frames); held for the overload time, the balancer moves the lowest-priority camera to a
    worker with room, and nothing else moves once no camera is lowered any more."""
    pool = SimPool(balance=FAST)
    busy = pool.add_worker("busy", capacity=4)
    pool.add_worker("room", capacity=4)
    pool.add_camera("crit", priority="critical", pin="busy")
    pool.add_camera("norm", priority="normal", pin="busy")
    pool.add_camera("r1", pin="room")
    pool.add_camera("r2", pin="room")
    pool.add_camera("low", priority="low", pin="busy")
    pool.step(ticks=5)
    pool.core.pin_camera("low", None)                  # auto from now on, still on the busy worker
    pool.step(ticks=70)                                # past the dwell time: 3 against 2 stays (no count move)
    assert pool.running_counts() == {"busy": 3, "room": 2}
    busy.budget_reason["low"] = "the worker cannot keep up (9 frame(s) dropped in the last second on crit): ..."
    pool.step(ticks=20)
    assert pool.running_counts() == {"busy": 2, "room": 3}
    assert next(c.worker_id for c in pool.core.snapshot().cameras if c.camera_id == "low") == "room"
    busy.budget_reason.clear()
    before = len(pool.assigns)
    pool.step(ticks=120)
    assert len(pool.assigns) == before and not pool.core.workers["busy"].overloaded
