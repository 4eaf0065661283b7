"""A damaged history database: one clear line, the file kept aside, a fresh history, the master's
identity kept, and an alert. Real SQLite files, a real Master, and the real headless command."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from campool_gui.pool.master import Master, MasterSettings
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.data import PROJECT_ROOT


def _master(data_dir: Path) -> Master:
    return Master(MasterSettings(data_dir=data_dir, zeroconf=False))


def _make_history(data_dir: Path) -> str:
    m = _master(data_dir)
    m.start()
    for i in range(40):   # enough rows that the tables span many pages
        m.add_camera(CameraConfig(f"cam{i}", f"/videos/v{i}.mp4", name="x" * 200,
                                  lines=[CountingLine.parse("near:0,500,1280,500")]))
    mid = m.master_id
    m.stop()
    return mid


def _junk(db: Path) -> None:
    db.write_bytes(b"this is not a database\n" * 100)


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3 - 7])


def _pages_damaged(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for off in range(page, len(data), 7):   # every page but the header page
        data[off] = 0xA5
    db.write_bytes(bytes(data))


def _emptied(db: Path) -> None:
    db.write_bytes(b"")


@pytest.mark.parametrize("damage", [_junk, _truncated, _pages_damaged, _emptied],
                         ids=["junk", "truncated", "pages", "zero-length"])
def test_a_damaged_history_is_kept_aside_and_the_master_starts_fresh_as_itself(tmp_path, damage, caplog):
    data_dir = tmp_path / "master"
    mid = _make_history(data_dir)
    db = data_dir / "history.db"
    for side in ("history.db-wal", "history.db-shm"):
        (data_dir / side).unlink(missing_ok=True)
    damage(db)
    damaged_bytes = db.read_bytes()
    caplog.set_level(logging.INFO)
    m = _master(data_dir)
    m.start()
    try:
        kept = [p for p in data_dir.iterdir() if p.name.startswith("history.db.damaged-") and
                not p.name.endswith(("-wal", "-shm"))]
        assert len(kept) == 1 and kept[0].read_bytes() == damaged_bytes   # kept, never overwritten
        lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(lines) == 1 and "damaged" in lines[0].getMessage() and kept[0].name in lines[0].getMessage()
        assert not any(r.exc_info for r in caplog.records)                  # no traceback
        assert m.master_id == mid                                           # no silent identity change
        snap = m.snapshot()
        assert snap.cameras == ()                                           # a fresh history
        assert [a.kind for a in snap.alerts] == ["history_damaged"]
        m.add_camera(CameraConfig("again", "/videos/again.mp4"))            # and it works
    finally:
        m.stop()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_data_folder_is_private_and_so_are_the_history_files(tmp_path):
    data_dir = tmp_path / "master"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    _make_history(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for f in data_dir.glob("history.db*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name


def test_the_headless_master_says_it_in_one_line_not_a_traceback(tmp_path):
    data_dir = tmp_path / "master"
    data_dir.mkdir()
    _junk(data_dir / "history.db")
    out = subprocess.run([sys.executable, "-m", "campool_gui.app", "--headless", "--no-zeroconf", "--data-dir",
                          str(data_dir), "--run-seconds", "1"], capture_output=True, text=True, timeout=60,
                         cwd=PROJECT_ROOT)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "is damaged" in errors[0]   # the alert it raises is logged too, as an alert
