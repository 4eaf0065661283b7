"""History shows what was not watched: the gaps shaded on the chart, the coverage in words and per
bucket, and the CSV's coverage column. A real master and its real SQLite store (no workers: the
spans and counts are stored as the telemetry path stores them), queried off the UI thread."""
from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from campool_gui.pool.actions import LeaseStarted
from campool_gui.pool.fencing import Verdict
from campool_gui.pool.models import Assignment
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent, CountingLine

GAP = (1500.0, 1140.0)   # seconds before now: a 6 minute stretch nobody watched


@pytest.fixture
def lone(qtbot, tmp_path):
    """A master of its own (the session pool's cameras must not get coverage data: it would alert)."""
    from campool_gui.pool.master import Master, MasterSettings
    from campool_gui.ui.bridge import PoolBridge
    master = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False))
    master.start()
    master.add_camera(CameraConfig("gate", "rtsp://10.255.0.1/stream", "Gate",
                                   lines=[CountingLine("mid", (0, 300), (640, 300))]))
    bridge = PoolBridge(master)
    qtbot.waitUntil(lambda: "gate" in bridge.state.cameras, timeout=10000)
    yield master, bridge
    bridge.close()
    master.stop()


def fill(master, now: float) -> tuple[float, float]:
    """An hour of history: watched all along but for GAP, three cars a minute while watched."""
    store = master.store
    t0 = now - 3600
    gap = (now - GAP[0], now - GAP[1])
    store.save_records([LeaseStarted(Assignment("gate", "w1", 1, since=0.0, started_wall=t0 - 60), "test")]).result()
    spans, seq, at = [], 1, t0
    for lo, hi in ((t0, gap[0]), (gap[1], now - 5)):
        at = lo
        while at < hi:
            spans.append(p.CoverageSpan("gate", 1, seq, at, min(at + 60, hi), "primary", True))
            seq, at = seq + 1, min(at + 60, hi)
    store.add_spans(spans, "w1").result()
    events, seq = [], 1
    for m in range(60):
        for k in range(3):
            ts = t0 + m * 60 + 10 + k * 15
            if gap[0] <= ts < gap[1] or ts >= now - 5:
                continue
            events.append(CountEvent("gate", 1, seq, "mid", "in", "car", seq, ts, seq))
            seq += 1
    store.add_events(events, [Verdict.ACCEPT] * len(events), "w1").result()
    return gap


def test_history_shades_the_gap_says_the_coverage_and_exports_it(qtbot, lone, tmp_path):
    from campool_gui.history_csv import CSV_HEADER
    from campool_gui.ui.history_view import HistoryView
    master, bridge = lone
    gap = fill(master, time.time())
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    view.resize(1440, 820)
    view.show()
    qtbot.waitExposed(view)
    view.camera_combo.setCurrentIndex(view.camera_combo.findData("gate"))
    view.select_range("Last hour")
    view.select_bucket("minute")
    done = view.queries_done
    view.run_query()
    qtbot.waitUntil(lambda: view.queries_done > done, timeout=10000)

    # the gap is shaded exactly where nobody watched
    regions = [r.getRegion() for r in view.gap_regions]
    assert any(a == pytest.approx(gap[0]) and b == pytest.approx(gap[1]) for a, b in regions), regions
    # coverage in words: the range (the gap and the first partial minute) and per bucket
    text = view.coverage_label.text()
    assert "% watched" in text and "1 gap nobody watched (6 min): stream down on w1" in text, text
    assert 88.0 < float(text.split(" %")[0]) < 92.0            # ~ 54 of 60 minutes
    c = view.coverage
    unwatched = [b for b in c.buckets if b.unwatched]
    assert len(unwatched) >= 5                                 # the whole minutes inside the gap
    assert not any(r.bucket_ts in {b.bucket_ts for b in unwatched} for r in view.rows)   # no zero bars
    partial = [b for b in c.buckets if b.fraction is not None and 0 < b.fraction < 0.9995]
    assert partial and len(view.bucket_labels) >= len([b for b in partial if b.bucket_ts in
                                                       {r.bucket_ts for r in view.rows}])
    watched_col = {view.table.item(i, 6).text() for i in range(view.table.rowCount())}
    assert "100.0 %" in watched_col

    shot_dir = Path(os.environ.get("CAMPOOL_SHOT_DIR", tmp_path))
    shot_dir.mkdir(parents=True, exist_ok=True)
    assert view.grab().save(str(shot_dir / "history-coverage.png"))

    out = tmp_path / "counts.csv"
    view.export_csv(str(out))
    qtbot.waitUntil(lambda: "Exported" in view.status.text(), timeout=10000)
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_HEADER and rows[0][-1] == "coverage"
    blank = [r for r in rows[1:] if r[5] == ""]
    assert len(blank) == len(unwatched) and {r[6] for r in blank} == {"0.0000"}   # not watched, not zero
    assert sum(int(r[5]) for r in rows[1:] if r[5]) == sum(r.count for r in view.rows)
    assert all(r[6] for r in rows[1:])                         # every bucket here has coverage data
