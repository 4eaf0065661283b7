"""The Jobs view: the Add Job dialog refuses bad input in place, a queued job appears with its segments."""
from __future__ import annotations

import pytest


@pytest.fixture
def jobs_page(qtbot, window):
    window.show_view("jobs")
    return window.pages["jobs"]


def test_bad_input_is_shown_in_the_dialog_and_nothing_is_queued(qtbot, jobs_page, pool, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    dlg = jobs_page.open_add_dialog()
    dlg.files.addItem(str(notes))
    dlg.buttons.accepted.emit()
    assert "at least one counting line" in dlg.error.text()  # checked in the dialog, before the master
    dlg.lines.setPlainText("near:0,500,1280,500")
    dlg.buttons.accepted.emit()
    qtbot.waitUntil(lambda: "is not a video" in dlg.error.text(), timeout=10000)
    assert dlg.isVisible() and pool.master.job_views() == []
    dlg.reject()


def test_a_queued_job_shows_in_the_queue_with_its_segments_and_can_be_cancelled(qtbot, jobs_page, pool,
                                                                                highway_video):
    dlg = jobs_page.open_add_dialog()
    dlg.files.addItem(str(highway_video))
    dlg.lines.setPlainText("near:0,500,1280,500")
    dlg.priority.setCurrentText("low")
    dlg.buttons.accepted.emit()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=10000)
    qtbot.waitUntil(lambda: jobs_page.model.rowCount() == 1 and jobs_page.seg_model.rowCount() >= 1, timeout=10000)
    [job] = jobs_page.model.rows
    assert job.priority == "low" and job.files == (str(highway_video),)
    jobs_page.table.selectRow(0)
    jobs_page.cancel_btn.click()
    qtbot.waitUntil(lambda: jobs_page.jobs[job.job_id].state in ("cancelled", "done"), timeout=10000)
