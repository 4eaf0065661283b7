"""The demo pool starts the worker code of this installation, not whatever is on PATH.

The demo's workers come from the one local worker launcher (campool_gui.harness.launcher),
so its `worker_command` is what the demo runs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from campool_gui import demo
from campool_gui.harness import launcher


def test_demo_workers_run_this_interpreter_even_with_another_campool_worker_on_path(tmp_path, monkeypatch):
    stranger = tmp_path / "campool-worker"
    stranger.write_text("#!/bin/sh\necho another install\n")
    stranger.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    cmd = launcher.worker_command()
    assert cmd[0] == sys.executable
    spawned = demo.DemoWorkers(tmp_path / "demo", count=1, zeroconf=False).workers[0].command()
    assert spawned[:len(cmd) + 1] == [*cmd, "serve"]
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "serve" in out.stdout


def test_a_bundle_starts_the_worker_beside_the_gui(tmp_path, monkeypatch):
    gui = tmp_path / "campool-gui"
    gui.write_bytes(b"")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(gui))
    with pytest.raises(RuntimeError, match="no campool-worker beside campool-gui"):
        launcher.worker_command()
    (tmp_path / "campool-worker").write_bytes(b"")
    assert launcher.worker_command() == [str(tmp_path / "campool-worker")]
