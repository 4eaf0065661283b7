"""A history query as the History view asks it, and the master's stored counts as its rows, with
the coverage of the same buckets (how much of each was watched, and the gaps nobody watched).

`query_history` reads SQLite through the master: the bridge runs it off the UI thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from campool_gui.pool.coverage import Coverage, pool_coverage


@dataclass
class HistoryQuery:
    """Counts per bucket over [start, end) (wall-clock seconds)."""

    start: float
    end: float
    bucket: str = "hour"  # minute | hour | day
    camera_id: str | None = None  # None = all cameras
    line: str | None = None  # a line or zone name; None = all
    by_class: bool = True
    zone: bool = False  # `line` names a zone: peak occupancy per minute instead of crossings


@dataclass
class HistoryRow:
    bucket_ts: float
    camera_id: str
    line: str
    direction: str  # in | out | occupancy
    class_name: str
    count: int


@dataclass
class HistoryResult:
    """What a query found: the count rows and the coverage of their buckets (None: the master keeps
    none, e.g. an older one)."""

    rows: list[HistoryRow] = field(default_factory=list)
    coverage: Coverage | None = None               # of what is shown: the camera, or all cameras together
    per_camera: dict[str, Coverage] = field(default_factory=dict)
    gap_reasons: list[str] = field(default_factory=list)   # one camera: why each gap was not watched


def query_history(master: Any, q: HistoryQuery) -> HistoryResult:
    """Counts per bucket and their coverage. Reads SQLite: call it off the UI thread."""
    rows = query_counts(master, q)
    per = master.coverage_by_camera(q.start, q.end, bucket=q.bucket,
                                    camera_ids=None if q.camera_id is None else [q.camera_id])
    shown = per[q.camera_id] if q.camera_id is not None else pool_coverage(list(per.values()))
    reasons = master.gap_reasons(q.camera_id, shown.gaps) if q.camera_id is not None else []
    return HistoryResult(rows, shown, per, reasons)


def query_counts(master: Any, q: HistoryQuery) -> list[HistoryRow]:
    """Counts per bucket from the master's store (line crossings), or peak occupancy per minute
    for a zone of one camera. Reads SQLite: call it off the UI thread."""
    if q.zone:
        if not q.camera_id:
            raise ValueError("zone occupancy is kept per camera; choose the camera of that zone")
        rows = [r for r in master.zone_history(q.camera_id, q.start, q.end) if q.line in (None, r.get("line"))]
    else:
        rows = master.history(q.start, q.end, bucket=q.bucket, camera_id=q.camera_id, line=q.line,
                              by_class=q.by_class)
    return [HistoryRow(bucket_ts=float(r["bucket_ts"]), camera_id=str(r["camera_id"]), line=str(r["line"]),
                       direction=str(r["direction"]), class_name=str(r.get("class_name") or "all"),
                       count=int(r["count"])) for r in rows]
