"""The supervised camera loop: counting, handover start/cut, ends, backoff, watchdog, failures."""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.errors import ModelError
from campool_worker.pipeline.camera_pipeline import CameraPipeline, load_detector
from campool_worker.pipeline.runner import CameraRunner
from campool_worker.pipeline.sources import open_source
from campool_worker.pipeline.synthetic import SyntheticParams, SyntheticScene

pytestmark = pytest.mark.timeout(120)

SYN = "synthetic://?w=640&h=360&fps=15&objects=4&seed=2&frames=900"
LINE = CountingLine.parse("mid:0,180,640,180")  # p1 left, p2 right: moving down is "in"


def _wait_for(predicate, timeout_s: float, poll_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())


def _motion_pipeline(config: CameraConfig) -> CameraPipeline:
    return CameraPipeline(config, load_detector(config.model), fps=15)


def _truth(frames: int, since: int = 0) -> Counter:
    scene = SyntheticScene(SyntheticParams.parse(SYN))
    return Counter("in" if d > 0 else "out" for i, _, d in scene.crossings(LINE.p1[1], frames) if i >= since)


def _run_to_end(runner: CameraRunner, timeout_s: float = 60) -> None:
    runner.start()
    try:
        assert _wait_for(lambda: runner.status().ended, timeout_s), runner.status()
    finally:
        runner.stop()


def test_runner_counts_every_synthetic_object_once(tmp_path):
    crossings = []
    cfg = CameraConfig(camera_id="syn", source=SYN, lines=[LINE])
    runner = CameraRunner(cfg, _motion_pipeline, on_crossing=crossings.append, realtime=False)
    _run_to_end(runner)
    st = runner.status()
    assert (st.state, st.frames, st.frame_index, st.last_error) == ("stopped", 900, 899, None)
    got = Counter(c.direction for c in crossings)
    assert got == _truth(900), "motion counting on the synthetic camera must match its ground truth"
    assert len({(c.track_id, c.line) for c in crossings}) == len(crossings)


def test_handover_start_and_cut_count_exactly_the_rest_of_the_file():
    # The new owner of a camera starts 100 frames early so the tracker has history,
    # and reports only what crosses from the cut on: together with the old owner's
    # crossings before the cut, every object is counted once.
    start, cut = 400, 500
    seen: list[int] = []
    crossings = []

    def factory(cfg):
        pipe = _motion_pipeline(cfg)
        original = pipe.process

        def process(frame):
            seen.append(frame.index)
            return original(frame)
        pipe.process = process  # type: ignore[method-assign]
        return pipe

    cfg = CameraConfig(camera_id="syn", source=SYN, lines=[LINE])
    runner = CameraRunner(cfg, factory, on_crossing=crossings.append, realtime=False,
                          start_frame=start, count_from_frame=cut)
    _run_to_end(runner)
    assert seen[0] == start and seen[-1] == 899 and len(seen) == 900 - start
    assert all(c.frame_index >= cut for c in crossings)
    assert Counter(c.direction for c in crossings) == _truth(900, since=cut)
    assert runner.status().suppressed > 0  # warm-up crossings were seen and held back


def test_file_camera_ends_after_its_last_frame(highway_video):
    n = []
    cfg = CameraConfig(camera_id="hw", source=str(highway_video))
    runner = CameraRunner(cfg, lambda c: _Counting(n), realtime=False)
    _run_to_end(runner)
    st = runner.status()
    assert st.ended and st.state == "stopped" and st.frames == 450 and len(n) == 450


class _Counting:
    def __init__(self, sink: list) -> None:
        self.sink = sink

    def process(self, frame):
        self.sink.append(frame.index)
        return None


class _HangsOnce:
    """A pipeline whose process() blocks forever on one frame, like a wedged decoder or model."""

    hung = threading.Event()
    release = threading.Event()

    def __init__(self, seen: list, hang_at: int) -> None:
        self.seen, self.hang_at = seen, hang_at

    def process(self, frame):
        if frame.index == self.hang_at and not self.hung.is_set():
            self.hung.set()
            self.release.wait(60)
        self.seen.append(frame.index)
        return None


def test_watchdog_restarts_a_stalled_camera_and_it_carries_on(caplog):
    delivered: list[int] = []
    built = []
    _HangsOnce.hung.clear()
    _HangsOnce.release.clear()

    def factory(cfg):
        built.append(cfg)
        return _HangsOnce([], hang_at=30)

    cfg = CameraConfig(camera_id="wedge", source="synthetic://?w=64&h=64&fps=50")
    runner = CameraRunner(cfg, factory, on_result=lambda f, r: delivered.append(f.index),
                          realtime=True, stall_timeout_s=1.0).start()
    try:
        assert _wait_for(_HangsOnce.hung.is_set, 10)
        assert _wait_for(lambda: runner.status().reconnects >= 1, 5), runner.status()
        assert "camera 'wedge': camera loop stalled for 1 s; restarted it" in caplog.text
        assert _wait_for(lambda: len(delivered) > 60, 10), runner.status()
        st = runner.status()
        assert st.state == "running" and st.reconnects == 1
        assert len(built) == 2  # a fresh pipeline: the old one is still stuck inside process()
        assert delivered[:61] == list(range(61))  # restarted at the frame that hung, none lost
    finally:
        runner.stop()
        _HangsOnce.release.set()
    time.sleep(0.2)
    # The abandoned thread, once released, must not deliver its stale frame.
    assert delivered.count(30) == 1


def test_stop_returns_promptly_even_with_a_wedged_pipeline():
    _HangsOnce.hung.clear()
    _HangsOnce.release.clear()
    cfg = CameraConfig(camera_id="wedge", source="synthetic://?w=64&h=64&fps=50")
    runner = CameraRunner(cfg, lambda c: _HangsOnce([], hang_at=5), stall_timeout_s=30).start()
    try:
        assert _wait_for(_HangsOnce.hung.is_set, 10)
        t0 = time.monotonic()
        runner.stop(timeout_s=0.5)
        assert time.monotonic() - t0 < 1.5
        assert runner.status().state == "stopped"
    finally:
        _HangsOnce.release.set()


def test_missing_file_retries_with_doubling_backoff_to_the_cap(tmp_path):
    attempts: list[float] = []

    def opener(url, **kw):
        attempts.append(time.monotonic())
        return open_source(url, **kw)

    cfg = CameraConfig(camera_id="lost", source=str(tmp_path / "later.mp4"))
    runner = CameraRunner(cfg, lambda c: _Counting([]), opener=opener,
                          backoff_initial_s=0.1, backoff_max_s=0.4).start()
    try:
        assert _wait_for(lambda: len(attempts) >= 6, 10)
        st = runner.status()
        assert st.state == "reconnecting" and "later.mp4' not found; check the path" in st.last_error
        assert st.retry_in_s is not None
    finally:
        runner.stop()
    gaps = [b - a for a, b in itertools.pairwise(attempts)][:5]
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4, 0.4, 0.4)):
        assert expected * 0.9 <= gap < expected + 0.3, (gaps, expected)


def test_camera_appearing_later_is_picked_up(tmp_path, highway_video):
    target = tmp_path / "cam.mp4"
    cfg = CameraConfig(camera_id="late", source=str(target))
    n: list[int] = []
    runner = CameraRunner(cfg, lambda c: _Counting(n), realtime=False,
                          backoff_initial_s=0.1, backoff_max_s=0.2).start()
    try:
        assert _wait_for(lambda: runner.status().state == "reconnecting", 5)
        target.symlink_to(highway_video)
        assert _wait_for(lambda: runner.status().ended, 20), runner.status()
    finally:
        runner.stop()
    assert len(n) == 450


def test_model_that_cannot_load_fails_the_camera_until_it_is_fixed(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    cfg = CameraConfig(camera_id="bad-model", source="synthetic://?w=160&h=120&fps=30", model=str(bad))
    with pytest.raises(ModelError) as expected:
        load_detector(str(bad))
    runner = CameraRunner(cfg, _motion_pipeline, realtime=False).start()
    try:
        assert _wait_for(lambda: runner.status().state == "failed", 10)
        assert runner.status().last_error == str(expected.value)
        # The operator removes the model (motion counting): the camera starts again.
        runner.update_config(CameraConfig(camera_id="bad-model", source=cfg.source))
        assert _wait_for(lambda: runner.status().state == "running" and runner.status().frames > 10, 10)
        assert runner.status().last_error is None
    finally:
        runner.stop()


def test_a_failing_callback_does_not_stop_counting():
    calls = []

    def bad_callback(crossing):
        calls.append(crossing)
        raise RuntimeError("consumer bug")

    cfg = CameraConfig(camera_id="syn", source=SYN, lines=[LINE])
    runner = CameraRunner(cfg, _motion_pipeline, on_crossing=bad_callback, realtime=False)
    _run_to_end(runner)
    assert runner.status().frames == 900 and len(calls) == sum(_truth(900).values())


def test_results_reach_the_preview_callback_in_order():
    got = []
    cfg = CameraConfig(camera_id="syn", source=SYN.replace("frames=900", "frames=60"), lines=[LINE])
    runner = CameraRunner(cfg, _motion_pipeline, on_result=lambda f, r: got.append((f.index, r.frame_index)),
                          realtime=False)
    _run_to_end(runner)
    assert got == [(i, i) for i in range(60)]


def test_line_change_applies_between_frames_without_losing_position():
    seen: list[int] = []
    cfgs = []

    def factory(cfg):
        cfgs.append(cfg)
        return _Counting(seen)

    cfg = CameraConfig(camera_id="syn", source="synthetic://?w=160&h=120&fps=100", lines=[LINE])
    runner = CameraRunner(cfg, factory).start()
    try:
        assert _wait_for(lambda: len(seen) > 20, 10)
        runner.update_config(CameraConfig(camera_id="syn", source=cfg.source,
                                          lines=[CountingLine.parse("low:0,100,160,100")]))
        assert _wait_for(lambda: len(cfgs) == 2 and len(seen) > 60, 10)
    finally:
        runner.stop()
    assert cfgs[1].lines[0].name == "low"
    assert seen == list(range(len(seen)))  # no frame repeated or skipped over the change


def test_source_change_reopens_the_new_stream_from_its_start(highway_video):
    got: list[tuple[str, int]] = []
    cfg = CameraConfig(camera_id="swap", source="synthetic://?w=160&h=120&fps=100")
    runner = CameraRunner(cfg, lambda c: _Tagged(c, got)).start()
    try:
        assert _wait_for(lambda: len(got) > 20, 10)
        runner.update_config(CameraConfig(camera_id="swap", source=str(highway_video)))
        assert _wait_for(lambda: runner.status().ended, 30), runner.status()
    finally:
        runner.stop()
    on_file = [i for src, i in got if src == str(highway_video)]
    assert on_file == list(range(450))  # the whole new file, from its first frame
    assert runner.status().last_error is None


class _Tagged:
    def __init__(self, config: CameraConfig, sink: list) -> None:
        self.source, self.sink = config.source, sink

    def process(self, frame):
        self.sink.append((self.source, frame.index))
        return None


def test_crossings_of_one_frame_arrive_together_for_an_atomic_commit():
    """The outbox resumes a crashed camera at 'last committed frame + 1', which is exact only
    if a frame's crossings are committed all-or-nothing: the runner must hand them over in one call."""
    two_lines = [LINE, CountingLine.parse("mid2:0,181,640,181")]  # every object crosses both in one frame
    groups: list[list] = []
    cfg = CameraConfig(camera_id="syn", source=SYN, lines=two_lines)
    runner = CameraRunner(cfg, _motion_pipeline, on_crossings=groups.append, realtime=False)
    _run_to_end(runner)
    assert groups, "the synthetic scene has crossings"
    for group in groups:
        assert len({c.frame_index for c in group}) == 1, "one call per frame"
    frames = [g[0].frame_index for g in groups]
    assert len(frames) == len(set(frames)), "a frame's crossings are never split over two calls"
    assert any(len(g) >= 2 for g in groups), "objects crossing both lines arrive in the same call"
    assert Counter(c.direction for g in groups for c in g if c.line == "mid") == _truth(900)


def test_a_camera_whose_model_arrives_later_starts_by_itself():
    """A pushed model that is not there yet fails the camera; the supervisor rebuilds it with a
    backoff and picks the model up once it is there, without anyone touching the camera."""
    arrived = threading.Event()
    attempts: list[float] = []

    def factory(cfg):
        attempts.append(time.monotonic())
        if not arrived.is_set():
            raise ModelError("model sha256:abc is not on this worker; push it from the master")
        return _Counting([])

    cfg = CameraConfig(camera_id="later", source="synthetic://?w=64&h=64&fps=50")
    runner = CameraRunner(cfg, factory, rebuild_initial_s=0.1, rebuild_max_s=0.4).start()
    try:
        assert _wait_for(lambda: len(attempts) >= 4, 10), attempts
        st = runner.status()
        assert st.state == "failed" and "push it from the master" in st.last_error
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert gaps[0] < gaps[2], f"the rebuilds back off: {gaps}"
        arrived.set()
        assert _wait_for(lambda: runner.status().state == "running" and runner.status().frames > 10, 10)
        assert runner.status().last_error is None
    finally:
        runner.stop()


def test_a_rebuilt_file_camera_goes_on_after_its_last_processed_frame_without_counting_twice():
    builds: list[list[int]] = []
    crossings: list = []
    broken = threading.Event()

    def factory(cfg):
        if broken.is_set():
            broken.clear()  # fails once, like a model replaced by a bad one and fixed again
            raise ModelError("bad model")
        seen: list[int] = []
        builds.append(seen)
        pipe = _motion_pipeline(cfg)
        original = pipe.process

        def process(frame):
            seen.append(frame.index)
            return original(frame)
        pipe.process = process  # type: ignore[method-assign]
        return pipe

    cfg = CameraConfig(camera_id="syn", source=SYN, lines=[LINE])
    runner = CameraRunner(cfg, factory, on_crossing=lambda c: crossings.append((len(builds), c)), realtime=False,
                          rebuild_initial_s=0.1)
    runner.start()
    try:
        assert _wait_for(lambda: len(builds[0]) > 300, 30)
        broken.set()
        runner.update_config(CameraConfig(camera_id="syn", source=SYN, lines=[LINE], confidence=0.4))
        assert _wait_for(lambda: runner.status().ended, 60), runner.status()
    finally:
        runner.stop()
    assert len(builds) == 2, "the failed build was tried again"
    resume = builds[0][-1] + 1
    assert builds[1][0] == resume - 50 and builds[1][-1] == 899, "warm-up before the resume point, then on"
    first = [c for build, c in crossings if build == 1]
    second = [c for build, c in crossings if build == 2]
    assert first and second
    assert all(c.frame_index < resume for c in first)
    assert all(c.frame_index >= resume for c in second), "nothing before the resume point is reported twice"


class _AlwaysHangs:
    release = threading.Event()

    def process(self, frame):
        self.release.wait(60)
        return None


def test_restarts_of_a_camera_that_stalls_in_a_loop_are_capped_at_five_a_minute():
    built = []

    def factory(cfg):
        built.append(cfg)
        return _AlwaysHangs()

    _AlwaysHangs.release.clear()
    cfg = CameraConfig(camera_id="spin", source="synthetic://?w=64&h=64&fps=50")
    runner = CameraRunner(cfg, factory, stall_timeout_s=0.3).start()
    try:
        assert _wait_for(lambda: "restarting it in" in (runner.status().last_error or ""), 20), runner.status()
        st = runner.status()
        assert len(built) == 6 and st.reconnects == 6, "the first loop and five restarts"
        assert st.state == "reconnecting" and st.retry_in_s and st.retry_in_s > 30
        time.sleep(1.0)
        assert len(built) == 6, "no restart while the budget is spent"
    finally:
        runner.stop(timeout_s=0.5)
        _AlwaysHangs.release.set()


def test_the_budget_a_saturated_worker_allows_is_taken_at_the_next_frame(highway_video, yolox_model):
    """What detect_governor.py decides reaches the camera's adaptive planner: the runner reports the
    lowered budget, runs the detector no more often than it allows, and counts what was refused."""
    cfg = CameraConfig(camera_id="hw", source=str(highway_video), lines=[CountingLine.parse("near:0,500,1280,500")],
                       model=str(yolox_model), classes=["car", "truck", "bus", "motorcycle"])

    def pipeline(config: CameraConfig) -> CameraPipeline:
        return CameraPipeline(config, load_detector(config.model, classes=config.classes, intra_op_threads=1))

    runner = CameraRunner(cfg, pipeline, realtime=False)
    runner.set_detect_budget(2.0)
    _run_to_end(runner, timeout_s=90)
    st = runner.status()
    seconds = st.frames / 29.97
    assert st.detect == "adaptive" and st.detect_budget == 2.0, st
    assert st.model_runs <= 2 * (seconds + 1), st           # at most 2 in any second of video
    assert st.detect_starved > 0, st                          # the traffic needed more: refused, and said so
    runner = CameraRunner(cfg, pipeline, realtime=False)
    runner.set_detect_budget(None)                            # given back: the camera's own budget of 10
    _run_to_end(runner, timeout_s=90)
    assert runner.status().detect_budget == 10.0 and runner.status().model_runs > st.model_runs
