"""History: counts the master stored, per minute, chart + table, CSV export."""
from __future__ import annotations

import csv
import time

from campool_gui.ui.history_view import CSV_HEADER


def test_history_shows_what_the_master_stored_and_exports_it(qtbot, window, pool, tmp_path):
    start = time.time() - 3600
    # Counts are being stored by the running synthetic cameras.
    qtbot.waitUntil(lambda: bool(pool.master.history(start, time.time() + 60, bucket="minute")), timeout=30000)
    window.show_view("history")
    view = window.pages["history"]
    view.select_range("Last hour")
    view.bucket_combo.setCurrentText("minute")
    done = view.queries_done
    view.run_query()
    qtbot.waitUntil(lambda: view.queries_done > done, timeout=10000)
    q = view.query
    # the date fields show the preset's range, not the one they were opened with
    shown_range = (view.from_edit.dateTime().toSecsSinceEpoch(), view.to_edit.dateTime().toSecsSinceEpoch())
    assert abs(shown_range[0] - q.start) < 60 and abs(shown_range[1] - q.end) < 60
    assert view.range_combo.currentText() == "Last hour"
    expected = pool.master.history(q.start, q.end, bucket="minute", by_class=True)
    # The view may have queried a moment earlier than `expected`: compare what it shows
    # with the store rows of the same buckets, which only grow.
    assert view.rows, "no history rows although the master stored counts"
    shown = sum(r.count for r in view.rows)
    assert 0 < shown <= sum(r["count"] for r in expected)
    assert view.table.rowCount() == len(view.rows)
    assert view.bars, "no bars in the chart"
    assert {r.class_name for r in view.rows} <= {r["class_name"] for r in expected}

    out = tmp_path / "counts.csv"
    view.export_csv(str(out))
    qtbot.waitUntil(lambda: "Exported" in view.status.text(), timeout=10000)
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) - 1 == len(view.rows)
    assert sum(int(r[5]) for r in rows[1:]) == shown


def test_a_range_that_ends_before_it_starts_is_explained(qtbot, window):
    view = window.pages["history"]
    view.range_combo.setCurrentText("Custom")
    view.to_edit.setDateTime(view.from_edit.dateTime().addSecs(-60))
    done = view.queries_done
    view.run_query()
    assert "ends before it starts" in view.status.text()
    assert view.queries_done == done
