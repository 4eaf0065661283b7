"""The `campool-gui` command: argument parsing, --screenshot with a real demo pool, bench-ui."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from campool_gui.app import build_parser
from campool_gui.ui.main_window import VIEWS

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "campool_gui.app", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_modes_parse_and_conflicting_modes_are_refused(capsys):
    p = build_parser()
    assert p.parse_args(["--demo"]).demo
    assert p.parse_args(["--screenshot", "out"]).screenshot == "out"
    args = p.parse_args(["bench-ui", "--json", "--workers", "4"])
    assert (args.command, args.json, args.workers, args.cameras) == ("bench-ui", True, 4, 8)
    with pytest.raises(SystemExit):
        p.parse_args(["--demo", "--headless"])
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.slow
def test_screenshot_renders_every_view_of_a_demo_pool(tmp_path):
    out = tmp_path / "shots"
    r = _run(["--screenshot", str(out)], timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    for key, _title in VIEWS:
        img = QImage(str(out / f"{key}.png"))
        assert not img.isNull(), f"{key}.png missing or unreadable"
        assert (img.width(), img.height()) == (1440, 900)
    assert [Path(line).name for line in r.stdout.split()] == [f"{k}.png" for k, _ in VIEWS]


@pytest.mark.slow
def test_bench_ui_prints_its_figures_as_json():
    r = _run(["bench-ui", "--json", "--workers", "8", "--cameras", "4", "--previews", "4", "--seconds", "3"],
             timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["workers"] == 8 and res["cameras"] == 32 and res["cameras_running"] == 32
    assert res["stall_ms"]["n"] > 0 and res["stall_ms"]["p50"] <= res["stall_ms"]["p99"] <= res["stall_ms"]["max"]
    assert res["preview_frames_per_s"] > 0 and res["decoded_per_s"] > 0


def test_headless_runs_without_importing_qt(tmp_path):
    code = ("import sys; from campool_gui.app import main; "
            f"rc = main(['--headless', '--no-zeroconf', '--data-dir', {str(tmp_path)!r}, '--run-seconds', '1']); "
            "assert 'PySide6' not in sys.modules, 'headless imported Qt'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
