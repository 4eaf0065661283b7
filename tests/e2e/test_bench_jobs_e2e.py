"""`campool-gui bench-jobs --json`, end to end on one copy of the highway video (a short job, cut in
two): the pool's joined counts equal the single pass's with a worker SIGKILLed mid-segment, and the
one JSON object carries the figures the issue names. Its speed is the benchmark's business (the
README has the figures), not this test's."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from campool_gui.harness.launcher import PROJECT_ROOT
from tests.helpers.data import shared_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_bench_jobs_with_a_kill_prints_identical_counts_and_its_figures():
    shared_file("videos/highway.mp4")
    shared_file("models/yolox_nano.onnx")
    out = subprocess.run([sys.executable, "-m", "campool_gui.app", "bench-jobs", "--workers", "2",
                          "--threads-per-worker", "1", "--copies", "1", "--kill-one", "--json"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stdout[-2000:]
    r = json.loads(lines[0])
    assert r["identical"] is True and r["pool_counts"] == r["single_counts"], r
    assert r["single_counts"]["near"]["in"] >= 20, r   # the clip's 24 vehicles, counted at 10 detections a second
    assert r["killed"] is not None and r["retried"] >= 1 and r["segments"] >= 2, r
    assert r["pool_seconds"] > 0 and r["single_seconds"] > 0
    assert r["speedup"] == pytest.approx(r["single_seconds"] / r["pool_seconds"], abs=0.01), r
    assert len(r["runs_s"]["pool"]) == len(r["runs_s"]["single"]) == 1, r
