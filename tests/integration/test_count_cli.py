"""`campool-worker count` as a user runs it: a real process, real files, real exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from campool_worker.pipeline.synthetic import SyntheticParams, SyntheticScene
from tests.helpers.tiny_onnx import constant_model


def count(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "campool_worker.cli", "count", *args],
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1, proc.stderr
    for n in needles:
        assert n in errors[0], errors[0]
    assert proc.stdout == ""
    return errors[0]


def test_missing_video(tmp_path):
    assert_one_line_error(count(str(tmp_path / "nope.mp4"), "--json"), "not found")


@pytest.mark.parametrize("name, content", [
    ("notes.mp4", b"hello\n" * 100),  # FFmpeg's mp4 demuxer says "moov atom not found" on its own
    ("readme.mkv", b"# CamPool\n" * 10),  # and the matroska one "EBML header parsing failed"
    ("hostname", b"edge-3\n"),
])
def test_a_file_that_is_not_a_video_is_exactly_one_line_on_stderr(tmp_path, name, content):
    bad = tmp_path / name
    bad.write_bytes(content)
    proc = count(str(bad), "--json")
    line = assert_one_line_error(proc, name, "is not a video")
    assert proc.stderr.splitlines() == [line], "no raw FFmpeg line beside ours"


def test_a_cut_off_recording_is_one_line_that_says_what_ffmpeg_found(highway_video, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(Path(highway_video).read_bytes()[:200_000])  # the index (moov) was never written
    proc = count(str(cut), "--json")
    line = assert_one_line_error(proc, "cut.mp4", "(FFmpeg: ")
    assert proc.stderr.splitlines() == [line]


def test_unreachable_stream_url():
    proc = count("rtsp://127.0.0.1:9/cam", "--json", timeout=60)
    assert_one_line_error(proc, "127.0.0.1")


def test_a_model_that_is_not_onnx(highway_video, tmp_path):
    junk = tmp_path / "detector.onnx"
    junk.write_bytes(b"\x00\x01not a protobuf" * 50)
    assert_one_line_error(count(str(highway_video), "--model", str(junk), "--json"), "not an ONNX model")


def test_a_model_with_an_unknown_output_layout(highway_video, tmp_path):
    odd = constant_model(tmp_path / "odd.onnx", np.zeros((1, 6, 6), np.float32))
    assert_one_line_error(count(str(highway_video), "--model", str(odd), "--json"), "not a layout CamPool knows")


def test_a_line_outside_the_frame(highway_video):
    assert_one_line_error(count(str(highway_video), "--line", "far:2000,100,2500,100", "--json"),
                          "'far'", "outside the 1280x720 frame")


@pytest.mark.parametrize("spec, needle", [
    ("near0,500,1280,500", "expected NAME:x1,y1,x2,y2"),
    ("near:0,500,1280", "expected 4 coordinates"),
    ("near:0,500,abc,500", "must be numbers"),
    ("near:5,5,5,5", "two end points are the same"),
])
def test_malformed_lines(highway_video, spec, needle):
    assert_one_line_error(count(str(highway_video), "--line", spec, "--json"), needle)


def test_unknown_class_name(highway_video, yolox_model):
    assert_one_line_error(count(str(highway_video), "--model", str(yolox_model), "--classes", "cars", "--json"),
                          "'cars' is not one of the model's classes")


def test_json_output_annotated_video_and_events(highway_video, yolox_model, tmp_path):
    out_mp4 = tmp_path / "annotated.mp4"
    events = tmp_path / "events.jsonl"
    proc = count(str(highway_video), "--model", str(yolox_model), "--line", "near:0,500,1280,500",
                 "--zone", "road:300,400,900,400,1000,720,200,720", "--classes", "car,truck,bus,motorcycle",
                 "--max-frames", "60", "--annotate", str(out_mp4), "--events", str(events), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # stdout is the JSON object and nothing else
    assert set(data) == {"frames", "seconds", "fps", "provider", "lines", "zones", "detect", "model_runs",
                         "video_seconds", "run_reasons", "starved"}
    assert data["frames"] == 60 and data["provider"] == "CPUExecutionProvider"
    assert data["detect"] == "adaptive" and 0 < data["model_runs"] < 60 and data["starved"] == 0
    assert data["video_seconds"] == pytest.approx(60 / 29.97, abs=0.01)
    assert sum(data["run_reasons"].values()) == data["model_runs"]
    assert data["fps"] == pytest.approx(60 / data["seconds"], rel=0.02)
    near = data["lines"]["near"]
    assert set(near) == {"in", "out", "by_class"}
    # by eye: the red car crosses at ~frame 27, the grey pickup at ~36, the dark car at ~51
    assert near["in"] == 3 and near["out"] == 0 and near["by_class"] == {"car": {"in": 3, "out": 0}}
    assert data["zones"]["road"]["peak"] >= 1
    lines = [json.loads(ln) for ln in events.read_text().splitlines()]
    assert [e["direction"] for e in lines] == ["in", "in", "in"]
    assert all(e["line"] == "near" and e["class_name"] == "car" for e in lines)
    assert "frame 60/60" in proc.stderr  # progress went to stderr
    cap = cv2.VideoCapture(str(out_mp4))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 60 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 1280


def test_motion_counting_without_a_model_matches_the_synthetic_truth():
    url = "synthetic://?w=640&h=360&fps=15&objects=4&seed=1&frames=300"
    truth = SyntheticScene(SyntheticParams.parse(url)).crossings(180, 300)
    proc = count(url, "--line", "mid:0,180,640,180", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["provider"] == "motion"
    mid = data["lines"]["mid"]
    assert (mid["in"], mid["out"]) == (sum(d > 0 for _, _, d in truth), sum(d < 0 for _, _, d in truth))
    assert set(mid["by_class"]) == {"motion"}


def test_human_readable_output_without_json(tmp_path):
    proc = count("synthetic://?w=320&h=180&fps=15&objects=2&seed=3&frames=60", "--line", "a:0,90,320,90")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("line a: in ")
    assert "60 frames in" in proc.stdout and "on motion" in proc.stdout


def test_annotate_into_a_missing_folder_is_a_clear_error(tmp_path):
    proc = count("synthetic://?w=320&h=180&frames=10", "--annotate", str(tmp_path / "no" / "out.mp4"))
    assert_one_line_error(proc, "does not exist")
    assert not Path(tmp_path / "no").exists()
