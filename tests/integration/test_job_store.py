"""Jobs in the real history database: a restarted master resumes a job and counts nothing twice."""
from __future__ import annotations

from campool_gui.pool import job_store
from campool_gui.pool.clock import FakeClock
from campool_gui.pool.job_report import build_report, to_csv, to_html
from campool_gui.pool.jobs import JobBoard, JobSpec, MediaInfo, SegmentResultSaved
from campool_gui.pool.store import Store
from campool_worker import protocol as p
from campool_worker.camera import CountingLine

SPEC = JobSpec(files=("/v/survey.mp4",), lines=(CountingLine.parse("near:0,500,1280,500"),), interval_min=15.0)
# 30 minutes, from a minute before a 15-minute mark of the clock
MEDIA = [MediaInfo("/v/survey.mp4", 25 * 60 * 30, 25.0, 1280, 720, 1_700_000_040.0)]


def _flush(board: JobBoard, store: Store) -> None:
    job_store.save(store, board.take_records()).result(5)


def test_a_restarted_master_resumes_the_job_and_stores_each_result_once(tmp_path):
    clock = FakeClock()
    store = Store(tmp_path / "history.db")
    board = JobBoard(clock)
    board.submit("j", SPEC, MEDIA)  # 10 segments of 3 minutes
    board.tick({"w1": 2.0})
    for a in board.take_actions():
        board.start_answered(a.message.job_id, a.message.segment, a.message.attempt, p.Ok())
    done = p.SegmentStatus("j", 0, 1, "done", 4500, 4500, [p.JobCrossing(10, 0.4, "near", "in", "car"),
                                                           p.JobCrossing(4400, 176.0, "near", "out", "bus")])
    board.status("w1", done)
    records = board.take_records()
    result = next(r for r in records if isinstance(r, SegmentResultSaved))
    job_store.save(store, records).result(5)
    job_store.save(store, [result]).result(5)  # the same result again (a repeated reply, a replayed record)
    store.close()

    store = Store(tmp_path / "history.db")  # the master restarted
    [job] = store.read(job_store.load_jobs)
    assert [s.state for s in job.segments[:3]] == ["done", "starting", "queued"]
    assert len(store.read(lambda c: job_store.crossings(c, "j"))) == 2
    again = JobBoard(clock)
    again.restore([job])
    drops = again.take_actions()
    assert [(type(a.message).__name__, a.message.segment) for a in drops] == [("DropSegment", 1)]
    again.tick({"w1": 2.0})
    starts = [(a.message.segment, a.message.attempt) for a in again.take_actions()]
    assert starts == [(1, 2), (2, 1)]  # the interrupted one again under a new attempt; done 0 is not rerun
    _flush(again, store)
    rep = build_report(job)
    assert rep.counts["near"].in_total == 1 and rep.counts["near"].out_total == 1
    # The intervals are on the clock's 15-minute marks (1_700_000_100 is one): the car before it, the bus after.
    assert [(r["start"], r["direction"], r["class"], r["count"]) for r in rep.intervals()] == [
        (1_700_000_100.0 - 900, "in", "car", 1), (1_700_000_100.0, "out", "bus", 1)]
    assert "interval_start,interval_end,line,direction,class,count" in to_csv(rep)
    assert "<svg" in to_html(rep)
    store.close()
