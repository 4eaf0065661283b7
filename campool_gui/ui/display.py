"""How the pool's views are shown: the text and chart series a widget derives from them.

The widgets read the pool's own types (`pool.views.WorkerView`, `CameraView`, `PoolTotals`,
`pool.alerts.Alert`); what only the UI needs on top of them (a duration as "3m 12s", a
worker's CPU samples as a chart series, an alert's subject as the operator's name for it)
is a small function here, not a second type. No Qt.
"""
from __future__ import annotations

from collections.abc import Mapping

from campool_gui.pool.alerts import Alert
from campool_gui.pool.models import WorkerMetrics
from campool_gui.pool.views import WorkerView

METRICS = ("cpu", "mem", "gpu", "fps")
HISTORY_POINTS = 120  # samples shown per metric in the charts (2 minutes of 1 Hz heartbeats)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def format_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


# ------------------------------------------------------------------ workers

def worker_status(w: WorkerView) -> str:
    """The worker's state in the operator's words ("online", "offline", "draining", ...)."""
    return w.state.value


def storage_summary(w: WorkerView) -> tuple[str, str]:
    """(state, short line) of the worker's storage: "ok" / "low" / "failing" ("" while unknown),
    and what the operator reads first; the worker's own message says the rest."""
    st = w.storage
    if st is None:
        return "", "—"
    if st.state == "failing":
        return "failing", f"failing: {st.buffered:,} count(s) held in memory, not yet stored"
    if st.state == "low":
        return "low", f"low: {st.free_mb:,.1f} MB free"
    return "ok", f"ok · {st.free_mb:,.1f} MB free"


def worker_key(w: WorkerView) -> str:
    """The worker's pinned public key as the operator compares it on adoption (the whole key
    when known, else its fingerprint)."""
    return w.public_key or w.key_fingerprint


def _metric(m: WorkerMetrics, metric: str) -> float | None:
    if metric == "cpu":
        return m.cpu_pct
    if metric == "mem":
        return m.mem_pct
    if metric == "gpu":
        return m.gpu_pct
    if metric == "fps":
        return m.fps_total
    raise ValueError(f"unknown worker metric {metric!r}; one of {', '.join(METRICS)}")


def worker_metric(w: WorkerView, metric: str) -> float | None:
    """The worker's latest sample of `metric` (cpu, mem, gpu in percent; fps), None when not known."""
    return None if w.metrics is None else _metric(w.metrics, metric)


def metric_series(w: WorkerView, metric: str, points: int = HISTORY_POINTS) -> tuple[list[float], list[float]]:
    """(wall times, values) of `metric` over the worker's last `points` heartbeats, oldest first;
    heartbeats without the value (no GPU) are left out."""
    xs: list[float] = []
    ys: list[float] = []
    for m in w.history[-points:]:
        v = _metric(m, metric)
        if v is not None:
            xs.append(m.ts)
            ys.append(float(v))
    return xs, ys


# ------------------------------------------------------------------ alerts

def alert_state_label(state: str) -> str:
    """An alert's state as the operator reads it: a raised alert is "open"."""
    return "open" if state == "raised" else state


def alert_text(a: Alert) -> str:
    """The alert's message, with how often it repeated while open."""
    return a.message + (f"  (×{a.count})" if a.count > 1 else "")


def alert_source(a: Alert, names: Mapping[str, str]) -> str:
    """What the alert is about, by the operator's names: subjects are ids ("gate-2",
    "gate-2/queue", a worker id); `names` maps an id to "camera Gate 2" / "worker edge-1"."""
    head, _, rest = str(a.subject).partition("/")
    return names.get(head, head) + (f" / {rest}" if rest else "")
