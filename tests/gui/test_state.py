"""The UI state follows the pool core's change stream: driven by the real PoolCore on a fake clock."""
from __future__ import annotations

from campool_gui.pool.clock import FakeClock
from campool_gui.pool.core import PoolCore, SendAssign
from campool_gui.pool.models import Worker, WorkerCapabilities, WorkerState
from campool_gui.ui.display import alert_source, metric_series
from campool_gui.ui.state import ChangeBuffer, StateDiff, StateMerger, UiState
from campool_worker.camera import CameraConfig, CountEvent
from tests.helpers import wire


class _Ui:
    """What the bridge does, without Qt: one snapshot at start, then the core's events applied."""

    def __init__(self, core: PoolCore, clock: FakeClock) -> None:
        self.core, self.clock = core, clock
        self.buffer = ChangeBuffer()
        self.merger = StateMerger()
        core.take_events()  # what happened before the snapshot is in it
        self.state, self.diff = self.merger.reset(core.snapshot(), clock.now(), clock.wall())

    def refresh(self) -> tuple[UiState, StateDiff]:
        for ev in self.core.take_events():
            self.buffer.add(ev)
        self.state, self.diff = self.merger.apply(self.buffer.take(), self.clock.now(), self.clock.wall())
        return self.state, self.diff


def _core():
    clock = FakeClock()
    core = PoolCore(clock)
    core.upsert_worker(Worker("w1", "edge-1", address="10.0.0.5", adopted=True, public_key="K" * 40,
                              capabilities=WorkerCapabilities(capacity=2)))
    return clock, core


def _beat(core, clock, cpu, cams=()):
    core.heartbeat("w1", wire.status("w1", cams, clock=clock.wall(), cpu=cpu, mem=40.0, capacity=2))


def _running_camera(core, clock):
    core.add_camera(CameraConfig("gate", "rtsp://x/1", name="Gate"))
    core.tick()
    acts = [x for x in core.take_actions() if isinstance(x, SendAssign)]
    assert [x.camera.camera_id for x in acts] == ["gate"]
    core.assign_result("gate", "w1", acts[0].epoch, True)
    _beat(core, clock, 10.0, [wire.camera("gate", acts[0].epoch, "running", fps=12.0, latency_ms=40.0, frame_index=5)])
    return acts[0].epoch


def test_history_grows_by_new_samples_only_and_the_log_tells_the_story():
    clock, core = _core()
    ui = _Ui(core, clock)
    for cpu in (10.0, 20.0, 30.0):
        _beat(core, clock, cpu)
        clock.advance(1.0)
        core.tick()
        state, diff = ui.refresh()
    w = state.workers["w1"]
    assert metric_series(w, "cpu")[1] == [10.0, 20.0, 30.0]  # no sample twice
    assert diff.workers == ("w1",)
    state, diff = ui.refresh()  # nothing new
    assert metric_series(state.workers["w1"], "cpu")[1] == [10.0, 20.0, 30.0]
    assert diff.workers == ()
    clock.advance(10.0)  # silent: declared dead
    core.tick()
    state, diff = ui.refresh()
    w = state.workers["w1"]
    assert w.state is WorkerState.OFFLINE and diff.workers == ("w1",)
    assert any("online → offline" in text for _, text in w.events)
    assert state.totals.workers_offline == 1 and state.totals.workers_online == 0
    # The worker-down alert is new in this refresh: the UI is told (tray notification).
    assert [x.kind for x in diff.new_alerts] == ["worker_down"]
    assert alert_source(diff.new_alerts[0], state.names) == "worker edge-1"
    assert diff.alerts_changed and state.alerts[diff.new_alerts[0].id].state == "raised"


def test_camera_state_and_success_rate_follow_the_leases():
    clock, core = _core()
    ui = _Ui(core, clock)
    _beat(core, clock, 10.0)
    _running_camera(core, clock)
    state, diff = ui.refresh()
    cam = state.cameras["gate"]
    assert (cam.state, cam.worker_id, cam.fps, cam.latency_ms) == ("running", "w1", 12.0, 40.0)
    assert "gate" in diff.cameras
    w = state.workers["w1"]
    assert w.cameras == ("gate",) and (w.jobs_ok, w.jobs_failed) == (1, 0) and w.success_rate == 1.0
    assert w.latency_ms == 40.0 and state.totals.avg_latency_ms == 40.0


def test_stored_counts_reach_the_camera_and_the_throughput():
    clock, core = _core()
    ui = _Ui(core, clock)
    _beat(core, clock, 10.0)
    epoch = _running_camera(core, clock)
    ui.refresh()
    clock.advance(2.0)
    events = [CountEvent("gate", epoch, seq, "door", "in" if seq % 3 else "out", "person", seq, clock.wall(), 10 + seq)
              for seq in range(1, 7)]
    core.stored(events, core.judge(events), [True] * len(events))
    state, diff = ui.refresh()
    assert diff.cameras == ("gate",) and diff.workers == ()
    cam = state.cameras["gate"]
    assert (cam.counts["door"].in_total, cam.counts["door"].out_total, cam.counts_total) == (4, 2, 6)
    assert (state.totals.counts_in, state.totals.counts_out, state.totals.events_stored) == (4, 2, 6)
    assert state.totals.throughput_per_min > 0 and state.throughput[-1][1] == state.totals.throughput_per_min
    # A camera view reported after the counts carries them too; the newest report wins.
    _beat(core, clock, 10.0, [wire.camera("gate", epoch, "running", fps=11.0, latency_ms=30.0, frame_index=9)])
    state, diff = ui.refresh()
    assert state.cameras["gate"].fps == 11.0 and state.cameras["gate"].counts_total == 6
    clock.advance(120.0)  # a quiet pool: the throughput falls back to zero
    state, _ = ui.refresh()
    assert state.totals.throughput_per_min == 0.0


def test_removed_cameras_leave_the_state_and_are_reported_changed():
    clock, core = _core()
    ui = _Ui(core, clock)
    _beat(core, clock, 10.0)
    _running_camera(core, clock)
    ui.refresh()
    core.remove_camera("gate")
    state, diff = ui.refresh()
    assert "gate" not in state.cameras and "gate" in diff.cameras
    assert state.totals.cameras_total == 0


def test_buffer_keeps_the_latest_change_per_id():
    clock, core = _core()
    buf = ChangeBuffer()
    _beat(core, clock, 10.0)
    for ev in core.take_events():
        buf.add(ev)
    _beat(core, clock, 55.0)
    for ev in core.take_events():
        buf.add(ev)
    assert not buf.add(object())  # not a change of the pool's state
    ch = buf.take()
    assert list(ch.workers) == ["w1"] and ch.workers["w1"] is not None
    assert ch.workers["w1"].metrics is not None and ch.workers["w1"].metrics.cpu_pct == 55.0
    assert buf.take().empty
