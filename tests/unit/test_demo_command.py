"""The demo pool starts the worker code of this installation, not whatever is on PATH."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from campool_gui import demo


def test_demo_workers_run_this_interpreter_even_with_another_campool_worker_on_path(tmp_path, monkeypatch):
    stranger = tmp_path / "campool-worker"
    stranger.write_text("#!/bin/sh\necho another install\n")
    stranger.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    cmd = demo.worker_command()
    assert cmd[0] == sys.executable
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "serve" in out.stdout


def test_a_bundle_starts_the_worker_beside_the_gui(tmp_path, monkeypatch):
    gui = tmp_path / "campool-gui"
    gui.write_bytes(b"")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(gui))
    with pytest.raises(RuntimeError, match="no campool-worker beside campool-gui"):
        demo.worker_command()
    (tmp_path / "campool-worker").write_bytes(b"")
    assert demo.worker_command() == [str(tmp_path / "campool-worker")]
