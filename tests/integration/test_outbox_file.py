"""Opening the worker's outbox (campool_worker/outbox_file.py) on real damaged files: kept aside,
never overwritten, one ERROR line, a fresh outbox, and the worker's id unchanged; the id file's
own damage; a worker made before the id file existed. (The worker process on such files:
tests/e2e/test_worker_outbox_damage.py.)"""
from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from campool_worker.camera import CameraConfig
from campool_worker.identity import IDENTITY_FILE, IdentityError
from campool_worker.outbox import FrameCrossings, Outbox, StoredAssignment
from campool_worker.outbox_file import OUTBOX_FILE, open_outbox
from campool_worker.pipeline.camera_pipeline import Crossing
from tests.helpers.damage import emptied, junk, pages_damaged, truncated


def _worker_folder(data_dir) -> str:
    """A worker's data folder as a run leaves it: an outbox with counts and an assignment, and its id."""
    opened = open_outbox(data_dir)
    box = opened.outbox
    for start in range(0, 3000, 100):   # enough rows that the tables span many pages
        box.commit([FrameCrossings("gate", 3, [Crossing("L", "in", "car", f, f, 1000.0 + f)])
                    for f in range(start, start + 100)])
    box.save_assignment(StoredAssignment(CameraConfig("gate", "rtsp://10.0.0.5/s", name="x" * 300), 3, None, None))
    box.close()
    for side in ("-wal", "-shm"):
        (data_dir / (OUTBOX_FILE + side)).unlink(missing_ok=True)
    return opened.worker_id


@pytest.mark.parametrize("damage", [junk, truncated, pages_damaged, emptied],
                         ids=["junk", "truncated", "pages", "zero-length"])
def test_a_damaged_outbox_is_kept_aside_and_a_fresh_one_starts_under_the_same_id(tmp_path, damage, caplog):
    wid = _worker_folder(tmp_path)
    db = tmp_path / OUTBOX_FILE
    damage(db)
    damaged_bytes = db.read_bytes()
    caplog.set_level(logging.INFO)
    opened = open_outbox(tmp_path)
    try:
        kept = [p for p in tmp_path.iterdir() if p.name.startswith(OUTBOX_FILE + ".damaged-")]
        assert len(kept) == 1 and kept[0].read_bytes() == damaged_bytes    # kept, never overwritten
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and errors[0].getMessage() == opened.damaged
        assert "is damaged" in opened.damaged and kept[0].name in opened.damaged
        assert "assignments are gone" in opened.damaged and f"stays worker {wid}" in opened.damaged
        assert not any(r.exc_info for r in caplog.records)                   # no traceback
        assert opened.worker_id == wid                                       # no silent identity change
        assert opened.outbox.counts() == (0, None) and opened.outbox.assignments() == []
        assert opened.outbox.commit([FrameCrossings("gate", 3, [Crossing("L", "in", "car", 1, 1, 1.0)])])[0].seq == 1
    finally:
        opened.outbox.close()
    again = open_outbox(tmp_path)                                            # and the next start is quiet
    assert again.damaged is None and again.worker_id == wid and again.outbox.counts()[0] == 1
    again.outbox.close()


def test_a_missing_outbox_where_one_was_made_is_told_not_taken_for_a_first_start(tmp_path, caplog):
    wid = _worker_folder(tmp_path)
    (tmp_path / OUTBOX_FILE).unlink()
    caplog.set_level(logging.INFO)
    opened = open_outbox(tmp_path)
    assert opened.worker_id == wid and "is missing" in opened.damaged and "assignments are gone" in opened.damaged
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == [logging.ERROR]
    opened.outbox.close()


def test_the_id_file_is_private_and_a_first_start_says_nothing_of_damage(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    opened = open_outbox(tmp_path)
    opened.outbox.close()
    assert opened.damaged is None and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    data = json.loads((tmp_path / IDENTITY_FILE).read_text())
    assert data["worker_id"] == opened.worker_id and data["outbox_made"] > 0
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / IDENTITY_FILE).stat().st_mode) == 0o600


def test_a_worker_made_before_the_id_file_keeps_the_id_its_outbox_holds(tmp_path):
    box = Outbox(tmp_path / OUTBOX_FILE)       # an older campool-worker: the id only in the outbox
    box.set_meta("worker_id", "0123456789ab")
    box.close()
    opened = open_outbox(tmp_path)
    opened.outbox.close()
    assert opened.worker_id == "0123456789ab" and opened.damaged is None
    assert json.loads((tmp_path / IDENTITY_FILE).read_text())["worker_id"] == "0123456789ab"


def test_an_older_workers_damaged_outbox_says_that_its_id_is_lost(tmp_path):
    junk(tmp_path / OUTBOX_FILE)               # no id file, and the outbox is junk: the id cannot be known
    opened = open_outbox(tmp_path)
    opened.outbox.close()
    assert "its id is lost" in opened.damaged and opened.worker_id in opened.damaged


def test_a_damaged_id_file_is_written_again_from_the_outbox_and_kept_aside(tmp_path, caplog):
    wid = _worker_folder(tmp_path)
    (tmp_path / IDENTITY_FILE).write_text("{garbage")
    caplog.set_level(logging.INFO)
    opened = open_outbox(tmp_path)
    opened.outbox.close()
    assert opened.worker_id == wid and opened.damaged is None
    assert json.loads((tmp_path / IDENTITY_FILE).read_text())["worker_id"] == wid
    assert [p.read_text() for p in tmp_path.glob(IDENTITY_FILE + ".damaged-*")] == ["{garbage"]
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == [logging.WARNING]


def test_a_damaged_id_file_and_a_damaged_outbox_stop_the_worker_with_one_line_and_touch_nothing(tmp_path):
    _worker_folder(tmp_path)
    (tmp_path / IDENTITY_FILE).write_text("{garbage")
    junk(tmp_path / OUTBOX_FILE)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(IdentityError) as err:
        open_outbox(tmp_path)
    assert "id is unknown" in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
