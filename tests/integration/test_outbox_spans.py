"""The outbox's coverage spans: seqs per (camera, epoch), open spans grown in place, acks that keep
what may still grow, resends, an outbox of schema 1 upgraded in place, and a SIGKILL mid-span."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from campool_worker.camera import CameraConfig
from campool_worker.coverage import CoverageTracker, SpanUpdate
from campool_worker.outbox import SCHEMA_VERSION, Outbox, StoredAssignment


def _spans(box: Outbox) -> list[tuple[str, int, int, float, float, str, bool]]:
    return [(s.camera_id, s.epoch, s.seq, s.start_ts, s.end_ts, s.role, s.closed) for s in box.pending_spans()]


def test_an_open_span_grows_under_its_seq_and_the_next_one_takes_the_next_seq(tmp_path):
    box = Outbox(tmp_path / "w.db")
    (sp,) = box.record_spans([("a", 1, SpanUpdate(10.0, 11.0, "primary", False))])
    assert (sp.seq, sp.end_ts, sp.closed) == (1, 11.0, False)
    box.record_spans([("a", 1, SpanUpdate(10.0, 12.0, "primary", False)), ("b", 1, SpanUpdate(5.0, 6.0, "standby",
                                                                                              False))])
    box.record_spans([("a", 1, SpanUpdate(10.0, 12.5, "primary", True)), ("a", 1, SpanUpdate(20.0, 20.0, "primary",
                                                                                             False))])
    assert _spans(box) == [("a", 1, 1, 10.0, 12.5, "primary", True), ("a", 1, 2, 20.0, 20.0, "primary", False),
                           ("b", 1, 1, 5.0, 6.0, "standby", False)]


def test_an_ack_deletes_closed_spans_only_and_seqs_are_never_reused(tmp_path):
    box = Outbox(tmp_path / "w.db")
    box.record_spans([("a", 1, SpanUpdate(1.0, 2.0, "primary", True)), ("a", 1, SpanUpdate(3.0, 4.0, "primary",
                                                                                           False))])
    assert box.ack_spans("a", 1, 2) == 1, "the open span stays: it will grow, the master must hear of it again"
    assert [s.seq for s in box.pending_spans()] == [2]
    box.record_spans([("a", 1, SpanUpdate(3.0, 5.0, "primary", True))])
    assert box.ack_spans("a", 1, 2) == 1 and box.span_backlog() == 0
    box.close()
    box = Outbox(tmp_path / "w.db")
    (sp,) = box.record_spans([("a", 1, SpanUpdate(9.0, 9.0, "primary", False))])
    assert sp.seq == 3


def test_the_resend_timer_sees_only_spans_not_sent_recently_and_pages_in_order(tmp_path):
    box = Outbox(tmp_path / "w.db")
    box.record_spans([("a", 1, SpanUpdate(float(i), i + 0.5, "primary", True)) for i in range(7)], now=100.0)
    box.record_spans([("a", 1, SpanUpdate(50.0, 51.0, "primary", False))], now=200.0, sent=False)
    assert [s.seq for s in box.pending_spans(sent_before=150.0)] == list(range(1, 9))
    box.mark_spans_sent(box.pending_spans(), now=300.0)
    assert box.pending_spans(sent_before=250.0) == []
    first = box.pending_spans(limit=3)
    rest = box.pending_spans(after=(first[-1].camera_id, first[-1].epoch, first[-1].seq))
    assert [s.seq for s in first + rest] == list(range(1, 9))


def test_a_span_left_open_by_an_earlier_run_is_closed_at_its_last_commit_and_sent_again(tmp_path):
    box = Outbox(tmp_path / "w.db")
    box.record_spans([("a", 2, SpanUpdate(10.0, 14.0, "standby", False))], now=100.0)
    box.close()
    box = Outbox(tmp_path / "w.db")
    (closed,) = box.close_open_spans()
    assert (closed.seq, closed.start_ts, closed.end_ts, closed.role, closed.closed) == (1, 10.0, 14.0, "standby", True)
    assert [s.seq for s in box.pending_spans(sent_before=0.0)] == [1], "not sent since it was closed"
    assert box.close_open_spans() == []
    (new,) = box.record_spans([("a", 2, SpanUpdate(30.0, 30.0, "standby", False))])
    assert new.seq == 2
    assert box.close_open_spans() == [], "this run's own open span is not closed under it"


_SCHEMA_1 = """
CREATE TABLE events (
    camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    line TEXT NOT NULL, direction TEXT NOT NULL, class_name TEXT NOT NULL,
    track_id INTEGER NOT NULL, ts REAL NOT NULL, frame_index INTEGER NOT NULL,
    committed_at REAL NOT NULL, sent_at REAL,
    PRIMARY KEY (camera_id, epoch, seq)
) WITHOUT ROWID;
CREATE TABLE seqs (
    camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, last_seq INTEGER NOT NULL, last_frame INTEGER NOT NULL,
    PRIMARY KEY (camera_id, epoch)
) WITHOUT ROWID;
CREATE TABLE assignments (
    camera_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, config TEXT NOT NULL,
    start_frame INTEGER, count_from_frame INTEGER, count_from_ts REAL, assigned_at REAL NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
"""


def test_an_outbox_of_schema_1_is_upgraded_in_place_keeping_its_events_and_assignments(tmp_path):
    """A file written by the worker before issue #12 (its exact DDL): opened, it keeps its events
    and seqs, its assignments come back as primaries, and spans and roles can be stored."""
    path = tmp_path / "w.db"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_1)
    cam = CameraConfig("gate", "rtsp://10.0.0.5/s")
    db.execute("INSERT INTO events VALUES ('gate', 3, 1, 'l', 'in', 'car', 7, 1000.0, 42, 1000.0, 1000.0)")
    db.execute("INSERT INTO seqs VALUES ('gate', 3, 1, 42)")
    db.execute("INSERT INTO assignments VALUES ('gate', 3, ?, NULL, NULL, 999.0, 1000.0)", (json.dumps(cam.to_dict()),))
    db.commit()
    db.close()

    box = Outbox(path)
    (a,) = box.assignments()
    assert (a.camera, a.epoch, a.count_from_ts, a.role, a.standby, a.buffer_s) == (cam, 3, 999.0, "primary", "hot",
                                                                                    10.0)
    assert [(e.seq, e.frame_index) for e in box.pending()] == [(1, 42)] and box.last_seq("gate", 3) == 1
    (sp,) = box.record_spans([("gate", 3, SpanUpdate(1.0, 2.0, "primary", False))])
    assert sp.seq == 1
    box.save_assignment(StoredAssignment(cam, 4, None, None, None, "standby", "warm", 6.0))
    box.close()
    box = Outbox(path)
    assert box.get_meta("schema") == str(SCHEMA_VERSION)
    (a,) = box.assignments()
    assert (a.epoch, a.role, a.standby, a.buffer_s) == (4, "standby", "warm", 6.0)


def test_sigkill_mid_span_keeps_the_span_as_last_committed_and_the_next_start_closes_it(tmp_path):
    """A writer process feeding a real tracker, committing its spans every 20 ms as the service
    does, killed with SIGKILL: the open span is on disk up to the last end it reported, and a new
    outbox closes it there (not later, not earlier) and goes on with the next seq."""
    script = textwrap.dedent(f"""
        import sys, time
        from campool_worker.coverage import CoverageTracker
        from campool_worker.outbox import Outbox
        box = Outbox({str(tmp_path / 'w.db')!r})
        cov = CoverageTracker("primary")
        ts = 1000.0
        while True:
            for _ in range(5):
                ts += 0.1
                cov.frame(ts)
            for sp in box.record_spans([("cam", 9, u) for u in cov.drain()]):
                sys.stdout.write(f"{{sp.seq}} {{sp.end_ts!r}}\\n")
            sys.stdout.flush()
            time.sleep(0.02)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last_end = 0.0
    while last_end < 1010.0:  # 100 frames told and committed in 20 spans' updates
        seq, end = proc.stdout.readline().split()
        assert seq == "1", "one open span all along"
        last_end = float(end)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    box = Outbox(tmp_path / "w.db")
    (closed,) = box.close_open_spans()
    assert closed.start_ts == 1000.1 and closed.closed
    assert closed.end_ts >= last_end, "every end it reported as committed is kept"
    assert closed.end_ts <= last_end + 0.5 + 1e-6, "at most the one commit it did not get to report"
    tracker = CoverageTracker("primary")
    tracker.frame(2000.0)
    (after,) = box.record_spans([("cam", 9, u) for u in tracker.drain()])
    assert after.seq == 2
