"""`campool-gui bench-store`: generated history, then chart-query timings (prints JSON).

It fills a fresh history database with N cameras x D days of count events through the
real schema (the same INSERT OR IGNORE and rollup trigger the master uses), then times
the chart queries the history view runs, each repeated and reported as median / p95 ms,
with SQLite's query plan so the index use is visible.

    python -m campool_gui.harness.bench_store --cameras 50 --days 30 --json
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from campool_gui.pool.store import Store

LINES = ("north", "south")
CLASSES = ("car", "truck", "bus")


def _inserter(rows: list[tuple[Any, ...]]) -> Callable[[sqlite3.Connection], object]:
    """One camera-day of count events, inserted the way the master stores them."""
    def insert(conn: sqlite3.Connection) -> object:
        return conn.executemany("INSERT OR IGNORE INTO count_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return insert


def _generate(store: Store, cameras: int, days: int, per_hour: int, end: float, seed: int) -> int:
    """Poisson-ish traffic with a daily shape, written one camera-day per transaction."""
    rng = random.Random(seed)
    start = end - days * 86400
    total = 0
    futures: list[concurrent.futures.Future[Any]] = []
    for c in range(cameras):
        cid = f"cam{c + 1:03d}"
        seq = 0
        for d in range(days):
            rows: list[tuple[Any, ...]] = []
            day0 = start + d * 86400
            for h in range(24):
                shape = 0.3 + 1.4 * max(0.0, 1 - abs(h - 13) / 9)      # busier around midday
                n = max(0, int(rng.gauss(per_hour * shape, per_hour * 0.1)))
                for _ in range(n):
                    seq += 1
                    ts = day0 + h * 3600 + rng.random() * 3600
                    rows.append((cid, 1, seq, rng.choice(LINES), rng.choice(("in", "out")), rng.choice(CLASSES),
                                 seq, ts, seq, "bench", 0, ts))
            total += len(rows)
            futures.append(store.submit(_inserter(rows)))
        if len(futures) > 200:
            for f in futures:
                f.result(600)
            futures = []
    for f in futures:
        f.result(600)
    return total


def _time(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()                                   # first run: page cache and statement cache
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 3),
            "max_ms": round(samples[-1], 3)}


def run_store_bench(cameras: int = 50, days: int = 30, per_hour: int = 60, runs: int = 20,
                    db: str | None = None, seed: int = 1) -> dict[str, Any]:
    tmp = None
    if db is None:
        tmp = Path(tempfile.mkdtemp(prefix="campool-bench-store-"))
        path = tmp / "history.db"
    else:
        path = Path(db)
    store = Store(path, batch_max=50)
    try:
        end = float(int(time.time() // 3600) * 3600)
        t = time.perf_counter()
        events = _generate(store, cameras, days, per_hour, end, seed)
        store.flush(600)
        gen_s = time.perf_counter() - t
        start = end - days * 86400
    except Exception:
        store.close()
        raise
    try:
        store.submit(lambda c: c.execute("ANALYZE")).result(600)
        one = "cam001"
        queries = {
            "camera_30d_hourly_by_class": lambda: store.counts_series(start, end, "hour", one),
            "camera_30d_hourly": lambda: store.counts_series(start, end, "hour", one, by_class=False),
            "camera_30d_daily": lambda: store.counts_series(start, end, "day", one, by_class=False),
            "camera_30d_hourly_one_line": lambda: store.counts_series(start, end, "hour", one, line="north"),
            "camera_1d_minutely": lambda: store.counts_series(end - 86400, end, "minute", one),
            "all_cameras_30d_daily": lambda: store.counts_series(start, end, "day", None, by_class=False),
        }
        timings = {name: _time(q, runs) for name, q in queries.items()}
        rows = {name: len(q()) for name, q in queries.items()}
        plan = [r[3] for r in store.submit(lambda c: c.execute(
            "EXPLAIN QUERY PLAN SELECT hour, line, direction, class_name, SUM(n) FROM counts_hour "
            "WHERE camera_id = ? AND hour >= ? AND hour < ? GROUP BY 1, 2, 3, 4",
            (one, int(start // 3600), int(end // 3600))).fetchall()).result(60)]
        t = time.perf_counter()
        import io
        buf = io.StringIO()
        csv_rows = store.export_csv(buf, start, end, "hour", one)
        csv_ms = (time.perf_counter() - t) * 1000
        size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
        counts = store.submit(lambda c: {t: c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                         for t in ("count_events", "counts_minute", "counts_hour")}).result(60)
    finally:
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"cameras": cameras, "days": days, "events": events, "events_per_camera_hour": per_hour,
            "generate_s": round(gen_s, 1), "insert_events_per_s": round(events / gen_s), "db_mb": round(size_mb, 1),
            "rows": counts, "queries": timings, "result_rows": rows, "plan_camera_hourly": plan,
            "csv_export_camera_30d_hourly": {"rows": csv_rows, "ms": round(csv_ms, 1)}}


def bench_store(args: Any) -> int:
    """The CLI entry: reads cameras, days, per_hour, runs, db, json from args."""
    result = run_store_bench(cameras=args.cameras, days=args.days, per_hour=args.per_hour, runs=args.runs, db=args.db)
    if getattr(args, "json", False):
        print(json.dumps(result, sort_keys=True))
    else:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m campool_gui.harness.bench_store",
                                description="history store benchmark: generated history, chart-query timings")
    p.add_argument("--cameras", type=int, default=50)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--per-hour", type=int, default=60, help="mean count events per camera per hour")
    p.add_argument("--runs", type=int, default=20, help="repetitions per query")
    p.add_argument("--db", help="keep the generated database at this path")
    p.add_argument("--json", action="store_true", help="one line of JSON")
    return bench_store(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
