"""`campool-worker bench`: one JSON object with both figures (speed itself is never asserted)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "campool_worker.cli", "bench", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_bench_prints_model_and_pipeline_figures_for_several_cameras(yolox_model, highway_video):
    proc = bench("--model", str(yolox_model), "--video", str(highway_video), "--cameras", "2", "--seconds", "3",
                 "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"model_only_fps", "pipeline_fps", "ratio", "cameras", "provider", "model_runs",
                         "images_per_call"}
    assert data["model_runs"] > 0 and data["images_per_call"] == 1.0  # a CPU model: one image per call
    assert data["cameras"] == 2 and data["provider"] == "CPUExecutionProvider"
    assert data["model_only_fps"] > 0 and data["pipeline_fps"] > 0
    assert data["ratio"] == pytest.approx(data["pipeline_fps"] / data["model_only_fps"], abs=2e-3)
    # both cameras really ran the whole pipeline (progress per round on stderr)
    assert proc.stderr.count("round ") == 3


@pytest.mark.parametrize("args, needle", [
    (["--cameras", "0"], "--cameras must be between"),
    (["--seconds", "0"], "--seconds must be a positive number"),
    (["--inference-workers", "0"], "must be at least 1"),
    (["--providers", "GpuPlease"], "GpuPlease is not an ONNX Runtime execution provider"),
])
def test_bench_bad_arguments(yolox_model, highway_video, args, needle):
    proc = bench("--model", str(yolox_model), "--video", str(highway_video), *args)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert needle in proc.stderr


@pytest.mark.slow
def test_bench_runs_on_the_providers_asked_for_and_says_which_it_got(yolox_model, highway_video):
    # CUDA is not in the CPU build: the bench falls back to the CPU, says so, and reports it
    proc = bench("--model", str(yolox_model), "--video", str(highway_video), "--seconds", "1", "--json",
                 "--providers", "CUDAExecutionProvider,CPUExecutionProvider")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["provider"] == "CPUExecutionProvider"
    assert "CUDAExecutionProvider not in this onnxruntime build" in proc.stderr


def test_bench_with_a_missing_model(highway_video, tmp_path):
    proc = bench("--model", str(tmp_path / "none.onnx"), "--video", str(highway_video))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "not found" in proc.stderr
