"""Operator intents, events and views of the pool core."""
from __future__ import annotations

import itertools

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
    first = pool.core.state.leases["c0"].epoch
    pool.core.remove_camera("c0")
    pool.step()
    assert "c0" not in pool.where()
    pool.add_camera("c0")
    pool.step()
    assert pool.core.state.leases["c0"].epoch > first


def test_changing_lines_updates_the_running_camera_in_place():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=2)
    epoch = pool.core.state.leases["c0"].epoch
    cfg = CameraConfig("c0", "/videos/c0.mp4", lines=[CountingLine.parse("new:0,0,10,10")])
    pool.core.update_camera(cfg)
    pool.step()
    assert any(isinstance(a, SendUpdate) and a.epoch == epoch and a.camera.lines == cfg.lines for a in sim.received)
    assert pool.core.state.leases["c0"].epoch == epoch


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
    assert cam.counts["L"].in_total == len(pool.counted_frames("c0"))
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
        assert pool.core.state.leases["c0"].state == "pending"
    assert camera_state(pool.core.state, "c0") == ("assigning", "copying the model to the worker: 90%")
    # progress for an older epoch or another worker changes nothing; silence fails the lease
    pool.core.assign_progress("c0", "w2", assign.epoch, "x")
    pool.core.assign_progress("c0", "w1", assign.epoch - 1, "y")
    pool.clock.advance(grace + 1)
    pool.core.heartbeat(sim.worker_id, sim.heartbeat(pool.clock))
    pool.core.tick()
    assert pool.core.state.leases["c0"].state == "failed"
    assert camera_state(pool.core.state, "c0")[1] != "copying the model to the worker: 90%"


def test_a_worker_view_carries_its_uptime_latency_journal_and_lease_outcomes():
    pool = SimPool()
    pool.add_worker("w1", fail_cameras={"bad"})
    pool.add_camera("c0")
    pool.step(ticks=3)
    pool.add_camera("bad")
    pool.step(ticks=2)
    [w] = pool.core.snapshot().workers
    assert w.online and w.adopted
    assert w.started_at == pytest.approx(pool.clock.wall() - 1.0)    # the sim declares 1 s of uptime
    assert w.uptime_s(pool.clock.wall()) == pytest.approx(1.0)
    assert w.latency_ms == 0.0                                       # the mean of its running cameras
    assert (w.jobs_ok, w.jobs_failed) == (1, 1) and w.success_rate == 0.5
    texts = [text for _, text in w.events]
    assert texts[:2] == ["seen as offline", "offline → online"]     # adopted, then its first heartbeat
    assert "camera c0 assigned (new)" in texts
    assert any(t.startswith("camera bad failed here: decoder crashed") for t in texts)
    pool.workers["w1"].kill()
    pool.step(ticks=5)
    [w] = pool.core.snapshot().workers
    texts = [text for _, text in w.events]
    assert not w.online and w.started_at is None and w.uptime_s(pool.clock.wall()) is None
    assert "online → offline" in texts
    assert any(t.startswith("alert raised: worker w1 is down") for t in texts)
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(w.events))   # oldest first


def test_a_lease_that_ran_and_then_failed_counts_once_as_failed():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=3)
    sim.cameras["c0"].state, sim.cameras["c0"].error = "failed", "decoder crashed"
    pool.step()
    [w] = pool.core.snapshot().workers
    assert (w.jobs_ok, w.jobs_failed) == (0, 1)


def test_camera_views_and_totals_need_no_derivation_in_the_ui():
    from campool_gui.pool.views import pool_totals

    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0")
    pool.core.update_camera(CameraConfig("c0", "/videos/c0.mp4", name="Gate"))
    pool.step(ticks=5)
    snap = pool.core.snapshot()
    [cam] = snap.cameras
    assert cam.name == "Gate" and cam.fps == 10.0 and cam.latency_ms == 0.0 and cam.error == ""
    n = len(pool.counted_frames("c0"))
    assert cam.counts["L"].by_class == {"car": {"in": n, "out": 0}}
    assert (cam.counts_in, cam.counts_out, cam.counts_total) == (n, 0, n)
    t = snap.totals
    assert (t.workers_total, t.workers_online, t.workers_offline, t.workers_discovered) == (1, 1, 0, 0)
    assert (t.cameras_total, t.cameras_running, t.cameras_failing, t.error_rate) == (1, 1, 0, 0.0)
    assert t.fps_total == 10.0 and t.avg_latency_ms == 0.0 and t.cpu_avg == 20.0 and t.mem_avg == 30.0
    assert t.gpu_avg is None and (t.counts_in, t.counts_out) == (n, 0)
    assert t.throughput_per_min == n                     # all stored within the last minute
    assert pool_totals(snap.workers, snap.cameras, events_stored=t.events_stored, events_fenced=t.events_fenced,
                       throughput_per_min=t.throughput_per_min) == t
    pool.workers["w1"].kill()
    pool.step(ticks=5)
    [cam] = pool.core.snapshot().cameras
    assert cam.fps is None and cam.latency_ms is None and cam.error == "no worker is online"


def test_counts_changed_carries_copies_of_the_line_totals():
    pool = SimPool()
    pool.add_worker("w1")
    pool.add_camera("c0")
    pool.step(ticks=3)
    changes = [e for e in pool.events if isinstance(e, CountsChanged)]
    first = changes[0].counts["L"]
    assert first.in_total == len(changes[0].events)
    assert pool.core.counts["c0"]["L"] is not first
    assert pool.core.counts["c0"]["L"].in_total == len(pool.counted_frames("c0"))
