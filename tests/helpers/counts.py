"""Totals as the history holds them and as MQTT carries them, in one shape for comparing:
{(camera, line, direction, class): n}, class "*" for the all-classes totals."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from tests.helpers.servers import MqttRecorder

Totals = dict[tuple[str, str, str, str], int]


def stored_totals(db: Path, *, since: float | None = None) -> Totals:
    """The history's totals (read-only, beside a running master), per class and all classes;
    since: only events of that time or later (today's totals)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        if since is None:
            rows = conn.execute("SELECT camera_id, line, direction, class_name, SUM(n) FROM counts_hour "
                                "GROUP BY camera_id, line, direction, class_name").fetchall()
        else:
            rows = conn.execute("SELECT camera_id, line, direction, class_name, SUM(n) FROM counts_minute "
                                "WHERE minute >= ? GROUP BY camera_id, line, direction, class_name",
                                (int(since // 60),)).fetchall()
    finally:
        conn.close()
    out: Totals = {}
    for cam, line, d, k, n in rows:
        out[(cam, line, d, k)] = int(n)
        out[(cam, line, d, "*")] = out.get((cam, line, d, "*"), 0) + int(n)
    return out


def published_totals(rec: MqttRecorder, prefix: str, what: str = "total") -> Totals:
    """What the broker holds under ``prefix``: every .../line/<line>/<dir>/[class/<class>/]<what>."""
    out: Totals = {}
    base = prefix.rstrip("/") + "/camera/"
    for topic, value in rec.matching(base).items():
        parts = topic[len(base):].split("/")
        if len(parts) == 5 and parts[1] == "line" and parts[4] == what:
            out[(unquote(parts[0]), unquote(parts[2]), parts[3], "*")] = int(value)
        elif len(parts) == 7 and parts[1] == "line" and parts[4] == "class" and parts[6] == what:
            out[(unquote(parts[0]), unquote(parts[2]), parts[3], unquote(parts[5]))] = int(value)
    return out


def nonzero(t: Totals) -> Totals:
    return {k: v for k, v in t.items() if v}


def wait_equal(published: Callable[[], Totals], stored: Callable[[], Totals], timeout: float,
               what: str) -> tuple[Totals, Totals]:
    """Poll until published() == stored() (both non-empty); returns the last pair either way,
    failing with both when they never met."""
    deadline = time.monotonic() + timeout
    while True:
        pub, st = nonzero(published()), nonzero(stored())
        if pub and pub == st:
            return pub, st
        if time.monotonic() > deadline:
            diff = {k: (pub.get(k), st.get(k)) for k in set(pub) | set(st) if pub.get(k) != st.get(k)}
            raise AssertionError(f"{what}: published and stored totals differ after {timeout:.0f} s "
                                 f"(published, stored): {dict(sorted(diff.items()))}")
        time.sleep(0.2)
