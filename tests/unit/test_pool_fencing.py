"""Epoch fencing on the master: which count events are stored, which are dropped."""
from __future__ import annotations

from campool_gui.pool.fencing import EpochFence, Verdict
from campool_gui.pool.models import Cut
from campool_worker.camera import CountEvent


def ev(epoch: int, seq: int, frame: int, ts: float = 0.0, cam: str = "c") -> CountEvent:
    return CountEvent(cam, epoch, seq, "L", "in", "car", 1, ts, frame)


def test_current_epoch_events_are_accepted():
    f = EpochFence()
    f.begin("c", 1)
    assert f.judge(ev(1, 1, 10)) is Verdict.ACCEPT


def test_old_epoch_events_count_only_before_the_frame_cut():
    f = EpochFence()
    f.begin("c", 1)
    f.close(Cut("c", 1, frame=100))
    f.begin("c", 2)
    assert f.judge(ev(1, 5, 99)) is Verdict.ACCEPT
    assert f.judge(ev(1, 6, 100)) is Verdict.FENCED
    assert f.judge(ev(2, 1, 100)) is Verdict.ACCEPT


def test_live_streams_are_cut_by_worker_time():
    f = EpochFence()
    f.begin("c", 3)
    f.close(Cut("c", 3, ts=5000.0))
    f.begin("c", 4)
    assert f.judge(ev(3, 1, 0, ts=4999.9)) is Verdict.ACCEPT
    assert f.judge(ev(3, 2, 0, ts=5000.1)) is Verdict.FENCED


def test_an_epoch_without_a_cut_is_fenced_and_an_unknown_camera_is_dropped():
    f = EpochFence()
    f.begin("c", 1)
    f.begin("c", 2)
    assert f.judge(ev(1, 1, 1)) is Verdict.FENCED
    assert f.judge(ev(1, 1, 1, cam="gone")) is Verdict.FENCED


def test_a_stopped_camera_fences_its_events_after_the_cut_even_before_the_next_epoch():
    f = EpochFence()
    f.begin("c", 1)
    f.close(Cut("c", 1, frame=50))
    assert f.judge(ev(1, 1, 49)) is Verdict.ACCEPT
    assert f.judge(ev(1, 2, 51)) is Verdict.FENCED


def test_cut_never_drops_an_event_already_stored():
    f = EpochFence()
    f.begin("c", 1)
    assert f.judge(ev(1, 1, 120)) is Verdict.ACCEPT
    # the last heartbeat said frame 110, but an event of frame 120 is already stored
    assert f.cut_frame_for("c", 110) == 121
    assert f.cut_frame_for("c", 130) == 130


def test_epochs_only_grow():
    f = EpochFence()
    f.begin("c", 2)
    try:
        f.begin("c", 2)
    except ValueError as exc:
        assert "does not follow" in str(exc)
    else:
        raise AssertionError("an epoch may not be reused")
