"""The worker's storage judgement and the crossings it holds when the outbox cannot take them:
order, the bound, the retry backoff, "low" from free space against the outbox's growth, and one
alert per change of state. A fake clock and a fake disk."""
from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from campool_worker.outbox import FrameCrossings
from campool_worker.pipeline.camera_pipeline import Crossing
from campool_worker.storage_watch import RETRY_CAP_S, RETRY_FIRST_S, HeldCrossings, StorageWatch

Usage = namedtuple("Usage", "total used free")
MB = 1_000_000


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeDisk:
    """A disk of `total` bytes, with `free` of them free; the outbox's files are `outbox` bytes."""

    def __init__(self, tmp_path: Path, total: int, free: int) -> None:
        self.total, self.free = total, free
        self.file = tmp_path / "worker.db"
        self.file.write_bytes(b"")

    def usage(self, _folder: Path) -> Usage:
        return Usage(self.total, self.total - self.free, self.free)

    def grow(self, n: int) -> None:
        """The outbox takes n more bytes of the disk."""
        with open(self.file, "ab") as fh:
            fh.write(b"\0" * n)
        self.free -= n


def frame(i: int, crossings: int = 1) -> FrameCrossings:
    return FrameCrossings("cam", 1, [Crossing("L", "in", "car", i, i, float(i)) for _ in range(crossings)])


def watch_of(tmp_path: Path, disk: FakeDisk, clock: FakeClock) -> StorageWatch:
    return StorageWatch(tmp_path, lambda: [disk.file], clock=clock, disk_usage=disk.usage)


# ------------------------------------------------------------------ held crossings

def test_held_frames_come_back_oldest_first_in_whole_frames():
    held = HeldCrossings(clock=FakeClock())
    held.failed("database or disk is full")
    held.hold([frame(i, 2) for i in range(10)])
    assert held.crossings == 20 and held.failing and len(held) == 10
    first = held.front(5)
    assert [f.crossings[0].frame_index for f in first] == [0, 1]   # whole frames, about 5 crossings
    assert held.committed_front(len(first)) == 4
    assert not held.failing and held.wait_s() == 0                  # a commit worked: the rest goes at once
    rest = held.front(10_000)
    assert [f.crossings[0].frame_index for f in rest] == list(range(2, 10))
    held.committed_front(len(rest))
    assert not held and held.crossings == 0 and held.committed == 20


def test_at_the_bound_the_newest_frames_are_refused_whole_and_counted():
    held = HeldCrossings(limit=10, clock=FakeClock())
    held.failed("disk full")
    assert held.hold([frame(i, 3) for i in range(3)]) == 0          # 9 held
    assert held.hold([frame(3, 2), frame(4, 1)]) == 2                # 2 do not fit: that frame goes whole
    assert held.crossings == 10 and held.dropped == 2
    assert [f.crossings[0].frame_index for f in held.front(100)] == [0, 1, 2, 4]
    assert held.hold([frame(5)]) == 1 and held.dropped == 3          # full: what was taken in stays


def test_retries_back_off_to_the_cap_and_start_over_once_a_commit_works():
    clock = FakeClock()
    held = HeldCrossings(limit=5, clock=clock)
    held.hold([frame(0, 3), frame(1, 1)])
    delays = [held.failed("disk full") for _ in range(8)]
    assert delays[0] == RETRY_FIRST_S and delays[-1] == RETRY_CAP_S and delays == sorted(delays)
    assert not held.due() and held.wait_s() == pytest.approx(RETRY_CAP_S)
    clock.t += RETRY_CAP_S
    assert held.due()
    held.committed_front(1)
    assert held.failed("disk full") == RETRY_FIRST_S


# ------------------------------------------------------------------ the storage's state

def test_low_when_free_space_is_under_the_floor_of_a_small_disk(tmp_path):
    clock = FakeClock()
    disk = FakeDisk(tmp_path, total=3 * MB, free=2 * MB)
    watch = watch_of(tmp_path, disk, clock)
    held = HeldCrossings(clock=clock)
    watch.sample()
    assert watch.status(held).state == "ok"
    disk.free = 200_000                                  # under a tenth of a 3 MB disk
    watch.sample()
    st = watch.status(held)
    assert st.state == "low" and st.free_mb == 0.2 and "0.2 MB free" in st.message
    disk.free = 320_000                                  # above the floor, not by the margin: still low
    watch.sample()
    assert watch.status(held).state == "low"
    disk.free = 400_000
    watch.sample()
    assert watch.status(held).state == "ok"


def test_low_when_the_outbox_would_fill_the_free_space_within_the_horizon(tmp_path):
    clock = FakeClock()
    disk = FakeDisk(tmp_path, total=100_000 * MB, free=1000 * MB)   # far above any floor
    watch = watch_of(tmp_path, disk, clock)
    held = HeldCrossings(clock=clock)
    for _ in range(30):                                  # 100 kB/s: 1000 MB last ~2.8 h
        clock.t += 1
        disk.grow(100_000)
        watch.sample()
    assert watch.status(held).state == "ok"
    disk.free = 300 * MB                                 # someone else took space: 50 min left at this growth
    for _ in range(5):
        clock.t += 1
        disk.grow(100_000)
        watch.sample()
    st = watch.status(held)
    assert st.state == "low" and "100.0 kB/s" in st.message and "min" in st.message
    for _ in range(130):                                 # the master takes the backlog: no more growth
        clock.t += 1
        watch.sample()
    assert watch.status(held).state == "ok"


def test_failing_is_told_once_with_what_is_held_and_lost_and_a_recovery_once_it_lasts(tmp_path):
    clock = FakeClock()
    disk = FakeDisk(tmp_path, total=3 * MB, free=2 * MB)
    watch = watch_of(tmp_path, disk, clock)
    held = HeldCrossings(limit=4, clock=clock)
    watch.sample()
    assert watch.note(watch.status(held), held) == []
    disk.free = 0
    watch.sample()
    assert [a[:2] for a in watch.note(watch.status(held), held)] == [("warning", "storage_low")]
    held.failed("database or disk is full")
    held.hold([frame(i) for i in range(6)])
    st = watch.status(held)
    assert (st.state, st.buffered) == ("failing", 4)
    assert "database or disk is full" in st.message and "4 crossing(s) held" in st.message
    assert "2 crossing(s) lost" in st.message
    assert [a[:2] for a in watch.note(st, held)] == [("error", "storage_failing"), ("error", "counts_dropped")]
    assert watch.note(watch.status(held), held) == []               # no news, no alert
    held.committed_front(2)                                         # one commit gets through, then none
    clock.t += 3
    assert watch.note(watch.status(held), held) == []
    held.failed("database or disk is full")
    assert watch.note(watch.status(held), held) == []               # the same episode: not told again
    disk.free = 2 * MB                                              # room: the rest goes
    watch.sample()
    held.committed_front(len(held))
    assert watch.status(held).state == "ok"                         # the status says it at once ...
    assert watch.note(watch.status(held), held) == []               # ... the alert once it lasted
    clock.t += 10
    [(level, code, text)] = watch.note(watch.status(held), held)
    assert (level, code) == ("info", "storage_ok")
    assert "4 held crossing(s) committed and sent" in text and "2 crossing(s) were lost" in text
    held.failed("disk full")                                        # a new episode counts from zero
    held.hold([frame(9)])
    st = watch.status(held)
    assert "lost" not in st.message
    assert [a[1] for a in watch.note(st, held)] == ["storage_failing"]
