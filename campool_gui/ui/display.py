"""How the pool's views are shown: the text and chart series a widget derives from them.

The widgets read the pool's own types (`pool.views.WorkerView`, `CameraView`, `PoolTotals`,
`pool.alerts.Alert`); what only the UI needs on top of them (a duration as "3m 12s", a
worker's CPU samples as a chart series, an alert's subject as the operator's name for it)
is a small function here, not a second type.

The texts are translated here too (Qt's QCoreApplication.translate): the pool core speaks English
and has no Qt, so its words (states, alert titles and messages) get the operator's language at this
boundary, by a catalog of the shapes it writes (`alert_text`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from campool_gui.pool.alerts import Alert
from campool_gui.pool.models import WorkerMetrics
from campool_gui.pool.views import WorkerView
from campool_gui.ui.i18n import num


def _t(context: str, text: str) -> str:
    return QCoreApplication.translate(context, text)


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
        return QCoreApplication.translate("Duration", "{d}d {h}h").format(d=d, h=h)
    if h:
        return QCoreApplication.translate("Duration", "{h}h {m}m").format(h=h, m=f"{m:02d}")
    if m:
        return QCoreApplication.translate("Duration", "{m}m {s}s").format(m=m, s=f"{s:02d}")
    return QCoreApplication.translate("Duration", "{s}s").format(s=s)


def format_pct(value: float | None) -> str:
    return "—" if value is None else f"{num(value)}%"


# ------------------------------------------------------------------ workers

def worker_status(w: WorkerView) -> str:
    """The worker's state as the pool names it ("online", "offline", "draining", ...): the key of its
    colour; `state_word` gives the operator's word for it."""
    return w.state.value


# The states of workers and cameras (pool.models.WorkerState, pool.views.CameraView.state), and of
# alerts, as the operator reads them.
STATE_WORDS = {
    "discovered": QT_TRANSLATE_NOOP("State", "discovered"),
    "adopting": QT_TRANSLATE_NOOP("State", "adopting"),
    "online": QT_TRANSLATE_NOOP("State", "online"),
    "busy": QT_TRANSLATE_NOOP("State", "busy"),
    "degraded": QT_TRANSLATE_NOOP("State", "degraded"),
    "offline": QT_TRANSLATE_NOOP("State", "offline"),
    "draining": QT_TRANSLATE_NOOP("State", "draining"),
    "unassigned": QT_TRANSLATE_NOOP("State", "unassigned"),
    "assigning": QT_TRANSLATE_NOOP("State", "assigning"),
    "starting": QT_TRANSLATE_NOOP("State", "starting"),
    "running": QT_TRANSLATE_NOOP("State", "running"),
    "reconnecting": QT_TRANSLATE_NOOP("State", "reconnecting"),
    "failed": QT_TRANSLATE_NOOP("State", "failed"),
    "retrying": QT_TRANSLATE_NOOP("State", "retrying"),
    "dead_letter": QT_TRANSLATE_NOOP("State", "failed everywhere"),
    "waiting": QT_TRANSLATE_NOOP("State", "waiting"),
    "stopped": QT_TRANSLATE_NOOP("State", "stopped"),
    "raised": QT_TRANSLATE_NOOP("State", "open"),
    "acknowledged": QT_TRANSLATE_NOOP("State", "acknowledged"),
    "resolved": QT_TRANSLATE_NOOP("State", "resolved"),
    "info": QT_TRANSLATE_NOOP("State", "info"),
    "warning": QT_TRANSLATE_NOOP("State", "warning"),
    "error": QT_TRANSLATE_NOOP("State", "error"),
    "critical": QT_TRANSLATE_NOOP("State", "critical"),
    "hot": QT_TRANSLATE_NOOP("State", "hot"),
    "warm": QT_TRANSLATE_NOOP("State", "warm"),
    "none": QT_TRANSLATE_NOOP("State", "none"),
    "ready": QT_TRANSLATE_NOOP("State", "ready"),
    "connected": QT_TRANSLATE_NOOP("State", "connected"),
    "connecting": QT_TRANSLATE_NOOP("State", "connecting"),
    "serving": QT_TRANSLATE_NOOP("State", "serving"),
    "failing": QT_TRANSLATE_NOOP("State", "failing"),
}


def state_word(state: str) -> str:
    """A state (of a worker, camera, alert, standby; a severity) in the operator's language."""
    text = STATE_WORDS.get(state)
    return _t("State", text) if text else state.replace("_", " ")


def storage_summary(w: WorkerView) -> tuple[str, str]:
    """(state, short line) of the worker's storage: "ok" / "low" / "failing" ("" while unknown),
    and what the operator reads first; the worker's own message says the rest."""
    st = w.storage
    if st is None:
        return "", "—"
    if st.state == "failing":
        return "failing", QCoreApplication.translate(
            "Storage", "failing: {n} count(s) held in memory, not yet stored").format(n=num(st.buffered))
    if st.state == "low":
        return "low", QCoreApplication.translate("Storage", "low: {mb} MB free").format(mb=num(st.free_mb, 1))
    return "ok", QCoreApplication.translate("Storage", "ok · {mb} MB free").format(mb=num(st.free_mb, 1))


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
    return state_word(state)


# The shapes of the messages the pool core writes (pool/conditions.py, pool/core.py), each with its
# translation: the named groups are put back as they are (names, numbers, the worker's own words).
# A message of another shape (a worker's own notice) is shown as it came.
_ALERT_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"^worker (?P<name>.+) is not reachable$", QT_TRANSLATE_NOOP("AlertMessage", "worker {name} is not reachable")),
    (r"^worker (?P<name>.+) is down \(no heartbeat for (?P<s>[\d.]+) s\)$",
     QT_TRANSLATE_NOOP("AlertMessage", "worker {name} is down (no heartbeat for {s} s)")),
    (r"^worker (?P<name>.+): CPU (?P<v>\d+) %$", QT_TRANSLATE_NOOP("AlertMessage", "worker {name}: CPU {v} %")),
    (r"^worker (?P<name>.+): memory (?P<v>\d+) %$", QT_TRANSLATE_NOOP("AlertMessage", "worker {name}: memory {v} %")),
    (r"^worker (?P<name>.+): GPU at (?P<v>\S+) °C$", QT_TRANSLATE_NOOP("AlertMessage", "worker {name}: GPU at {v} °C")),
    (r"^worker (?P<name>.+): disk (?P<v>\S+) % full$",
     QT_TRANSLATE_NOOP("AlertMessage", "worker {name}: disk {v} % full")),
    (r"^worker (?P<name>.+): (?P<n>\d+) count events waiting to reach the master$",
     QT_TRANSLATE_NOOP("AlertMessage", "worker {name}: {n} count events waiting to reach the master")),
    (r"^camera (?P<name>.+): stream lost \((?P<why>.*)\)$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name}: stream lost ({why})")),
    (r"^camera (?P<name>.+): camera failed \((?P<why>.*)\)$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name}: camera failed ({why})")),
    (r"^camera (?P<name>.+): (?P<fps>[\d.]+) fps, target (?P<target>\S+)$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name}: {fps} fps, target {target}")),
    (r"^camera (?P<name>.+) failed on every worker: (?P<why>.*)$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name} failed on every worker: {why}")),
    (r"^camera (?P<name>.+): zone (?P<zone>.+) holds (?P<n>\S+) \(limit (?P<limit>\S+)\)$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name}: zone {zone} holds {n} (limit {limit})")),
    (r"^camera (?P<name>.+): line (?P<line>.+) counted (?P<n>\d+) in the last minute \(limit (?P<limit>\S+)\)$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name}: line {line} counted {n} in the last minute (limit {limit})")),
    (r"^camera (?P<name>.+): watched (?P<pct>[\d.]+) % of the last hour \(alert below (?P<low>\d+) %\); "
     r"see the gaps in History$",
     QT_TRANSLATE_NOOP("AlertMessage", "camera {name}: watched {pct} % of the last hour (alert below {low} %); "
                                       "see the gaps in History")),
    (r"^worker (?P<name>.+) was adopted by another master (?P<who>.+) \(key (?P<key>\S+)\); if that is not yours, "
     r"run `(?P<cmd>[^`]+)` on the worker$",
     QT_TRANSLATE_NOOP("AlertMessage", "worker {name} was adopted by another master {who} (key {key}); if that is "
                                       "not yours, run `{cmd}` on the worker")),
    (r"^worker (?P<name>[^:]+): (?P<what>.*)$", QT_TRANSLATE_NOOP("AlertMessage", "worker {name}: {what}")),
    # the integrations' status lines (campool_gui.integrations)
    (r"^serving (?P<url>\S+)$", QT_TRANSLATE_NOOP("AlertMessage", "serving {url}")),
    (r"^connecting to (?P<address>\S+)$", QT_TRANSLATE_NOOP("AlertMessage", "connecting to {address}")),
    (r"^connected to (?P<address>\S+), publishing under (?P<prefix>\S+)$",
     QT_TRANSLATE_NOOP("AlertMessage", "connected to {address}, publishing under {prefix}")),
    (r"^stopped$", QT_TRANSLATE_NOOP("AlertMessage", "stopped")),
))

ALERT_TITLES = {  # pool.alerts.default_rules(): kind -> title
    "worker_down": QT_TRANSLATE_NOOP("AlertKind", "worker down"),
    "stream_lost": QT_TRANSLATE_NOOP("AlertKind", "camera stream lost"),
    "fps_low": QT_TRANSLATE_NOOP("AlertKind", "camera fps below target"),
    "cpu_high": QT_TRANSLATE_NOOP("AlertKind", "high CPU"),
    "mem_high": QT_TRANSLATE_NOOP("AlertKind", "high memory"),
    "gpu_temp_high": QT_TRANSLATE_NOOP("AlertKind", "high GPU temperature"),
    "outbox_backlog": QT_TRANSLATE_NOOP("AlertKind", "outbox backlog growing"),
    "disk_full": QT_TRANSLATE_NOOP("AlertKind", "disk almost full"),
    "zone_occupancy": QT_TRANSLATE_NOOP("AlertKind", "zone occupancy above limit"),
    "line_rate": QT_TRANSLATE_NOOP("AlertKind", "line rate above limit (per minute)"),
    "dead_letter": QT_TRANSLATE_NOOP("AlertKind", "camera failed on every worker"),
    "key_conflict": QT_TRANSLATE_NOOP("AlertKind", "worker key mismatch"),
    "protocol_mismatch": QT_TRANSLATE_NOOP("AlertKind", "master and worker protocol versions differ"),
    "other_master": QT_TRANSLATE_NOOP("AlertKind", "worker adopted by another master"),
    "history_damaged": QT_TRANSLATE_NOOP("AlertKind", "history database damaged"),
    "storage_failing": QT_TRANSLATE_NOOP("AlertKind", "worker storage failing"),
    "storage_low": QT_TRANSLATE_NOOP("AlertKind", "worker storage running out"),
    "outbox_damaged": QT_TRANSLATE_NOOP("AlertKind", "worker outbox damaged"),
    "integration_down": QT_TRANSLATE_NOOP("AlertKind", "integration not working"),
    "coverage_low": QT_TRANSLATE_NOOP("AlertKind", "camera not watched enough"),
}


def alert_title(kind: str, fallback: str = "") -> str:
    """An alert rule's title in the operator's language."""
    text = ALERT_TITLES.get(kind)
    return _t("AlertKind", text) if text else (fallback or kind.replace("_", " "))


def translate_message(message: str) -> str:
    """A message of the pool core in the operator's language (the shapes above); others as they are."""
    for pattern, template in _ALERT_SHAPES:
        m = pattern.match(message)
        if m:
            return _t("AlertMessage", template).format(**m.groupdict())
    return message


def alert_text(a: Alert) -> str:
    """The alert's message, with how often it repeated while open."""
    return translate_message(a.message) + (f"  (×{a.count})" if a.count > 1 else "")


def alert_source(a: Alert, names: Mapping[str, str]) -> str:
    """What the alert is about, by the operator's names: subjects are ids ("gate-2",
    "gate-2/queue", a worker id); `names` maps an id to "camera Gate 2" / "worker edge-1"."""
    head, _, rest = str(a.subject).partition("/")
    return names.get(head, head) + (f" / {rest}" if rest else "")


# ------------------------------------------------------------------ placement policies

POLICY_WORDS = {  # pool.scheduler's policies: name -> (the operator's name, what it does)
    "hybrid": (QT_TRANSLATE_NOOP("Policy", "hybrid"),
               QT_TRANSLATE_NOOP("Policy", "priority, then GPU capability, then load, then site")),
    "least_loaded": (QT_TRANSLATE_NOOP("Policy", "least loaded"),
                     QT_TRANSLATE_NOOP("Policy", "the worker with the lowest load")),
    "round_robin": (QT_TRANSLATE_NOOP("Policy", "round robin"), QT_TRANSLATE_NOOP("Policy", "workers in turn")),
    "capability": (QT_TRANSLATE_NOOP("Policy", "capability"),
                   QT_TRANSLATE_NOOP("Policy", "the best GPU gets the AI work")),
    "priority": (QT_TRANSLATE_NOOP("Policy", "priority"),
                 QT_TRANSLATE_NOOP("Policy", "critical cameras first, onto the strongest workers")),
    "site": (QT_TRANSLATE_NOOP("Policy", "site"),
             QT_TRANSLATE_NOOP("Policy", "keep cameras on workers of their own site")),
}


def policy_word(name: str) -> str:
    """A placement policy's name in the operator's language."""
    words = POLICY_WORDS.get(name)
    return _t("Policy", words[0]) if words else name.replace("_", " ")


def policy_help(name: str) -> str:
    """What a placement policy does, in the operator's language ("" for one we do not know)."""
    words = POLICY_WORDS.get(name)
    return _t("Policy", words[1]) if words else ""


PRIORITY_WORDS = {
    "critical": QT_TRANSLATE_NOOP("Priority", "critical"),
    "high": QT_TRANSLATE_NOOP("Priority", "high"),
    "normal": QT_TRANSLATE_NOOP("Priority", "normal"),
    "low": QT_TRANSLATE_NOOP("Priority", "low"),
}


def priority_word(priority: str) -> str:
    """A camera's priority in the operator's language."""
    text = PRIORITY_WORDS.get(priority)
    return _t("Priority", text) if text else priority
