"""`campool-worker bench --capacity --json`: its shape on a tiny run (20 frames), not its timing."""
from __future__ import annotations

import json
import subprocess
import sys


def test_bench_capacity_prints_cameras_for_adaptive_and_full_rate(highway_video, yolox_model):
    proc = subprocess.run([sys.executable, "-m", "campool_worker.cli", "bench", "--capacity", "--model",
                           str(yolox_model), "--video", str(highway_video), "--line", "near:0,500,1280,500",
                           "--max-frames", "20", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["modes"]) == {"adaptive", "every"}
    assert out["cores"] >= 1 and isinstance(out["same_counts"], bool) and "method" in out
    every, adaptive = out["modes"]["every"], out["modes"]["adaptive"]
    assert every["frames"] == adaptive["frames"] == 20
    assert every["model_runs"] == 20 and 1 <= adaptive["model_runs"] <= 20
    assert abs(every["video_seconds"] - 20 / 29.97) < 0.01
    for m in (every, adaptive):
        assert m["cpu_s"] > 0 and isinstance(m["cameras"], int) and "near" in m["counts"]
