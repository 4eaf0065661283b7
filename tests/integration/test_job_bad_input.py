"""Bad job input (issue #13): one clear line on the command line and from the master, nothing queued."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from campool_gui.pool.jobs import JobError, JobSpec
from campool_gui.pool.master import Master, MasterSettings
from campool_worker.camera import CountingLine

LINE = "near:0,500,1280,500"


def job_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "campool_gui.app", "job", "run", *args, "--json"],
                          capture_output=True, text=True, timeout=60)


def assert_one_line(out: subprocess.CompletedProcess[str], text: str) -> None:
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("campool-gui: error: ") and text in lines[0], out.stderr


def test_a_detector_rate_that_is_not_one(highway_video):
    for bad in ("fast", "0", "-3", "500"):
        assert_one_line(job_run(str(highway_video), "--line", LINE, "--detect-fps", bad), "--detect-fps")


def test_a_file_that_is_not_a_video(tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("this is a shopping list, not a video\n")
    assert_one_line(job_run(str(notes), "--line", LINE), "is not a video")


def test_a_folder_without_videos_and_a_path_that_does_not_exist(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    assert_one_line(job_run(str(tmp_path), "--line", LINE), "holds no video file")
    assert_one_line(job_run(str(tmp_path / "nope"), "--line", LINE), "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: an unreadable one cannot be made")
def test_an_unreadable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert_one_line(job_run(str(locked), "--line", LINE), "cannot read the folder")
    finally:
        locked.chmod(0o755)


def test_a_line_outside_the_picture(highway_video):
    assert_one_line(job_run(str(highway_video), "--line", "far:2000,100,2500,100"), "outside the 1280x720 picture")


def test_a_job_with_no_lines_or_zones(highway_video):
    assert_one_line(job_run(str(highway_video)), "at least one counting line")


def test_the_master_refuses_bad_input_and_queues_nothing(tmp_path, highway_video):
    master = Master(MasterSettings(data_dir=tmp_path / "m", zeroconf=False))
    master.start()
    try:
        with pytest.raises(JobError, match="outside the 1280x720 picture"):
            master.submit_job(JobSpec(files=(str(highway_video),), lines=(CountingLine.parse("far:2000,1,2500,1"),)))
        with pytest.raises(JobError, match="does not exist"):
            master.submit_job(JobSpec(files=(str(tmp_path / "missing.mp4"),), lines=(CountingLine.parse(LINE),)))
        assert master.job_views() == []
    finally:
        master.stop()
