"""The SQLite outbox: seqs without gaps, ack, paging, a backlog of an hour, a hard kill, and a full disk."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from campool_worker.camera import CameraConfig
from campool_worker.outbox import WAL_SIZE_LIMIT, FrameCrossings, Outbox, OutboxWriteError, StoredAssignment
from campool_worker.pipeline.camera_pipeline import Crossing
from tests.helpers.small_disk import fill, small_disk


def crossing(cam="c1", epoch=1, frame=0, line="l"):
    """One frame of camera `cam` with one crossing in it."""
    return FrameCrossings(cam, epoch, [Crossing(line, "in", "car", frame, frame, 1000.0 + frame)])


def test_seqs_start_at_one_per_camera_and_epoch_and_survive_reopening(tmp_path):
    box = Outbox(tmp_path / "w.db")
    events = box.commit([crossing("a", 1, 0), crossing("b", 1, 0), crossing("a", 1, 1), crossing("a", 2, 5)])
    assert [(e.camera_id, e.epoch, e.seq) for e in events] == [("a", 1, 1), ("b", 1, 1), ("a", 1, 2), ("a", 2, 1)]
    assert box.ack("a", 1, 2) == 2
    box.close()
    box = Outbox(tmp_path / "w.db")
    (ev,) = box.commit([crossing("a", 1, 9)])
    assert ev.seq == 3, "acked and deleted events still count: no seq is reused"
    assert box.last_frame("a", 1) == 9 and box.last_frame("zz", 1) is None
    assert [(e.camera_id, e.epoch, e.seq) for e in box.pending()] == [("a", 1, 3), ("a", 2, 1), ("b", 1, 1)]


def test_ack_deletes_only_up_to_the_seq_of_that_camera_and_epoch(tmp_path):
    box = Outbox(tmp_path / "w.db")
    box.commit([crossing("a", 1, i) for i in range(5)] + [crossing("a", 2, 0), crossing("b", 1, 0)])
    assert box.ack("a", 1, 3) == 3
    assert [(e.camera_id, e.epoch, e.seq) for e in box.pending()] == [("a", 1, 4), ("a", 1, 5), ("a", 2, 1),
                                                                       ("b", 1, 1)]
    assert box.backlog() == {"a": 3, "b": 1}


def test_an_hour_of_counts_while_the_master_is_away_pages_out_whole(tmp_path):
    """36,000 events (10 a second for an hour), committed in the service's batch size, come
    back page by page in order, and acks empty the outbox."""
    box = Outbox(tmp_path / "w.db")
    for start in range(0, 36_000, 500):
        box.commit([crossing("cam", 4, f) for f in range(start, start + 500)])
    assert box.counts()[0] == 36_000
    seen = 0
    for page in box.iter_pending(page=500):
        assert [e.seq for e in page] == list(range(seen + 1, seen + len(page) + 1))
        seen += len(page)
        box.ack("cam", 4, page[-1].seq)
    assert seen == 36_000 and box.counts() == (0, None)


def test_resend_timer_sees_only_events_not_sent_recently(tmp_path):
    box = Outbox(tmp_path / "w.db")
    box.commit([crossing(frame=0)], now=100.0)
    box.commit([crossing(frame=1)], now=200.0, sent=False)
    assert [e.seq for e in box.pending(sent_before=150.0)] == [1, 2]
    box.mark_sent(box.pending(), now=300.0)
    assert box.pending(sent_before=250.0) == []


def test_assignments_round_trip(tmp_path):
    box = Outbox(tmp_path / "w.db")
    cam = CameraConfig("gate", "rtsp://10.0.0.5/s", detect_fps=5.0)
    box.save_assignment(StoredAssignment(cam, 7, 100, 150, 1234.5))
    box.close()
    (a,) = Outbox(tmp_path / "w.db").assignments()
    assert (a.camera, a.epoch, a.start_frame, a.count_from_frame, a.count_from_ts) == (cam, 7, 100, 150, 1234.5)


def test_sigkill_keeps_every_committed_event(tmp_path):
    """A writer process killed with SIGKILL mid-stream: every commit it reported is on disk,
    with gap-free seqs, and a new writer continues the sequence."""
    script = textwrap.dedent(f"""
        import sys
        from campool_worker.outbox import FrameCrossings, Outbox
        from campool_worker.pipeline.camera_pipeline import Crossing
        box = Outbox({str(tmp_path / 'w.db')!r})
        f = 0
        while True:
            events = box.commit([FrameCrossings("c", 1, [Crossing("l", "in", "car", f + i, f + i, 0.0)])
                                 for i in range(50)])
            f += 50
            sys.stdout.write(f"{{events[-1].seq}}\\n"); sys.stdout.flush()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    reported = 0
    while reported < 2000:
        reported = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db = sqlite3.connect(tmp_path / "w.db")
    seqs = [r[0] for r in db.execute("SELECT seq FROM events ORDER BY seq")]
    db.close()
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= reported
    box = Outbox(tmp_path / "w.db")
    assert box.commit([crossing("c", 1, 10**6)])[0].seq == len(seqs) + 1


def test_a_full_disk_refuses_a_commit_whole_and_the_seqs_go_on_once_there_is_room(tmp_path):
    """A real 3 MiB tmpfs, filled: a commit raises OutboxWriteError (not SQLite's own error, which
    killed the worker), stores nothing and uses no seq; the outbox still works, and once the
    filler is gone the next commit takes the seq the failed one would have had."""
    with small_disk(tmp_path / "disk") as disk:
        box = Outbox(disk / "w.db")
        box.commit([crossing("c", 1, f) for f in range(100)])
        filler = fill(disk)
        with pytest.raises(OutboxWriteError) as err:
            for start in range(100, 100_000, 500):   # until the pages already on the disk are used up
                box.commit([crossing("c", 1, f) for f in range(start, start + 500)])
        assert "full" in err.value.reason
        stored = box.counts()[0]
        assert box.last_seq("c", 1) == stored
        assert [e.seq for e in box.pending(limit=10**6)] == list(range(1, stored + 1))
        with pytest.raises(OutboxWriteError):
            box.save_assignment(StoredAssignment(CameraConfig("gate", "rtsp://10.0.0.5/s"), 7, None, None))
        filler.unlink()
        (ev,) = box.commit([crossing("c", 1, 10**6)])
        assert ev.seq == stored + 1
        box.save_assignment(StoredAssignment(CameraConfig("gate", "rtsp://10.0.0.5/s"), 7, None, None))
        assert [a.epoch for a in box.assignments()] == [7]
        assert box._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        box.close()


def test_the_wal_stays_small_so_that_a_nearly_full_disk_still_takes_the_events(tmp_path):
    """SQLite's default lets the WAL reach 4 MB and keeps that size; the outbox cuts it to ~1 MiB."""
    box = Outbox(tmp_path / "w.db")
    for start in range(0, 60_000, 50):  # small commits, acked as a master does: the WAL is what grows
        events = box.commit([crossing("c", 1, f) for f in range(start, start + 50)])
        box.ack("c", 1, events[-1].seq)
    wal = tmp_path / "w.db-wal"
    assert wal.stat().st_size <= WAL_SIZE_LIMIT + 64 * 4096
    box.close()
