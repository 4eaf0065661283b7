"""Live standby in the pool core (issue #12): placement and its cost, shadow events, the cut and its
matching, promotion, and re-placement, with the fake clock and the simulated live scene."""
from __future__ import annotations

from dataclasses import replace

from campool_gui.pool.actions import LeaseStarted, SendAssign, SendFence, SendPromote, SendUnassign
from campool_gui.pool.core import CoreSettings
from campool_gui.pool.fencing import Verdict
from campool_gui.pool.standby import MATCH_WINDOW_S, Shadows
from campool_worker.camera import CameraConfig, CountEvent
from tests.helpers.pool_sim import SimPool

LIVE = "rtsp://10.0.0.5/stream"


def live_pool(workers: int = 2, *, standby: str | None = None, priority: str = "critical", capacity: int = 4,
              settings: CoreSettings | None = None, **worker_kw: dict) -> SimPool:
    pool = SimPool(settings=settings)
    for i in range(1, workers + 1):
        pool.add_worker(f"w{i}", capacity, **worker_kw.get(f"w{i}", {}))
    pool.core.add_camera(CameraConfig("cam", LIVE, priority=priority, standby=standby))
    pool.step(ticks=6)   # past the startup grace: placed, standby placed, both running
    return pool


def counted(pool: SimPool) -> list[int]:
    """The scene's crossings the master counted, by number, with repeats."""
    return pool.counted_frames("cam")


def assert_exactly_once(pool: SimPool, first: int, last: int) -> None:
    """Every crossing of the scene in [first, last] counted once: none lost, none doubled."""
    got = counted(pool)
    doubled = sorted({k for k in got if got.count(k) > 1})
    missing = sorted(set(range(first, last + 1)) - set(got))
    assert not doubled and not missing, f"doubled {doubled}, missing {missing}"


def standby_assigns(pool: SimPool) -> list[SendAssign]:
    return [a for a in pool.assigns if a.role == "standby"]


# ------------------------------------------------------------------ placement and cost

def test_critical_camera_gets_a_hot_standby_on_another_worker_under_a_fresh_epoch():
    pool = live_pool()
    [sb] = standby_assigns(pool)
    primary = pool.core.state.leases["cam"]
    assert (sb.worker_id, sb.standby) == ("w2", "hot") and primary.worker_id == "w1"
    assert sb.epoch > primary.epoch
    assert any(isinstance(r, LeaseStarted) and r.assignment.role == "standby" and r.assignment.epoch == sb.epoch
               for r in pool.records)
    assert pool.where() == {"cam": "w1"} and pool.standby_where() == {"cam": "w2"}
    view = pool.core.snapshot()
    [cam] = view.cameras
    assert cam.standby is not None and (cam.standby.worker_id, cam.standby.mode, cam.standby.state) == (
        "w2", "hot", "running")
    [w2] = [w for w in view.workers if w.worker_id == "w2"]
    assert [s.camera_id for s in w2.standbys] == ["cam"]


def test_unset_standby_is_none_for_a_normal_camera_and_without_a_second_worker():
    assert standby_assigns(live_pool(priority="normal")) == []
    lone = live_pool(workers=1)
    assert standby_assigns(lone) == []
    assert lone.core.snapshot().cameras[0].standby_mode == "none"


def test_explicit_warm_standby_for_a_normal_camera():
    pool = live_pool(standby="warm", priority="normal")
    [sb] = standby_assigns(pool)
    assert (sb.worker_id, sb.standby, sb.buffer_s) == ("w2", "warm", 10.0)


def test_a_standby_is_never_on_its_primarys_worker_and_waits_for_a_second_one():
    pool = live_pool(workers=1, standby="hot")
    assert standby_assigns(pool) == []
    [cam] = pool.core.snapshot().cameras
    assert cam.standby is not None and cam.standby.state == "waiting" and "second online worker" in cam.standby.reason
    pool.add_worker("w2")
    pool.step(ticks=2)
    assert [a.worker_id for a in standby_assigns(pool)] == ["w2"]


def test_a_hot_standby_takes_a_whole_camera_of_its_workers_capacity():
    pool = live_pool(capacity=1, standby="hot")
    pool.add_camera("other", source="rtsp://10.0.0.6/s")
    pool.step(ticks=2)
    # w1 holds cam, w2 its standby: the primary of another camera still comes first
    assert pool.where() == {"cam": "w1", "other": "w2"}
    assert pool.standby_where() == {}
    [cam] = [c for c in pool.core.snapshot().cameras if c.camera_id == "cam"]
    assert cam.standby is not None and cam.standby.state == "waiting" and "room" in cam.standby.reason


def test_a_warm_standby_takes_its_configured_fraction_of_capacity():
    pool = live_pool(capacity=2, standby="warm", settings=CoreSettings(standby_warm_cost=0.25))
    pool.add_camera("b", source="rtsp://10.0.0.6/s", pin="w2")
    pool.step(ticks=2)
    assert pool.standby_where() == {"cam": "w2"}
    reserved = pool.core._reserved()
    assert reserved == {"w2": 0.25}
    # w2: 2 - 1 camera - 0.25 = 0.75 free: no room for one more camera there; w1 has one
    pool.add_camera("c", source="rtsp://10.0.0.7/s")
    pool.step(ticks=2)
    assert pool.where()["c"] == "w1" and pool.standby_where() == {"cam": "w2"}
    # a camera that finds no room while the warm standby holds its quarter takes the standby's room
    pool.add_camera("d", source="rtsp://10.0.0.8/s")
    pool.step(ticks=2)
    assert pool.where()["d"] == "w2" and pool.standby_where() == {}


# ------------------------------------------------------------------ shadow events

def test_standby_events_are_acked_as_shadowed_up_to_the_watermark_and_never_counted():
    pool = live_pool(w2={"jitter": 0.05, "clock_skew": 2.0}, w1={"clock_skew": -1.0})
    start = pool.clock.wall()
    pool.step(ticks=30)
    assert_exactly_once(pool, min(counted(pool)), max(counted(pool)))
    assert all(ev.epoch == pool.core.state.leases["cam"].epoch
               for (cid, _, _), (ev, v) in pool.stored.items() if v is Verdict.ACCEPT)
    snap = pool.core.snapshot()
    assert snap.totals.events_shadowed >= pool.live_truth(start, pool.clock.wall() - 3)
    # what the standby still holds unacked is the last second or two, not its whole history
    assert len(pool.workers["w2"].outbox) <= 4
    assert 0 < snap.cameras[0].standby.held <= 4


def test_held_standby_events_are_bounded():
    shadows = Shadows(held_max=3)
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    for seq in range(1, 8):
        assert shadows.judge(CountEvent("cam", 2, seq, "L", "in", "car", seq, float(seq), seq),
                             float(seq)) is Verdict.HELD
    assert shadows.held("cam") == 3


def test_watermark_waits_until_the_heartbeats_events_are_all_stored():
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.primary_heartbeat("cam", 1, last_seq=5, frame_ts=100.0)
    assert shadows.watermark("cam") is None
    shadows.acked("cam", 1, 4)
    assert shadows.watermark("cam") is None
    shadows.acked("cam", 1, 5)
    assert shadows.watermark("cam") == 100.0
    shadows.primary_heartbeat("cam", 1, last_seq=5, frame_ts=101.0)   # nothing new: known at once
    assert shadows.watermark("cam") == 101.0


def test_after_a_master_restart_a_primary_with_nothing_unacked_gives_the_watermark():
    shadows = Shadows()
    shadows.primary_is("cam", 4)
    # seq 1..500 were stored and acked by the master's last run; this run never acks them again
    shadows.primary_heartbeat("cam", 4, last_seq=500, frame_ts=200.0, backlog=3)
    assert shadows.watermark("cam") is None
    shadows.primary_heartbeat("cam", 4, last_seq=500, frame_ts=201.0, backlog=0)
    assert shadows.watermark("cam") == 201.0


# ------------------------------------------------------------------ the cut and matching

def ev(epoch: int, seq: int, ts: float, direction: str = "in") -> CountEvent:
    return CountEvent("cam", epoch, seq, "L", direction, "car", 7, ts, seq)  # type: ignore[arg-type]


def test_a_track_straddling_the_cut_is_neither_doubled_nor_dropped():
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    cut = 100.0
    # the primary counted an object at C - 0.1 (stored), and its heartbeat at C is all stored
    shadows.primary_stored(ev(1, 1, cut - 0.1), cut - 0.1)
    shadows.primary_heartbeat("cam", 1, last_seq=1, frame_ts=cut)
    shadows.acked("cam", 1, 1)
    # the standby saw the same object 0.2 s later (after C), another one after C, and an object the
    # primary stamped after C (so the old epoch's copy is fenced) which the standby stamped before C
    same, after, early = ev(2, 1, cut + 0.1), ev(2, 2, cut + 0.4, "out"), ev(2, 3, cut - 0.3, "out")
    for e in (same, after, early):
        assert shadows.judge(e, e.ts) is Verdict.HELD
    held = shadows.promote("cam", 2, cut)
    assert [e.seq for e in held] == [1, 2, 3]
    verdicts = {e.seq: shadows.judge(e, e.ts) for e in held}
    assert verdicts == {1: Verdict.SHADOWED, 2: Verdict.ACCEPT, 3: Verdict.ACCEPT}
    # a resend is judged the same; the matched primary event is not used twice
    assert shadows.judge(same, same.ts) is Verdict.SHADOWED
    twin = ev(2, 4, cut + 0.2)
    assert shadows.judge(twin, twin.ts) is Verdict.ACCEPT
    # long before the cut the primary had it all; well after the matching, everything is taken
    assert shadows.judge(ev(2, 5, cut - MATCH_WINDOW_S - 0.01), cut - MATCH_WINDOW_S - 0.01) is Verdict.SHADOWED
    assert shadows.judge(ev(2, 6, cut + 5.0), cut + 5.0) is Verdict.ACCEPT


def test_a_primary_crossing_whose_twin_was_shadowed_is_not_paired_with_another_object():
    # Seen in the live bench: the primary counted a car at C - 0.55 (its standby twin at C - 0.56
    # was shadowed before the promotion), then another car at C - 0.1 whose event the SIGKILL took
    # before it was committed. The standby's C - 0.1 is the only copy of that second car: pairing
    # it with the first car's stored event (0.45 s away) would lose it.
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    cut = 100.0
    shadows.primary_stored(ev(1, 1, cut - 0.55), cut - 0.55)
    shadows.primary_heartbeat("cam", 1, last_seq=1, frame_ts=cut)
    shadows.acked("cam", 1, 1)
    first_twin, second = ev(2, 1, cut - 0.56), ev(2, 2, cut - 0.1)
    assert shadows.judge(first_twin, first_twin.ts) is Verdict.SHADOWED
    assert shadows.judge(second, second.ts) is Verdict.HELD
    [held] = shadows.promote("cam", 2, cut)
    # the promotion asks the standby to resend what is unacked: the shadowed twin may come again
    # (its ack not there yet) before the held one is judged, and must not take another pairing
    assert shadows.judge(first_twin, first_twin.ts) is Verdict.SHADOWED
    assert shadows.judge(held, held.ts) is Verdict.ACCEPT


def test_a_resent_shadowed_twin_does_not_take_the_next_objects_pairing():
    # Seen in the live bench (a duplicate): the twin of the primary's car at C - 0.566 was shadowed
    # before the promotion and sent again (before and after it); paired anew, it took the pairing
    # of the next car (C - 0.366, stored by the primary), whose standby copy was then taken as new.
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    cut = 100.0
    for seq, t in ((1, cut - 0.566), (2, cut - 0.366)):
        shadows.primary_stored(ev(1, seq, t), t)
    shadows.primary_heartbeat("cam", 1, last_seq=2, frame_ts=cut)
    shadows.acked("cam", 1, 2)
    first_twin, second_twin = ev(2, 25, cut - 0.569), ev(2, 26, cut - 0.369)
    assert shadows.judge(first_twin, first_twin.ts) is Verdict.SHADOWED
    assert shadows.judge(first_twin, first_twin.ts) is Verdict.SHADOWED   # resent before its ack arrived
    assert shadows.judge(second_twin, second_twin.ts) is Verdict.HELD
    [held] = shadows.promote("cam", 2, cut)
    assert shadows.judge(first_twin, first_twin.ts) is Verdict.SHADOWED   # the resend
    assert shadows.judge(held, held.ts) is Verdict.SHADOWED


def test_a_warm_standby_replaying_from_c_minus_2m_pairs_each_twin_with_its_own_primary_crossing():
    # A warm standby reports nothing before its promotion, then its replay from C - 2M: the same
    # two cars as above arrive in time order after the promotion.
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    cut = 100.0
    shadows.primary_stored(ev(1, 1, cut - 0.55), cut - 0.55)
    shadows.primary_heartbeat("cam", 1, last_seq=1, frame_ts=cut)
    shadows.acked("cam", 1, 1)
    assert shadows.promote("cam", 2, cut) == []
    first_twin, second = ev(2, 1, cut - 0.56), ev(2, 2, cut - 0.1)
    assert shadows.judge(first_twin, first_twin.ts) is Verdict.SHADOWED
    assert shadows.judge(second, second.ts) is Verdict.ACCEPT


def test_matching_reaches_primary_events_stored_beyond_the_watermark():
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    shadows.primary_heartbeat("cam", 1, last_seq=0, frame_ts=100.0)   # W = 100
    shadows.primary_stored(ev(1, 1, 101.5), 101.5)   # its next frames' crossing got stored before it died
    shadows.promote("cam", 2, 100.0)
    assert shadows.judge(ev(2, 1, 101.6), 101.6) is Verdict.SHADOWED
    assert shadows.judge(ev(2, 2, 103.0), 103.0) is Verdict.ACCEPT


# ------------------------------------------------------------------ promotion

def promotions(pool: SimPool) -> list[SendPromote]:
    return [a for sim in pool.workers.values() for a in sim.received if isinstance(a, SendPromote)]


def test_killed_primary_is_replaced_by_its_hot_standby_with_nothing_lost_or_doubled():
    pool = live_pool(w1={"clock_skew": -1.5}, w2={"clock_skew": 3.0, "jitter": 0.08})
    pool.step(ticks=20)
    first = min(counted(pool))
    pool.workers["w1"].kill()
    pool.step(ticks=20)
    [promote] = promotions(pool)
    assert promote.worker_id == "w2" and pool.where() == {"cam": "w2"}
    lease = pool.core.state.leases["cam"]
    assert lease.epoch == promote.epoch and pool.core.fence.epoch_of("cam") == promote.epoch
    # the standby counts from the old primary's watermark (less the matching window), in its own
    # clock, 3 s ahead of the master's
    cut = pool.core.fence.cuts[("cam", 1)]
    assert cut.ts is not None
    assert abs(promote.count_from_ts - 3.0 - (cut.ts + 1.5 - 2 * MATCH_WINDOW_S)) < 1e-6
    assert_exactly_once(pool, first, max(counted(pool)))
    assert max(counted(pool)) >= pool.live_truth(0, pool.clock.wall() - 1.5)


def test_killed_primary_with_a_warm_standby_is_counted_from_the_cut_through_its_buffer():
    pool = live_pool(standby="warm", w2={"jitter": 0.05})
    pool.step(ticks=15)
    first = min(counted(pool))
    pool.workers["w1"].kill()
    pool.step(ticks=15)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]
    assert_exactly_once(pool, first, max(counted(pool)))
    assert max(counted(pool)) >= pool.live_truth(0, pool.clock.wall() - 1.5)


def test_stopped_primary_is_promoted_over_and_its_late_events_after_the_cut_are_fenced():
    pool = live_pool(w2={"jitter": 0.04})
    pool.step(ticks=10)
    first = min(counted(pool))
    w1 = pool.workers["w1"]
    w1.alive, w1.frozen = False, True      # SIGSTOP
    pool.step(ticks=15)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]
    w1.alive, w1.frozen = True, False      # SIGCONT: it goes on where it stopped and sends its backlog
    pool.step(ticks=10)
    assert any(isinstance(a, (SendFence, SendUnassign)) and a.camera_id == "cam" and a.epoch == 1
               for a in w1.received)
    # its old epoch is stopped; it may hold the camera's new standby now
    assert w1.cameras["cam"].epoch > promotions(pool)[0].epoch and w1.cameras["cam"].role == "standby"
    assert_exactly_once(pool, first, max(counted(pool)))
    assert pool.core.snapshot().totals.events_fenced > 0


def test_partitioned_primary_keeps_counting_but_after_the_cut_nothing_of_it_is_counted():
    pool = live_pool(w2={"jitter": 0.04})
    pool.step(ticks=10)
    first = min(counted(pool))
    w1 = pool.workers["w1"]
    w1.alive = False                       # cut off for 30 s: it still watches and commits
    pool.step(ticks=30)
    assert len(w1.outbox) > 30
    w1.alive = True
    pool.step(ticks=8)
    assert_exactly_once(pool, first, max(counted(pool)))
    assert pool.core.snapshot().totals.events_fenced >= 30


def test_primary_stream_loss_while_the_standby_watches_promotes_the_standby():
    pool = live_pool(w2={"jitter": 0.03})
    pool.step(ticks=10)
    first = min(counted(pool))
    pool.workers["w1"].stream_down.add("cam")
    pool.step(ticks=10)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]
    assert_exactly_once(pool, first, max(counted(pool)))


def test_a_camera_down_for_everyone_is_not_promoted():
    pool = live_pool()
    pool.step(ticks=5)
    for sim in pool.workers.values():
        sim.stream_down.add("cam")
    pool.step(ticks=12)
    assert promotions(pool) == []
    assert pool.core.state.leases["cam"].worker_id == "w1"
    for sim in pool.workers.values():
        sim.stream_down.clear()
    pool.step(ticks=5)
    assert pool.where() == {"cam": "w1"} and pool.standby_where() == {"cam": "w2"}


def test_a_standby_still_running_but_seeing_no_frames_is_not_promoted_for_a_stream_loss():
    """The camera's server dies: the primary's reader notices at once, the standby's is still in its
    read timeout and reports "running" with no new frames. Down for everyone: not promoted."""
    pool = live_pool()
    pool.step(ticks=5)
    pool.workers["w1"].stream_down.add("cam")
    pool.workers["w2"].stream_stalled.add("cam")
    pool.step(ticks=12)
    assert promotions(pool) == []
    assert pool.core.state.leases["cam"].worker_id == "w1"
    pool.workers["w2"].stream_stalled.clear()           # the stream is back for the standby only
    pool.step(ticks=6)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]


def test_a_failed_primary_lease_is_taken_over_by_the_standby():
    pool = live_pool()
    pool.step(ticks=5)
    lease = pool.core.state.leases["cam"]
    pool.core.assign_result("cam", "w1", lease.epoch, False, "fenced", current_epoch=lease.epoch)
    pool.step(ticks=2)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]


def test_a_promoted_camera_gets_a_new_standby_never_on_its_own_worker():
    pool = live_pool(workers=3)
    pool.workers["w1"].kill()
    pool.step(ticks=6)
    assert pool.where() == {"cam": "w2"}
    assert pool.standby_where() == {"cam": "w3"}
    second = standby_assigns(pool)[-1]
    assert second.worker_id == "w3" and second.epoch > pool.core.state.leases["cam"].epoch


def test_a_standby_whose_worker_dies_is_placed_again_with_a_fresh_epoch():
    pool = live_pool(workers=3)
    first = standby_assigns(pool)[-1]
    assert first.worker_id == "w2"
    pool.workers["w2"].kill()
    pool.step(ticks=6)
    again = standby_assigns(pool)[-1]
    assert again.worker_id == "w3" and again.epoch > first.epoch
    assert promotions(pool) == [] and pool.where() == {"cam": "w1"}


def test_a_returning_standby_worker_stops_its_stale_standby():
    pool = live_pool(workers=3)
    w2 = pool.workers["w2"]
    w2.alive, w2.frozen = False, True
    pool.step(ticks=6)
    w2.alive, w2.frozen = True, False
    pool.step(ticks=3)
    assert any(isinstance(a, SendUnassign) and a.camera_id == "cam" for a in w2.received)
    assert "cam" not in w2.cameras and pool.standby_where() == {"cam": "w3"}


def test_the_operator_chooses_the_standby_worker_but_not_the_primarys():
    pool = live_pool(workers=3)
    assert pool.standby_where() == {"cam": "w2"}
    pool.core.set_standby("cam", "w3")
    pool.step(ticks=2)
    assert pool.standby_where() == {"cam": "w3"}
    try:
        pool.core.set_standby("cam", "w1")
    except ValueError as exc:
        assert "primary" in str(exc)
    else:
        raise AssertionError("the primary's worker was accepted as its standby")


def test_standby_none_ends_a_standby():
    pool = live_pool()
    cfg = pool.core.state.cameras["cam"].config
    pool.core.update_camera(replace(cfg, standby="none"))
    pool.step(ticks=2)
    assert pool.standby_where() == {} and pool.core.snapshot().cameras[0].standby is None


def test_events_of_an_ended_standby_epoch_are_never_counted():
    pool = live_pool(workers=3)
    old = standby_assigns(pool)[-1]
    w2 = pool.workers["w2"]
    w2.alive = False                       # cut off: its standby goes on counting
    pool.step(ticks=8)
    w2.alive = True
    pool.step(ticks=3)
    assert not any(ev.epoch == old.epoch and v is Verdict.ACCEPT for ev, v in pool.stored.values())
    assert_exactly_once(pool, min(counted(pool)), max(counted(pool)))


def test_a_camera_waiting_for_room_a_standby_cannot_give_does_not_make_standbys_churn():
    pool = live_pool(capacity=1, standby="hot")
    w2 = pool.core.state.workers["w2"]
    w2.capabilities = replace(w2.capabilities, source_kinds=frozenset({"rtsp"}))   # w2 cannot open USB cameras
    pool.add_camera("desk", source="usb:0")
    pool.step(ticks=3)
    epochs = pool.core.fence.issued_of("cam")
    pool.step(ticks=10)
    # the USB camera waits for room on w1; ending cam's standby on w2 would not give it any
    assert pool.where() == {"cam": "w1"} and pool.standby_where() == {"cam": "w2"}
    assert pool.core.fence.issued_of("cam") == epochs


def test_a_chosen_standby_worker_without_room_leaves_the_standby_where_it_runs():
    pool = live_pool(workers=3, capacity=1)
    assert pool.standby_where() == {"cam": "w2"}
    pool.add_camera("other", source="rtsp://10.0.0.6/s", pin="w3")
    pool.step(ticks=2)
    epoch = pool.core.state.standbys["cam"].epoch
    pool.core.set_standby("cam", "w3")          # full: its standby stays on w2, and does not come and go
    pool.step(ticks=5)
    assert pool.standby_where() == {"cam": "w2"} and pool.core.state.standbys["cam"].epoch == epoch


def test_draining_the_primarys_worker_hands_the_camera_to_its_standby_without_a_gap():
    pool = live_pool(workers=3, w2={"jitter": 0.05})
    pool.step(ticks=8)
    first = min(counted(pool))
    pool.core.drain("w1")
    pool.step(ticks=8)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]
    assert pool.where() == {"cam": "w2"} and pool.standby_where() == {"cam": "w3"}
    assert_exactly_once(pool, first, max(counted(pool)))


def test_held_events_the_watermark_passes_are_released_to_be_acked_as_shadowed():
    shadows = Shadows()
    shadows.primary_is("cam", 1)
    shadows.standby_is("cam", 2)
    for seq, ts in ((1, 100.0), (2, 101.0), (3, 102.0)):
        assert shadows.judge(ev(2, seq, ts), ts) is Verdict.HELD
    assert shadows.release("cam") == []                       # no watermark yet
    shadows.primary_heartbeat("cam", 1, last_seq=0, frame_ts=101.0 + MATCH_WINDOW_S)
    released = shadows.release("cam")
    assert [e.seq for e in released] == [1, 2] and shadows.held("cam") == 1
    assert [shadows.judge(e, e.ts) for e in released] == [Verdict.SHADOWED, Verdict.SHADOWED]



def test_a_refused_standby_assignment_is_placed_on_another_worker():
    pool = live_pool(workers=3)
    first = standby_assigns(pool)[-1]
    pool.core.assign_result("cam", first.worker_id, first.epoch, False, "capacity: this worker is full")
    pool.step(dt=0.5)
    again = standby_assigns(pool)[-1]
    assert again.worker_id not in (first.worker_id, "w1") and again.epoch > first.epoch
    assert pool.core.state.leases["cam"].state != "failed"    # the primary is not blamed


def test_a_standby_refused_everywhere_is_retried_with_backoff_not_every_tick():
    pool = live_pool()
    pool.workers["w2"].refuse = "capacity: this worker is full"
    pool.workers["w2"].cameras.clear()
    first = standby_assigns(pool)[-1]
    pool.core.assign_result("cam", "w2", first.epoch, False, "capacity: this worker is full")
    t0, tried_at, seen = pool.clock.now(), [], {first.epoch}
    for _ in range(24):              # 6 s in quarter seconds: backoff 1 s, then 2 s, then 4 s
        pool.step(dt=0.25)
        for a in standby_assigns(pool):
            if a.epoch not in seen:
                seen.add(a.epoch)
                tried_at.append(pool.clock.now() - t0)
    assert tried_at == [1.0, 3.0]
    assert pool.core.state.leases["cam"].worker_id == "w1"


def test_after_a_master_restart_the_standby_is_kept_and_still_takes_over_exactly_once(tmp_path):
    from campool_gui.pool.core import PoolCore
    from campool_gui.pool.store import Store

    pool = live_pool(w2={"jitter": 0.05})
    pool.step(ticks=10)
    first = min(counted(pool))
    store = Store(tmp_path / "history.db")
    try:
        store.save_records(pool.records).result(5)
        state = store.load_state()
    finally:
        store.close()
    standby_epoch = pool.core.state.standbys["cam"].epoch
    pool.core = PoolCore(pool.clock)            # the master restarts; the workers go on
    pool.core.restore(**state)
    assert sorted(pool.core.workers) == ["w1", "w2"]
    assert pool.core.state.standbys["cam"].epoch == standby_epoch
    pool.step(ticks=8)                           # past the startup grace
    assert standby_assigns(pool)[-1].epoch == standby_epoch   # no new standby: the one running is kept
    pool.workers["w1"].kill()
    pool.step(ticks=10)
    assert [a.worker_id for a in promotions(pool)] == ["w2"]
    assert_exactly_once(pool, first, max(counted(pool)))

