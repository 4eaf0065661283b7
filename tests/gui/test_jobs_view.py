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


def _survey(progress):
    from campool_gui.pool.job_service import JobView, SegmentView
    segs = tuple(SegmentView(i, "/survey/north.mp4", i * 180.0, (i + 1) * 180.0,
                             "done" if x >= 1 else "running" if x > 0 else "queued", x, "w1" if x else None, 1, "")
                 for i, x in enumerate(progress))
    return JobView("survey", "north survey", "normal", "running", sum(progress) / len(progress), 600.0,
                   ("/survey/north.mp4",), len(progress) * 5400, segs, 0, 0, 1.0, None)


def test_progress_updates_keep_the_operators_scroll_and_selection_in_a_long_job(qtbot, bridge):
    """A 40-hour survey has hundreds of segments and its progress comes every 0.5 s: each update
    changes the rows in place; only a different set of segments resets the table."""
    from campool_gui.pool.job_service import JobsChanged
    from campool_gui.ui.jobs_view import JobsView
    page = JobsView(bridge, "")
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    progress = [0.0] * 300
    page.set_jobs([_survey(progress)])
    page.seg_table.selectRow(250)
    page.seg_table.scrollTo(page.seg_model.index(250, 0))
    bar = page.seg_table.verticalScrollBar()
    at = bar.value()
    assert at > 0
    resets = []
    page.seg_model.modelReset.connect(lambda: resets.append(1))
    for k in range(5):
        progress[k] = 0.2 * (k + 1)
        bridge.jobsChanged.emit(JobsChanged((_survey(progress),)))
    qtbot.waitUntil(lambda: page.seg_model.rows[4].progress == pytest.approx(1.0), timeout=5000)
    assert resets == [] and bar.value() == at
    assert [i.row() for i in page.seg_table.selectionModel().selectedRows()] == [250]
    from campool_gui.ui.jobs_view import ProgressRole
    assert page.seg_model.data(page.seg_model.index(2, 4), ProgressRole) == pytest.approx(0.6)
    bridge.jobsChanged.emit(JobsChanged((_survey([0.0] * 10),)))   # another cut: a new table
    qtbot.waitUntil(lambda: page.seg_model.rowCount() == 10, timeout=5000)
    assert resets == [1]
