"""The History view's CSV export: the rows it shows, one line each, with local ISO times.

This is the view's own shape (a line or a zone per row, whatever the query asked for), not
`Master.export_csv`, which re-reads line counts from the store in another layout. Called on
a worker thread (the UI thread never writes files). No Qt here.

``coverage`` is the fraction of the row's bucket its camera was watched (0 to 1, four decimals),
empty where it is unknown (history older than the coverage data). A bucket of a camera that
nobody watched and that has no counts gets a row of its own with an empty count: not watched
is not zero.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campool_gui.pool.coverage import Coverage
    from campool_gui.ui.history_query import HistoryRow

CSV_HEADER = ("bucket_start", "camera_id", "line_or_zone", "direction", "class", "count", "coverage")


def coverage_cell(coverage: Coverage | None, bucket_ts: float) -> str:
    b = coverage.of(bucket_ts) if coverage is not None else None
    f = b.fraction if b is not None else None
    return "" if f is None else f"{f:.4f}"


def write_csv(path: str | Path, rows: Sequence[HistoryRow], coverage: Mapping[str, Coverage] | None = None,
              line: str | None = None) -> int:
    """Write rows as CSV (ISO local times), with each bucket's coverage of its camera; returns how many
    data rows were written (the unwatched buckets' rows included). ``line``: the query's line or zone,
    named in the rows of unwatched buckets."""
    coverage = coverage or {}
    out: list[tuple[float, str, str, str, str, str, str]] = [
        (r.bucket_ts, r.camera_id, r.line, r.direction, r.class_name, str(r.count),
         coverage_cell(coverage.get(r.camera_id), r.bucket_ts)) for r in rows]
    counted = {(r.bucket_ts, r.camera_id) for r in rows}
    for cid, c in coverage.items():
        out += [(b.bucket_ts, cid, line or "", "", "", "", "0.0000") for b in c.buckets
                if b.unwatched and (b.bucket_ts, cid) not in counted]
    out.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for ts, *rest in out:
            w.writerow((time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)), *rest))
    return len(out)
