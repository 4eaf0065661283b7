"""Operator intents, events and views of the pool core."""
from __future__ import annotations

import pytest

from campool_gui.pool.core import SendAssign, SendPreview, SendUnassign, SendUpdate
from campool_gui.pool.views import CameraChanged, CameraRemoved, CountsChanged, WorkerChanged
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.pool_sim import SimPool


def test_a_camera_readded_under_the_same_id_never_reuses_an_epoch():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=3)
    first = pool.core.leases["c0"].epoch
    pool.core.remove_camera("c0")
    pool.step()
    assert "c0" not in pool.where()
    pool.add_camera("c0")
    pool.step()
    assert pool.core.leases["c0"].epoch > first


def test_changing_lines_updates_the_running_camera_in_place():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=2)
    epoch = pool.core.leases["c0"].epoch
    cfg = CameraConfig("c0", "/videos/c0.mp4", lines=[CountingLine.parse("new:0,0,10,10")])
    pool.core.update_camera(cfg)
    pool.step()
    assert any(isinstance(a, SendUpdate) and a.epoch == epoch and a.camera.lines == cfg.lines for a in sim.received)
    assert pool.core.leases["c0"].epoch == epoch


def test_changing_the_source_starts_a_new_lease_from_the_beginning():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=5)
    pool.core.update_camera(CameraConfig("c0", "/videos/other.mp4"))
    pool.step()
    last = pool.assigns[-1]
    assert last.camera.source == "/videos/other.mp4" and last.start_frame is None and last.count_from_frame is None


def test_preview_follows_the_camera_to_its_new_worker():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0", pin="w1")
    pool.step()
    pool.core.set_preview("c0", True, 640, 5.0)
    pool.add_worker("w2")
    pool.step()
    assert any(isinstance(a, SendPreview) and a.enabled and a.width == 640 for a in pool.workers["w1"].received)
    pool.workers["w1"].kill()
    pool.step(ticks=5)
    assert any(isinstance(a, SendPreview) and a.enabled for a in pool.workers["w2"].received)


def test_events_and_snapshot_tell_what_changed():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=3)
    kinds = {type(e) for e in pool.events}
    assert {WorkerChanged, CameraChanged, CountsChanged} <= kinds
    snap = pool.core.snapshot()
    [cam] = snap.cameras
    assert (cam.worker_id, cam.state, cam.epoch) == ("w1", "running", 1)
    assert cam.counts["L"]["in"] == len(pool.counted_frames("c0"))
    assert snap.totals.cameras_running == 1 and snap.totals.workers_online == 1
    assert snap.totals.events_stored == len(pool.counted_frames("c0"))
    [w] = snap.workers
    assert w.cameras == ("c0",) and len(w.history) == 4 and w.state.value == "online"
    pool.core.remove_camera("c0")
    pool.step()
    assert any(isinstance(e, CameraRemoved) and e.camera_id == "c0" for e in pool.events)


def test_bad_intents_are_clear_value_errors():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0")
    with pytest.raises(ValueError, match="already exists"):
        pool.add_camera("c0")
    with pytest.raises(ValueError, match="no camera 'nope'"):
        pool.core.remove_camera("nope")
    with pytest.raises(ValueError, match="no worker 'ghost'"):
        pool.core.pin_camera("c0", "ghost")
    with pytest.raises(ValueError, match="unknown placement policy"):
        pool.core.set_policy("fastest")


def test_removed_camera_is_unassigned_and_its_late_events_after_the_cut_are_dropped():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=4)
    pool.core.remove_camera("c0")
    pool.step()
    assert any(isinstance(a, SendUnassign) and a.camera_id == "c0" for a in sim.received)
    assert "c0" not in sim.cameras


def test_draining_camera_moves_without_waiting_for_liveness():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_worker("w2")
    pool.add_camera("c0", pin="w1")
    pool.step(ticks=3)
    pool.core.drain("w1")
    pool.step()
    assert pool.where() == {"c0": "w2"}
    assert [a.worker_id for a in pool.assigns if isinstance(a, SendAssign)][-1] == "w2"


def test_a_model_copy_in_progress_keeps_the_assignment_waiting_and_says_why():
    from campool_gui.pool.snapshot import camera_state

    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0", model="/models/big.onnx")
    pool.core.tick()
    (assign,) = [a for a in pool.core.take_actions() if isinstance(a, SendAssign)]  # held back: "copying"
    grace = pool.core.settings.confirm_grace_s
    for pct in range(0, 100, 10):       # a copy that takes 3x the confirm grace, with progress on the way
        pool.clock.advance(grace * 0.3)
        pool.core.assign_progress("c0", "w1", assign.epoch, f"copying the model to the worker: {pct}%")
        pool.core.heartbeat(sim.worker_id, sim.heartbeat(pool.clock))
        pool.core.tick()
        assert pool.core.leases["c0"].state == "pending"
    assert camera_state(pool.core, "c0") == ("assigning", "copying the model to the worker: 90%")
    # progress for an older epoch or another worker changes nothing; silence fails the lease
    pool.core.assign_progress("c0", "w2", assign.epoch, "x")
    pool.core.assign_progress("c0", "w1", assign.epoch - 1, "y")
    pool.clock.advance(grace + 1)
    pool.core.heartbeat(sim.worker_id, sim.heartbeat(pool.clock))
    pool.core.tick()
    assert pool.core.leases["c0"].state == "failed"
    assert camera_state(pool.core, "c0")[1] != "copying the model to the worker: 90%"
