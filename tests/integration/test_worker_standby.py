"""Live standby on a real RTSP camera (gst-rtsp-server looping highway.mp4): a warm runner's
ring counted from the cut with no frame skipped or repeated at the junction, and a real worker
process running hot and warm standbys, promoted through the master's wire client, its coverage
spans closed after a SIGKILL."""
from __future__ import annotations

import itertools
import logging
import re
import sqlite3
import threading
import time
from typing import Any

import pytest

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.coverage import CoverageTracker
from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
from campool_worker.pipeline.runner import PROMOTION_WARMUP_S, CameraRunner
from campool_worker.pipeline.sources import Frame
from tests.helpers.worker_process import TelemetryCollector, WorkerProcess, wait_until

pytestmark = [pytest.mark.alone, pytest.mark.timeout(240)]

LINE = "near:0,500,1280,500"


class _Recorder:
    """The real motion pipeline, noting (index, capture time) of every frame it was given."""

    def __init__(self, config: CameraConfig, seen: list[tuple[int, float]]) -> None:
        self.inner = CameraPipeline(config, load_detector(None), fps=30)
        self.seen = seen

    def process(self, frame: Frame) -> Any:
        self.seen.append((frame.index, frame.ts))
        return self.inner.process(frame)


@pytest.mark.rtsp
def test_a_promoted_warm_runner_counts_its_ring_from_the_cut_warm_up_then_live_without_a_gap_or_a_repeat(
        rtsp_camera, caplog):
    caplog.set_level(logging.INFO, logger="campool_worker.pipeline.runner")
    seen: list[tuple[int, float]] = []
    built = threading.Event()

    def factory(config: CameraConfig) -> _Recorder:
        built.set()
        return _Recorder(config, seen)

    cfg = CameraConfig("hw", rtsp_camera.url, lines=[CountingLine.parse(LINE)])
    watch = CoverageTracker("standby")
    runner = CameraRunner(cfg, factory, read_timeout_s=5, open_timeout_s=5, warm_buffer_s=6.0, watch=watch).start()
    try:
        wait_until(lambda: runner.status().buffered_s >= 4.0, 30, message="4 s of frames in the warm ring")
        st = runner.status()
        assert st.warm and st.state == "running" and not built.is_set(), "a warm standby builds no pipeline"
        assert time.time() - st.frame_ts < 2.0, "frame_ts is the last buffered frame"
        cut = time.time() - 1.5  # the cut's 2 s warm-up starts 3.5 s back: inside the 4 s held
        runner.promote(cut)
        runner.promote(cut + 1.0)  # a repeat changes nothing
        wait_until(lambda: not runner.status().warm and runner.status().catch_up_fps > 0, 30,
                   message="the promoted runner to count its ring and catch up")
        caught_up_at = len(seen)
        wait_until(lambda: len(seen) > caught_up_at + 30, 20, message="30 live frames after the junction")
        st = runner.status()
        spans = watch.drain()
        rtsp_camera.stop()  # the camera loses power
        wait_until(lambda: runner.status().state == "reconnecting", 15, message="the loss to be noticed")
        spans += watch.drain()
    finally:
        runner.stop()
    dropped = runner.status().dropped   # over the whole run, as `seen` is (st was taken before the loss)
    indices = [i for i, _ in seen]
    assert all(b > a for a, b in itertools.pairwise(indices)), "no frame processed twice"
    # The only frames missing are those the stream reader itself dropped (its 2-frame queue
    # overflows in the burst an RTSP server sends at the start, more on a loaded box): the ring
    # and the junction lose none.
    missing = sum(b - a - 1 for a, b in itertools.pairwise(indices))
    assert missing <= dropped, f"{missing} frame(s) missing, the stream reader dropped {dropped}"
    live = re.search(r"caught up: .* live from frame (\d+)", caplog.text)
    assert live is not None, caplog.text[-2000:]
    junction = int(live.group(1))
    assert junction - 1 in indices and junction in indices, "the last buffered frame, then the next live one"
    first_ts = seen[0][1]
    # The ring is counted from the cut's warm-up on (one frame interval of slack either side).
    assert cut - PROMOTION_WARMUP_S - 0.05 <= first_ts <= cut - PROMOTION_WARMUP_S + 0.1, (first_ts, cut)
    assert runner.count_from_ts == cut, "crossings before the cut (the warm-up) are not reported"
    print(f"\ncatch-up: {st.catch_up_fps:.0f} frames/s (the camera streams 30)")
    assert st.catch_up_fps > 30, "the buffered frames are counted faster than real time"
    assert (spans[0].role, spans[0].closed) == ("standby", True), "the promotion ends the standby span"
    last = spans[-1]
    assert (last.role, last.closed) == ("primary", True), "the stream's loss ends the primary span"
    assert last.end_ts <= time.time() and last.end_ts >= seen[-1][1] - 0.5, "at the last frame it saw"


class _Master(TelemetryCollector):
    """The test master: events as TelemetryCollector keeps them, and every coverage span as last sent."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[tuple[str, int, int], p.CoverageSpan] = {}

    def on_telemetry(self, env: Any) -> None:
        super().on_telemetry(env)
        if isinstance(env.message, p.CountBatch):
            with self.lock:
                for sp in env.message.spans:
                    self.spans[(sp.camera_id, sp.epoch, sp.seq)] = sp

    def camera(self, camera_id: str) -> p.CameraTelemetry | None:
        hb = self.last_heartbeat()
        return next((c for c in hb.cameras if c.camera_id == camera_id), None) if hb else None

    def events_of(self, camera_id: str, epoch: int) -> list[Any]:
        with self.lock:
            return sorted((e for (c, ep, _), e in self.events.items() if (c, ep) == (camera_id, epoch)),
                          key=lambda e: e.seq)

    def spans_of(self, camera_id: str, epoch: int) -> list[p.CoverageSpan]:
        with self.lock:
            return [sp for (c, ep, _), sp in sorted(self.spans.items()) if (c, ep) == (camera_id, epoch)]


@pytest.mark.rtsp
def test_hot_and_warm_standbys_in_a_worker_promotion_from_the_cut_and_spans_closed_after_sigkill(
        tmp_path, rtsp_camera, yolox_model):
    master = _Master()

    def camera(cid: str) -> CameraConfig:
        return CameraConfig(cid, rtsp_camera.url, lines=[CountingLine.parse(LINE)], model=str(yolox_model),
                            detect_fps=10.0)

    with WorkerProcess(tmp_path / "w", extra_args=["--capacity", "2"]) as worker:
        keys = worker.adopt()
        with worker.client(keys, on_telemetry=master.on_telemetry) as link:
            assert "hot standby" in link.call(p.AssignCamera(camera("hot"), 5, role="standby", standby="hot"),
                                              expect=p.Ok).detail
            link.call(p.AssignCamera(camera("warm"), 7, role="standby", standby="warm", buffer_s=8.0), expect=p.Ok)
            refused = link.call(p.AssignCamera(camera("more"), 1))
            assert isinstance(refused, p.Error) and refused.code == "capacity", "1.5 of 2 taken: no whole camera fits"

            try:
                wait_until(lambda: (w := master.camera("warm")) is not None and w.buffered_s >= 6.0, 60,
                           message="the warm standby to hold 6 s of frames")
            except AssertionError as exc:   # what it did instead, for the report
                raise AssertionError(f"{exc}; warm: {master.camera('warm')}; hot: {master.camera('hot')}\n"
                                     f"{worker.log()[-6000:]}") from None
            hot, warm = master.camera("hot"), master.camera("warm")
            assert hot is not None and warm is not None
            assert (hot.role, hot.state, warm.role, warm.state) == ("standby", "running", "standby", "running")
            assert hot.detector and not warm.detector, "the hot standby runs the detector, the warm one does not"
            assert abs(time.time() - warm.frame_ts) < 2.0
            wait_until(lambda: master.events_of("hot", 5), 60, message="the hot standby's crossings, sent as usual")
            assert master.events_of("warm", 7) == [], "a warm standby counts nothing"
            wait_until(lambda: master.spans_of("warm", 7) and master.spans_of("hot", 5), 10,
                       message="coverage spans of both standbys")
            assert all(sp.role == "standby" for sp in master.spans_of("warm", 7) + master.spans_of("hot", 5))

            cut = time.time() - 5.0  # same host: the worker's clock is ours
            fenced = link.call(p.PromoteCamera("warm", 6, cut))
            assert isinstance(fenced, p.Fenced) and fenced.current_epoch == 7
            unknown = link.call(p.PromoteCamera("nowhere", 1, cut))
            assert isinstance(unknown, p.Error) and "not assigned" in unknown.message
            promoted_at = time.time()
            link.call(p.PromoteCamera("warm", 7, cut), expect=p.Ok)
            assert "already" in link.call(p.PromoteCamera("warm", 7, cut), expect=p.Ok).detail

            wait_until(lambda: (w := master.camera("warm")) is not None and w.role == "primary" and w.detector
                       and w.buffered_s == 0.0 and w.frame_ts > promoted_at, 60,
                       message="the promoted standby to count its ring and go on live")
            wait_until(lambda: any(e.ts < promoted_at for e in master.events_of("warm", 7)), 30,
                       message="crossings counted from the buffered frames (before the promotion)")
            events = master.events_of("warm", 7)
            assert all(e.ts >= cut for e in events), "nothing before the cut is counted"
            from_ring = [e for e in events if e.ts < promoted_at]
            by_hot = [e for e in master.events_of("hot", 5) if cut <= e.ts < promoted_at]
            print(f"\nbetween the cut and the promotion: {len(from_ring)} crossings from the warm ring, "
                  f"{len(by_hot)} by the hot standby")
            assert len(from_ring) * 2 >= len(by_hot), "the ring's frames count about what the live pipeline did"
            # the worker's log reaches us through a pipe: the line may trail the status that reported the end
            caught_up = re.compile(r"caught up: (\d+) buffered frame\(s\) counted in [\d.]+ s \((\d+) frames/s\)")
            wait_until(lambda: caught_up.search(worker.log()) is not None, 10,
                       message="the catch-up's figures in the worker's log")
            caught = caught_up.search(worker.log())
            assert caught is not None and int(caught.group(2)) > 10, "faster than the 10 detections a second"
            wait_until(lambda: any(sp.role == "primary" for sp in master.spans_of("warm", 7)), 10,
                       message="a coverage span of the promoted camera as primary")
            open_hot = [sp for sp in master.spans_of("hot", 5) if not sp.closed]
            assert open_hot, "the hot standby's span is open while it watches"

            worker.kill()
            worker.restart()
            first_boot = master.heartbeats[0].boot_id
            wait_until(lambda: (hb := master.last_heartbeat()) is not None and hb.boot_id != first_boot
                       and {c.camera_id: c.role for c in hb.cameras} == {"hot": "standby", "warm": "primary"}, 60,
                       message="the restarted worker to resume the hot standby as a standby, the promoted one "
                               "as the primary")
            link.call(p.Hello("m1", "test-master", "test"), expect=p.HelloReply)  # a master that saw boot_id change
            killed = open_hot[-1]
            wait_until(lambda: (sp := master.spans.get((killed.camera_id, killed.epoch, killed.seq))) is not None
                       and sp.closed, 20, message="the span the SIGKILL left open, closed and sent again")
            closed = master.spans[(killed.camera_id, killed.epoch, killed.seq)]
            assert closed.start_ts == killed.start_ts and closed.end_ts >= killed.end_ts
            wait_until(lambda: any(sp.seq > killed.seq and not sp.closed for sp in master.spans_of("hot", 5)), 30,
                       message="a new span after the restart, under the next seq")
            link.call(p.AckCounts("hot", 5, 0, spans_up_to=killed.seq), expect=p.AckReply)
            db = sqlite3.connect(f"file:{tmp_path / 'w' / 'worker.db'}?mode=ro", uri=True)
            try:
                left = [r[0] for r in db.execute("SELECT seq FROM spans WHERE camera_id='hot' AND epoch=5")]
            finally:
                db.close()
            assert left and min(left) > killed.seq, f"acked spans are deleted, the open one kept: {left}"


def test_every_heartbeat_says_the_crossings_of_frames_up_to_frame_ts_are_committed_up_to_last_seq(tmp_path):
    """A burst camera (one crossing a frame, 400 frames a second) sampled by heartbeats and by
    GetStatus as fast as we can ask: for every sample (frame_ts F, last_seq S), the event after
    S is of a frame after F. A heartbeat that read last_seq before committing what the camera
    had handed over would claim frames whose crossings were still queued."""
    master = _Master()
    samples: list[tuple[float, int]] = []
    with WorkerProcess(tmp_path / "w") as worker:
        keys = worker.adopt()
        with worker.client(keys, on_telemetry=master.on_telemetry) as link:
            link.call(p.AssignCamera(CameraConfig("burst", "test://burst?rate=400", lines=[CountingLine.parse(LINE)]),
                                     3, role="standby", standby="hot"), expect=p.Ok)
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline:
                st = link.call(p.GetStatus(), expect=p.StatusReply).status
                samples += [(c.frame_ts, c.last_seq) for c in st.cameras if c.camera_id == "burst"]
            link.call(p.UnassignCamera("burst", 3), expect=p.Ok)
            with master.lock:
                samples += [(c.frame_ts, c.last_seq) for hb in master.heartbeats for c in hb.cameras
                            if c.camera_id == "burst"]
            top = max(s for _, s in samples)
            wait_until(lambda: master.contiguous_seq("burst", 3) >= top, 20,
                       message="every event up to the last sample")
    events = {e.seq: e for e in master.events_of("burst", 3)}
    # The camera went on after each sample (but perhaps not after the very last heartbeat).
    checked = [(f, s) for f, s in samples if f > 0 and s + 1 in events]
    assert len(checked) > 20 and top > 400, (len(checked), top)
    claimed_too_much = [(f, s, events[s + 1].ts) for f, s in checked if events[s + 1].ts <= f]
    assert not claimed_too_much, f"frames up to frame_ts with a crossing after last_seq: {claimed_too_much[:3]}"


def test_standby_assignments_follow_the_epoch_rule_and_a_newer_epoch_replaces_them(tmp_path):
    burst = CameraConfig("b", "test://burst?rate=50", lines=[CountingLine.parse(LINE)])
    master = _Master()
    with WorkerProcess(tmp_path / "w") as worker:
        keys = worker.adopt()
        with worker.client(keys, on_telemetry=master.on_telemetry) as link:
            link.call(p.AssignCamera(burst, 3, role="standby", standby="hot"), expect=p.Ok)
            assert "already" in link.call(p.AssignCamera(burst, 3, role="standby", standby="hot"), expect=p.Ok).detail
            stale = link.call(p.AssignCamera(burst, 2, role="standby"))
            assert isinstance(stale, p.Fenced) and stale.current_epoch == 3
            other_mode = link.call(p.AssignCamera(burst, 3, role="standby", standby="warm"))
            assert isinstance(other_mode, p.Error) and "new epoch" in other_mode.message
            bad = link.call(p.AssignCamera(burst, 9, role="standby", standby="warm", buffer_s=0.0))
            assert isinstance(bad, p.Error) and bad.code == "invalid" and "buffer_s" in bad.message
            # A newer epoch replaces the standby, as any assignment; the old epoch is fenced after that.
            link.call(p.AssignCamera(burst, 4, role="standby", standby="warm", buffer_s=5.0), expect=p.Ok)
            wait_until(lambda: (c := master.camera("b")) is not None and (c.epoch, c.role) == (4, "standby"), 10,
                       message="the heartbeat to show the camera's standby at epoch 4")
            old = link.call(p.PromoteCamera("b", 3, time.time()))
            assert isinstance(old, p.Fenced) and (old.epoch, old.current_epoch) == (3, 4)
            bad_cut = link.call(p.PromoteCamera("b", 4, 0.0))
            assert isinstance(bad_cut, p.Error) and "count_from_ts" in bad_cut.message
            # A master that re-asserts the camera as its primary at the standby's epoch promotes it.
            assert "promoted" in link.call(p.AssignCamera(burst, 4, count_from_ts=time.time()), expect=p.Ok).detail
            wait_until(lambda: (c := master.camera("b")) is not None and c.role == "primary", 10,
                       message="the heartbeat to show the promoted camera as the primary")
            demote = link.call(p.AssignCamera(burst, 4, role="standby", standby="warm", buffer_s=5.0))
            assert isinstance(demote, p.Error) and "new epoch" in demote.message
