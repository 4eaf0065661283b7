"""`campool-gui bench-failover --live --json`, end to end: a real gst-rtsp-server camera looping the
shared highway video, a real master and two real worker processes, the primary SIGKILLed at the
middle of a 40 s run with no standby. Its one JSON object must add up, and must show the outage:
the crossings the stream showed while nobody watched are lost."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from campool_gui.harness.launcher import PROJECT_ROOT
from tests.helpers.data import shared_file
from tests.helpers.rtsp_server import gi_rtsp_missing

pytestmark = [pytest.mark.rtsp, pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(400)]

DURATION_S = 40
CAMERA_DOWN_S = 5
CAMERA_RUN_S = 50      # the workers reconnect with a backoff (1, 2, 4 s ...): back about 8 s after the loss
PARTITION_S = 15        # the bench's default is 30 s (figures in the issue note); shorter here for the suite's time
PARTITION_RUN_S = 46    # the partition starts at the middle and heals 8 s before the end


def run_live_bench(standby: str, *extra: str, duration_s: int = DURATION_S) -> dict[str, Any]:
    reason = gi_rtsp_missing()
    if reason:
        pytest.skip(f"no RTSP server for the live bench: {reason}")
    shared_file("videos/highway.mp4")
    shared_file("models/yolox_nano.onnx")
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "campool_gui.app", "bench-failover", "--live", "--standby", standby,
                          "--duration", str(duration_s), "--json", *extra], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=360, check=False)
    if out.returncode == 2 and "--kill partition:" in out.stdout:
        pytest.skip(out.stdout.strip())     # no network namespaces here (not root)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"--json must print one JSON object, got: {out.stdout[-2000:]}"
    summary: dict[str, Any] = json.loads(lines[0])
    summary["_wall_s"] = time.monotonic() - t0
    return summary


@pytest.fixture(scope="module")
def live_bench() -> dict[str, Any]:
    return run_live_bench("none")


@pytest.fixture(scope="module")
def live_bench_camera_down() -> dict[str, Any]:
    return run_live_bench("hot", "--kill", "camera", "--stop-s", str(CAMERA_DOWN_S), duration_s=CAMERA_RUN_S)


@pytest.fixture(scope="module")
def live_bench_partition() -> dict[str, Any]:
    return run_live_bench("hot", "--kill", "partition", "--stop-s", str(PARTITION_S), duration_s=PARTITION_RUN_S)


def test_the_live_bench_counts_add_up_and_the_kill_loses_what_nobody_watched(live_bench):
    s = live_bench
    cam = s["per_camera"]["cam1"]
    assert (s["live"], s["standby"], s["kill"]) == (True, "none", "sigkill"), s
    assert s["expected"] > 0, s
    assert s["lost"] + s["matched"] == s["expected"], s
    assert s["matched"] + s["duplicated"] == s["stored"], s
    assert abs(s["kill_at_s"] - DURATION_S / 2) < 1.0, s
    # The camera moved to the other worker and ran there within a failover's time.
    assert cam["to_worker"] is not None and 0.5 < s["first_frame_s"] < 15.0, s
    # The stream's timeline is right: loops about the file's length (15 s), stored crossings
    # within a fraction of a second of the reference ones.
    assert all(abs(p - 15.0) < 0.5 for p in cam["loop_period_s"][1:]), cam["loop_period_s"]
    assert s["residual_p95_s"] is not None and s["residual_p95_s"] < s["tolerance_s"], s
    # Without a standby nobody watched between the kill and the first frame elsewhere: what the
    # stream showed then is lost (all of it, give or take one at each edge of the outage), and
    # the rest of the run is counted but for the audit's noise and the new holder's first
    # seconds (measured: 6 of 125 lost in 90 s without a kill, up to 4 of them together near
    # the first loop start a runner sees; 2 more in the new holder's first second).
    shown, lost = cam["outage_expected"], cam["outage_lost"]
    assert shown is not None and lost is not None and lost >= shown - 2, s
    assert s["lost"] - lost <= 6 + s["expected"] // 10, s
    # No standby, so no standby cost, and a reason.
    assert s["standby_cost"] is None and s["standby_cost_reason"]


def test_the_gap_the_master_recorded_is_the_outage(live_bench):
    s = live_bench
    if s["recorded_gap_s"] is None:
        pytest.skip(f"no recorded gap to compare: {s['recorded_gap_reason']}")
    # The outage: from the kill to the new holder's first frame (the master hears a camera start
    # within about 0.1 s of it). The recorded gap is to be within 1 s of it.
    assert abs(s["recorded_gap_s"] - s["first_frame_s"]) <= 1.0, s


def test_a_camera_down_for_everyone_is_a_gap_on_every_worker_and_its_standby_does_not_take_over(
        live_bench_camera_down):
    """The camera's server is killed (a power loss) for 5 s and started again: both workers lose the
    stream, nobody can watch it, so the standby must not be promoted, and each worker's own coverage
    shows the hole; the master's recorded gap is the outage, from the loss to the stream running again."""
    s = live_bench_camera_down
    cam = s["per_camera"]["cam1"]
    assert (s["standby"], s["kill"], s["stop_s"]) == ("hot", "camera", CAMERA_DOWN_S), s
    assert s["expected"] > 0 and s["lost"] + s["matched"] == s["expected"], s
    assert s["promoted"] == 0 and cam["to_worker"] is None, s
    assert cam["standby_worker"] is not None, cam
    back = s["stream_back_s"]
    assert back is not None and CAMERA_DOWN_S <= back < CAMERA_DOWN_S + 15, s
    kill = s["kill_at_s"]
    # Each of the two workers (the primary and its standby) saw the same hole.
    holes = cam["holes_by_worker_at_s"]
    assert len(holes) == 2, holes
    for worker, spans in holes.items():
        assert any(abs(a - kill) < 1.0 and abs((b - a) - back) <= 1.0 for a, b in spans), (worker, spans, s)
    # The master recorded it as one gap: the outage within 1 s.
    assert s["recorded_gap_s"] is not None and abs(s["recorded_gap_s"] - back) <= 1.0, s
    assert s["duplicated"] == 0, s
    # Lost: what the stream showed between its return and the workers' reconnect (inside the gap),
    # and at most the audit's known miss (loop frame 219) and one more elsewhere.
    outside = [t for t in cam["lost_at_s"] if not kill - 0.5 <= t <= kill + back + 0.5]
    assert len(outside) <= 2, (outside, s)


def test_a_partitioned_primary_is_replaced_by_its_hot_standby_and_its_late_events_are_fenced(live_bench_partition):
    """The primary's worker is cut off the LAN (its namespace's link down) for 15 s: the master
    declares it dead and promotes the hot standby at once; when the link comes back the old worker's
    epoch is stale and whatever it counted meanwhile is fenced: nothing doubled, nothing lost.
    (A SIGKILLed primary goes the same way, by its heartbeats stopping: `bench-failover --live
    --standby hot` measures it, and tests/integration/test_pool_standby_live.py kills real workers
    under a hot and a warm standby; the RTSP run of it is left out here for the suite's time.)"""
    s = live_bench_partition
    cam = s["per_camera"]["cam1"]
    assert (s["standby"], s["kill"], s["stop_s"]) == ("hot", "partition", PARTITION_S), s
    assert s["expected"] > 0 and s["lost"] + s["matched"] == s["expected"], s
    assert s["promoted"] == 1 and cam["to_worker"] == cam["standby_worker"] is not None, s
    assert s["first_frame_s"] == 0.0, s
    assert s["duplicated"] == 0, s
    assert s["lost"] <= 2 and len({frame for _loop, frame in cam["lost_loop_frame"]}) <= 1, s
    if s["recorded_gap_s"] is not None:
        assert s["recorded_gap_s"] < 0.5, s
    # What the standby cost, measured.
    assert s["standby_cost"] is not None and s["standby_cost"]["cpu_percent_per_camera"] > 0, s
