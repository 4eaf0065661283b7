"""The History view's CSV export: the rows it shows, one line each, with local ISO times.

This is the view's own shape (a line or a zone per row, whatever the query asked for), not
`Master.export_csv`, which re-reads line counts from the store in another layout. Called on
a worker thread (the UI thread never writes files). No Qt here.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campool_gui.ui.history_query import HistoryRow

CSV_HEADER = ("bucket_start", "camera_id", "line_or_zone", "direction", "class", "count")


def write_csv(path: str | Path, rows: Sequence[HistoryRow]) -> int:
    """Write rows as CSV (ISO local times); returns how many data rows were written."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for r in rows:
            w.writerow((time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.bucket_ts)), r.camera_id, r.line,
                        r.direction, r.class_name, r.count))
    return len(rows)
