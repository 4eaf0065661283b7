"""The job board: priority queue, room, retries with backoff, dead letters, lost workers (fake clock)."""
from __future__ import annotations

import pytest

from campool_gui.pool.clock import FakeClock
from campool_gui.pool.jobs import JobBoard, JobError, JobSettings, JobSpec, MediaInfo, SegmentResultSaved, cut_segments
from campool_worker import protocol as p
from campool_worker.camera import CountingLine

LINE = (CountingLine.parse("near:0,500,1280,500"),)


def media(path: str = "/v/a.mp4", minutes: float = 9.0, fps: float = 25.0) -> MediaInfo:
    return MediaInfo(path, int(minutes * 60 * fps), fps, 1280, 720, 1_700_000_000.0)


def spec(priority: str = "normal", **kw) -> JobSpec:
    return JobSpec(files=("/v/a.mp4",), lines=LINE, priority=priority, **kw)


def runs(board: JobBoard) -> list[tuple[str, str, int, int]]:
    """(worker, job, segment, attempt) of the RunSegment commands sent since the last call."""
    return [(a.worker_id, a.message.job_id, a.message.segment, a.message.attempt) for a in board.take_actions()
            if isinstance(a.message, p.RunSegment)]


def accept(board: JobBoard, started: list[tuple[str, str, int, int]]) -> None:
    for _, job, seg, att in started:
        board.start_answered(job, seg, att, p.Ok())


def finish(board: JobBoard, worker: str, job: str, seg: int, att: int, crossings=()) -> None:
    board.status(worker, p.SegmentStatus(job, seg, att, "done", 10, 10, list(crossings)))


def test_a_file_is_cut_in_segments_of_a_few_minutes_with_a_warm_up_after_the_first():
    segs = cut_segments("j", [media(minutes=9.0)], JobSettings(segment_s=180.0, warmup_s=2.0))
    assert [(s.start, s.end, s.warmup) for s in segs] == [(0, 4533, 0), (4533, 9017, 50), (9017, 13500, 50)]
    # The same work in each (a warm-up is decoded and detected too): the pool waits for the slowest.
    work = [s.end - s.start + s.warmup for s in segs]
    assert max(work) - min(work) <= 1, work


def test_a_short_job_is_still_cut_for_every_worker_that_can_take_a_part():
    segs = cut_segments("j", [media(minutes=1.0)], JobSettings(segment_s=180.0, warmup_s=2.0), min_segments=2)
    assert [(s.start, s.end, s.warmup) for s in segs] == [(0, 775, 0), (775, 1500, 50)]


def test_a_job_without_lines_or_zones_is_refused():
    with pytest.raises(JobError, match="at least one counting line"):
        JobSpec(files=("/v/a.mp4",))


def test_a_job_detects_on_a_fixed_grid_never_adaptively_and_a_stored_spec_keeps_its_rate():
    """Adaptive detection decides from the history before a cut, which a segment's warm-up does not
    replay: a job's camera runs the detector on a fixed grid (10 a second by default) or on every frame."""
    line = (CountingLine.parse("near:0,500,1280,500"),)
    default = JobSpec(files=("/v/a.mp4",), lines=line)
    cam = default.camera("j1", "/v/a.mp4")
    assert cam.detect_fps == 10.0
    every = JobSpec(files=("/v/a.mp4",), lines=line, detect_fps=None).camera("j1", "/v/a.mp4")
    assert every.detect_fps is None and every.detect == "every"
    for spec in (default, JobSpec(files=("/v/a.mp4",), lines=line, detect_fps=None)):
        assert JobSpec.from_dict(spec.to_dict()).camera("j", "/v/a.mp4") == spec.camera("j", "/v/a.mp4")


def test_segments_go_to_the_room_cameras_leave_and_no_further():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("j1", spec(), [media(minutes=15.0)])  # 5 segments
    board.tick({"w1": 2.0, "w2": 0.5})
    started = runs(board)
    assert [s[0] for s in started] == ["w1", "w1"]  # w2's live cameras leave it less than a slot
    accept(board, started)
    board.tick({"w1": 2.0, "w2": 1.0})
    assert [s[0] for s in runs(board)] == ["w2"]


def test_a_higher_priority_job_overtakes_queued_segments_but_running_ones_finish():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("low", spec("low"), [media(minutes=9.0)])
    board.tick({"w1": 1.0})
    first = runs(board)
    assert first == [("w1", "low", 0, 1)]
    accept(board, first)
    board.submit("urgent", spec("critical"), [media(minutes=6.0)])
    clock.advance(1.0)
    board.tick({"w1": 1.0})
    assert runs(board) == []  # the low job's running segment is not stopped
    finish(board, "w1", "low", 0, 1)
    board.tick({"w1": 1.0})
    assert runs(board) == [("w1", "urgent", 0, 1)]


def test_a_failing_segment_is_retried_after_1_2_4_s_three_times_on_one_worker_then_on_another():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("j", spec(), [media(minutes=3.0)])
    room = {"w1": 1.0, "w2": 0.0}
    board.tick(room)
    attempt_times = []
    for attempt in (1, 2, 3):
        [(w, _, _, att)] = runs(board)
        assert (w, att) == ("w1", attempt)
        attempt_times.append(clock.now())
        board.start_answered("j", 0, att, p.Ok())
        board.status("w1", p.SegmentStatus("j", 0, att, "failed", error="decoder crashed"))
        waits = {1: 1.0, 2: 2.0, 3: 4.0}[attempt]
        clock.advance(waits - 0.01)
        board.tick(room)
        assert runs(board) == []  # not before its backoff
        clock.advance(0.01)
        board.tick(room)
        if attempt == 3:
            break
    assert runs(board) == []  # w1 has had its 3 tries; w2 has no room yet
    board.tick({"w1": 1.0, "w2": 1.0})
    assert runs(board) == [("w2", "j", 0, 4)]


def test_a_segment_that_fails_on_every_worker_is_a_dead_letter_and_the_job_is_partial():
    clock = FakeClock()
    board = JobBoard(clock)
    job = board.submit("j", spec(), [media(minutes=6.0)])  # 2 segments
    room = {"w1": 2.0}
    board.tick(room)
    started = runs(board)
    accept(board, started)
    finish(board, "w1", "j", 1, 1, [p.JobCrossing(5000, 200.0, "near", "in", "car")])
    att = started[0][3]
    for _ in range(3):
        board.status("w1", p.SegmentStatus("j", 0, att, "failed", error="frame 812: invalid NAL unit"))
        clock.advance(4.0)
        board.tick(room)
        new = runs(board)
        if not new:
            break
        att = new[0][3]
        board.start_answered("j", 0, att, p.Ok())
    assert [s.index for s in board.dead_letters()] == [0]
    assert board.dead_letters()[0].error == "frame 812: invalid NAL unit"
    assert job.state == "partial"
    # the first segment is longer by one warm-up (2 s): 0 to 181 s of the 6 minutes
    assert job.missing() == [{"file": "/v/a.mp4", "start_s": 0.0, "end_s": 181.0,
                              "reason": "frame 812: invalid NAL unit"}]


def test_a_worker_that_dies_mid_segment_loses_it_to_another_and_its_late_answer_is_ignored():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("j", spec(), [media(minutes=3.0)])
    board.tick({"w1": 1.0, "w2": 0.0})
    started = runs(board)
    accept(board, started)
    assert [s[0] for s in started] == ["w1"]
    board.tick({"w2": 1.0})  # w1 is gone from the usable workers
    actions = board.take_actions()
    assert [(x.worker_id, type(x.message).__name__) for x in actions] == [("w1", "DropSegment"), ("w2", "RunSegment")]
    board.start_answered("j", 0, 2, p.Ok())
    board.status("w1", p.SegmentStatus("j", 0, 1, "done", 10, 10, [p.JobCrossing(1, 0.04, "near", "in", "car")]))
    assert board.jobs["j"].segments[0].state == "running"  # the old attempt's result is not taken
    finish(board, "w2", "j", 0, 2)
    records = [r for r in board.take_records() if isinstance(r, SegmentResultSaved)]
    assert len(records) == 1 and records[0].segment.attempt == 2 and records[0].segment.retried == 1
    assert board.jobs["j"].state == "done"


def test_a_result_that_arrives_twice_is_taken_once():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("j", spec(), [media(minutes=3.0)])
    board.tick({"w1": 1.0})
    accept(board, runs(board))
    finish(board, "w1", "j", 0, 1)
    finish(board, "w1", "j", 0, 1)  # the reply to a repeated QuerySegment
    assert sum(isinstance(r, SegmentResultSaved) for r in board.take_records()) == 1


def test_a_worker_that_stops_answering_loses_its_segment():
    clock = FakeClock()
    board = JobBoard(clock, JobSettings(silent_after_s=15.0))
    board.submit("j", spec(), [media(minutes=3.0)])
    board.tick({"w1": 1.0, "w2": 1.0})
    started = runs(board)
    accept(board, started)
    w = started[0][0]
    other = "w2" if w == "w1" else "w1"
    clock.advance(15.5)
    board.tick({"w1": 1.0, "w2": 1.0})
    assert ("j", 0, 2) in [(j, s, a) for _, j, s, a in runs(board)]
    assert board.jobs["j"].segments[0].worker_id in (w, other)


def test_a_preempted_segment_goes_back_to_the_queue_without_a_failed_try():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("j", spec(), [media(minutes=3.0)])
    board.tick({"w1": 1.0})
    accept(board, runs(board))
    board.status("w1", p.SegmentStatus("j", 0, 1, "failed", error="preempted: a live camera needs this worker's slot"))
    seg = board.jobs["j"].segments[0]
    assert seg.state == "queued" and seg.tries == {}
    board.tick({"w1": 1.0})
    assert runs(board) == [("w1", "j", 0, 2)]


def test_progress_and_a_restart_resume_where_the_job_was():
    clock = FakeClock()
    board = JobBoard(clock)
    job = board.submit("j", spec(), [media(minutes=6.0)])
    board.tick({"w1": 2.0})
    accept(board, runs(board))
    finish(board, "w1", "j", 0, 1)
    first, second = job.segments
    board.status("w1", p.SegmentStatus("j", 1, 1, "running", 2250, second.end - second.start))
    assert job.progress == pytest.approx((first.end - first.start + 2250) / 9000)
    # A new master: the same jobs, as stored; the running segment runs again under a new attempt.
    again = JobBoard(clock)
    again.restore([job])
    assert [type(a.message).__name__ for a in again.take_actions()] == ["DropSegment"]
    again.tick({"w1": 2.0})
    assert runs(again) == [("w1", "j", 1, 2)]
    assert job.segments[0].state == "done"


def test_a_worker_without_room_after_all_is_no_retry():
    clock = FakeClock()
    board = JobBoard(clock)
    board.submit("j", spec(), [media(minutes=3.0)])
    board.tick({"w1": 1.0})
    [(_, _, _, att)] = runs(board)
    board.start_answered("j", 0, att, p.Error("capacity", "no free slot"))
    seg = board.jobs["j"].segments[0]
    assert (seg.state, seg.attempt, seg.retried, seg.tries) == ("queued", 0, 0, {})
    board.tick({"w1": 1.0})
    assert runs(board) == [("w1", "j", 0, 1)]
