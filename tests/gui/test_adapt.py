"""The adapter from the pool core's views to the UI's: driven by the real PoolCore on a fake clock."""
from __future__ import annotations

from campool_gui.pool.clock import FakeClock
from campool_gui.pool.core import PoolCore, SendAssign
from campool_gui.pool.models import Worker, WorkerCapabilities
from campool_gui.ui.adapt import Adapter
from campool_worker.camera import CameraConfig
from tests.helpers import wire


def _core():
    clock = FakeClock()
    core = PoolCore(clock)
    core.upsert_worker(Worker("w1", "edge-1", address="10.0.0.5", adopted=True, public_key="K" * 40,
                              capabilities=WorkerCapabilities(capacity=2)))
    return clock, core


def _beat(core, clock, cpu, cams=()):
    core.heartbeat("w1", wire.status("w1", cams, clock=clock.wall(), cpu=cpu, mem=40.0, capacity=2))


def test_history_grows_by_new_samples_only_and_the_log_tells_the_story():
    clock, core = _core()
    a = Adapter()
    for cpu in (10.0, 20.0, 30.0):
        _beat(core, clock, cpu)
        clock.advance(1.0)
        core.tick()
        state, diff = a.build(core.snapshot(), clock.wall())
    w = state.workers["w1"]
    assert [v for _, v in w.history["cpu"]] == [10.0, 20.0, 30.0]  # no sample twice
    assert diff.workers == ["w1"]
    state, diff = a.build(core.snapshot(), clock.wall())  # nothing new
    assert [v for _, v in state.workers["w1"].history["cpu"]] == [10.0, 20.0, 30.0]
    assert diff.workers == []
    clock.advance(10.0)  # silent: declared dead
    core.tick()
    state, diff = a.build(core.snapshot(), clock.wall())
    w = state.workers["w1"]
    assert w.status == "offline" and diff.workers == ["w1"]
    assert any("online → offline" in text for _, text in w.events)
    assert state.totals.workers_failed == 1 and state.totals.workers_active == 0
    # The worker-down alert is new in this refresh: the UI is told (tray notification).
    assert [x.kind for x in diff.new_alerts] == ["worker_down"]
    assert diff.new_alerts[0].source == "worker edge-1"


def test_camera_state_and_success_rate_follow_the_leases():
    clock, core = _core()
    a = Adapter()
    _beat(core, clock, 10.0)
    core.add_camera(CameraConfig("gate", "rtsp://x/1", name="Gate"))
    core.tick()
    acts = [x for x in core.take_actions() if isinstance(x, SendAssign)]
    assert [x.camera.camera_id for x in acts] == ["gate"]
    core.assign_result("gate", "w1", acts[0].epoch, True)
    _beat(core, clock, 10.0, [wire.camera("gate", acts[0].epoch, "running", fps=12.0, latency_ms=40.0, frame_index=5)])
    state, diff = a.build(core.snapshot(), clock.wall())
    cam = state.cameras["gate"]
    assert (cam.state, cam.worker_id, cam.fps, cam.latency_ms) == ("running", "w1", 12.0, 40.0)
    assert "gate" in diff.cameras
    w = state.workers["w1"]
    assert w.cameras == ["gate"] and (w.jobs_ok, w.jobs_failed) == (1, 0) and w.success_rate == 1.0
    assert w.latency_ms == 40.0 and state.totals.avg_latency_ms == 40.0
