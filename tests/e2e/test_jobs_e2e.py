"""Jobs on real worker processes (issue #13): `campool-gui job run`, and a worker SIGKILLed mid-segment.

Detection is throttled to 10 per second of video to keep them short; the result must still be
the single pass's, crossing by crossing.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from campool_gui.job_cli import run_on_local_workers
from campool_gui.pool.job_service import prepare
from campool_gui.pool.jobs import JobSpec
from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.pipeline.camera_pipeline import load_detector
from campool_worker.pipeline.segments import Segment, count_segment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
LINE = "near:0,500,1280,500"


def _single_pass(video, model):
    cfg = CameraConfig("job", str(video), lines=[CountingLine.parse(LINE)], model=str(model), detect_fps=10.0)
    res = count_segment(cfg, Segment(str(video), 0, 450, 0), load_detector(cfg.model))
    return [(0, c.frame_index, c.line, c.direction, c.class_name) for c in res.crossings]


def test_job_run_on_two_workers_prints_the_single_pass_counts(highway_video, yolox_model):
    out = subprocess.run([sys.executable, "-m", "campool_gui.app", "job", "run", str(highway_video), "--line", LINE,
                          "--model", str(yolox_model), "--detect-fps", "10", "--workers", "2", "--json"],
                         capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout)
    assert set(res) >= {"counts", "intervals", "segments", "retried", "seconds"}
    assert res["segments"] == 2 and res["retried"] == 0 and res["partial"] is False
    single = _single_pass(highway_video, yolox_model)
    assert res["counts"]["near"]["in"] == sum(1 for c in single if c[3] == "in") >= 20
    assert sum(r["count"] for r in res["intervals"]) == len(single)


def test_a_worker_killed_mid_segment_has_it_redone_elsewhere_and_the_result_is_exact(highway_video, yolox_model):
    spec, media = prepare(JobSpec(files=(str(highway_video),), lines=(CountingLine.parse(LINE),),
                                  model=str(yolox_model), detect_fps=10.0))
    run = run_on_local_workers(spec, media, workers=2, min_segments=2, kill_one=True, timeout_s=120)
    assert run.killed is not None and run.report.retried >= 1
    assert run.report.state == "done"
    assert sorted(run.crossings) == sorted(_single_pass(highway_video, yolox_model))


def test_a_worker_that_cannot_read_the_path_gets_the_bytes_and_counts_them(highway_video, yolox_model, tmp_path,
                                                                          monkeypatch, caplog):
    caplog.set_level("INFO", logger="campool_gui.pool.job_service")
    # A path relative to this folder: the worker process runs elsewhere, so it cannot read it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "survey-cam1.mp4").write_bytes(highway_video.read_bytes())
    spec, media = prepare(JobSpec(files=("survey-cam1.mp4",), lines=(CountingLine.parse(LINE),),
                                  model=str(yolox_model), detect_fps=10.0))
    run = run_on_local_workers(spec, media, workers=1, min_segments=1, timeout_s=120)
    assert "cannot read survey-cam1.mp4: sending it the file's bytes" in caplog.text
    assert "holds survey-cam1.mp4 as sha256:" in caplog.text
    assert run.report.state == "done" and run.report.retried == 0
    assert sorted(run.crossings) == sorted(_single_pass(highway_video, yolox_model))
