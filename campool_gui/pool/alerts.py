"""Alert rules and the alert lifecycle: raised -> acknowledged -> resolved.

The pool core reports conditions (`observe(kind, subject, active, value)`) on every tick;
a rule turns a condition that holds for `for_s` seconds into a raised alert and resolves
it after the condition stayed clear for `clear_for_s`. One alert per (kind, subject) at a
time: repeats while it is open are folded into it (count, last_seen, value). Thresholds
live in the rules (defaults below, overridable per subject, e.g. a zone's occupancy limit).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from .clock import Clock

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(frozen=True)
class AlertRule:
    kind: str
    title: str
    enabled: bool = True
    threshold: float | None = None       # None: rule needs a threshold to be active
    for_s: float = 0.0                   # condition must hold this long before raising
    clear_for_s: float = 5.0             # and stay clear this long before resolving
    severity: str = "warning"
    overrides: dict[str, float] = field(default_factory=dict)   # subject -> threshold

    def threshold_for(self, subject: str) -> float | None:
        return self.overrides.get(subject, self.threshold)


def default_rules() -> dict[str, AlertRule]:
    rules = [
        AlertRule("worker_down", "worker down", for_s=0.0, severity="critical"),
        AlertRule("stream_lost", "camera stream lost", for_s=10.0, severity="error"),
        # threshold: fraction of the camera's target fps
        AlertRule("fps_low", "camera fps below target", threshold=0.8, for_s=30.0, clear_for_s=15.0),
        AlertRule("cpu_high", "high CPU", threshold=90.0, for_s=60.0, clear_for_s=30.0),
        AlertRule("mem_high", "high memory", threshold=90.0, for_s=60.0, clear_for_s=30.0),
        AlertRule("gpu_temp_high", "high GPU temperature", threshold=85.0, for_s=30.0, clear_for_s=30.0,
                  severity="error"),
        # threshold: events waiting in the worker's outbox, and growing for for_s
        AlertRule("outbox_backlog", "outbox backlog growing", threshold=500.0, for_s=60.0, clear_for_s=30.0),
        AlertRule("disk_full", "disk almost full", threshold=90.0, for_s=0.0, clear_for_s=60.0, severity="error"),
        # count rules: off until the operator sets a threshold
        AlertRule("zone_occupancy", "zone occupancy above limit", threshold=None, for_s=5.0, clear_for_s=10.0),
        AlertRule("line_rate", "line rate above limit (per minute)", threshold=None, for_s=0.0, clear_for_s=60.0),
        AlertRule("dead_letter", "camera failed on every worker", for_s=0.0, severity="error"),
        AlertRule("key_conflict", "worker key mismatch", for_s=0.0, severity="critical"),
        # the worker and this master speak different protocol versions (one was upgraded): the message
        # names the end to upgrade
        AlertRule("protocol_mismatch", "master and worker protocol versions differ", for_s=0.0, severity="error"),
        # a master key this master did not know of appeared on a worker it manages
        AlertRule("other_master", "worker adopted by another master", for_s=0.0, severity="warning"),
        AlertRule("history_damaged", "history database damaged", for_s=0.0, severity="error"),
        # the worker's own StorageStatus (every heartbeat): commits fail and counts wait in its
        # memory (error), or its free space runs out soon at its outbox's growth (warning)
        AlertRule("storage_failing", "worker storage failing", for_s=0.0, clear_for_s=10.0, severity="error"),
        AlertRule("storage_low", "worker storage running out", for_s=0.0, clear_for_s=60.0),
        # told by the worker (an AlertEvent at its start): its outbox was damaged and kept aside
        AlertRule("outbox_damaged", "worker outbox damaged", for_s=0.0, severity="error"),
        # an integration (subject "mqtt", "metrics") reports a problem: counting and storing go on
        AlertRule("integration_down", "integration not working", for_s=10.0, clear_for_s=5.0),
        # threshold: the fraction of the last hour a camera was watched (its coverage spans; cameras
        # without span data are never judged). Judged about once a minute (coverage_watch.py).
        AlertRule("coverage_low", "camera not watched enough", threshold=0.95, for_s=60.0, clear_for_s=60.0),
        # a camera's adaptive detection needed more detector runs than its budget allowed (the worker
        # refused them: detect_starved grows); held a while so one busy second is not an alert
        AlertRule("detect_starved", "camera detection below its need", for_s=10.0, clear_for_s=30.0),
    ]
    return {r.kind: r for r in rules}


@dataclass
class Alert:
    id: int
    kind: str
    subject: str            # worker id, camera id or "camera/zone", "camera/line"
    severity: str
    message: str
    state: str = "raised"   # raised | acknowledged | resolved
    raised_at: float = 0.0  # wall-clock times
    last_seen: float = 0.0
    count: int = 1
    value: float | None = None
    acked_at: float | None = None
    resolved_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)

    @property
    def open(self) -> bool:
        return self.state != "resolved"


@dataclass
class _Cond:
    active_since: float | None = None
    clear_since: float | None = None
    snooze_until: float = 0.0


# After the operator resolves an alert whose condition still holds, it is raised again
# only after this long (told again, not spammed).
RESOLVE_SNOOZE_S = 60.0


class AlertManager:
    """Owns the rules and every alert; `changed` collects alerts to store and publish."""

    def __init__(self, clock: Clock, rules: dict[str, AlertRule] | None = None, next_id: int = 1) -> None:
        self.clock = clock
        self.rules = rules or default_rules()
        self.alerts: dict[int, Alert] = {}
        self._open: dict[tuple[str, str], int] = {}
        self._cond: dict[tuple[str, str], _Cond] = {}
        self._next_id = next_id
        self.changed: list[Alert] = []

    def load(self, alerts: list[Alert]) -> None:
        """Restore stored alerts (open ones keep folding repeats after a restart)."""
        for a in alerts:
            self.alerts[a.id] = a
            if a.open:
                self._open[a.key] = a.id
            self._next_id = max(self._next_id, a.id + 1)

    def set_rule(self, rule: AlertRule) -> None:
        if rule.severity not in SEVERITIES:
            raise ValueError(f"alert severity {rule.severity!r} is not one of {', '.join(SEVERITIES)}")
        if rule.kind not in self.rules:
            raise ValueError(f"unknown alert kind {rule.kind!r}; known: {', '.join(self.rules)}")
        self.rules[rule.kind] = rule

    def threshold(self, kind: str, subject: str) -> float | None:
        rule = self.rules.get(kind)
        if rule is None or not rule.enabled:
            return None
        return rule.threshold_for(subject)

    def observe(self, kind: str, subject: str, active: bool, *, value: float | None = None,
                message: str = "") -> None:
        rule = self.rules.get(kind)
        if rule is None or not rule.enabled:
            active = False
        now = self.clock.now()
        key = (kind, subject)
        cond = self._cond.setdefault(key, _Cond())
        if active and rule is not None:   # (a missing or disabled rule made it inactive above)
            cond.clear_since = None
            if cond.active_since is None:
                cond.active_since = now
            if now - cond.active_since >= rule.for_s and now >= cond.snooze_until:
                self._raise(rule, subject, value, message)
            return
        cond.active_since = None
        aid = self._open.get(key)
        if aid is None:
            if cond.clear_since is None and now >= cond.snooze_until:
                del self._cond[key]
            return
        if cond.clear_since is None:
            cond.clear_since = now
        clear_for = rule.clear_for_s if rule is not None else 0.0
        if now - cond.clear_since >= clear_for:
            self._resolve(aid, auto=True)
            self._cond.pop(key, None)

    def _raise(self, rule: AlertRule, subject: str, value: float | None, message: str) -> None:
        key = (rule.kind, subject)
        wall = self.clock.wall()
        aid = self._open.get(key)
        text = message or f"{rule.title}: {subject}"
        if aid is not None:
            a = self.alerts[aid]
            if a.last_seen != wall or a.value != value or a.message != text:
                a.last_seen, a.value, a.message = wall, value, text
            return  # folded: still the same open alert (no event for every tick)
        a = Alert(self._next_id, rule.kind, subject, rule.severity, text, raised_at=wall, last_seen=wall,
                  value=value)
        self._next_id += 1
        self.alerts[a.id] = a
        self._open[key] = a.id
        self.changed.append(a)
        log.warning("alert %d raised: %s", a.id, text)

    def repeat(self, kind: str, subject: str, message: str = "") -> None:
        """A discrete occurrence (e.g. a worker fell again): fold into the open alert or raise."""
        rule = self.rules.get(kind)
        if rule is None or not rule.enabled:
            return
        aid = self._open.get((kind, subject))
        if aid is None:
            self._raise(rule, subject, None, message)
            return
        a = self.alerts[aid]
        a.count += 1
        a.last_seen = self.clock.wall()
        if message:
            a.message = message
        self.changed.append(a)

    def _resolve(self, aid: int, *, auto: bool) -> Alert | None:
        a = self.alerts.get(aid)
        if a is None or not a.open:
            return None
        a.state, a.resolved_at = "resolved", self.clock.wall()
        self._open.pop(a.key, None)
        self.changed.append(a)
        log.info("alert %d resolved%s: %s", a.id, " (condition cleared)" if auto else " by the operator", a.message)
        return a

    def ack(self, alert_id: int) -> Alert | None:
        a = self.alerts.get(alert_id)
        if a is None or a.state != "raised":
            return None
        a.state, a.acked_at = "acknowledged", self.clock.wall()
        self.changed.append(a)
        return a

    def resolve(self, alert_id: int) -> Alert | None:
        """Operator resolve. If the condition still holds, it is raised again after
        RESOLVE_SNOOZE_S (the operator is told again, not spammed)."""
        a = self._resolve(alert_id, auto=False)
        if a is not None:
            cond = self._cond.setdefault(a.key, _Cond())
            cond.snooze_until = self.clock.now() + RESOLVE_SNOOZE_S
        return a

    def forget_subject(self, subject: str) -> None:
        """The worker or camera is gone: resolve its open alerts (and its zones' and lines')."""
        for key, aid in list(self._open.items()):
            if key[1] == subject or key[1].startswith(subject + "/"):
                self._resolve(aid, auto=True)
        for key in [k for k in self._cond if k[1] == subject or k[1].startswith(subject + "/")]:
            del self._cond[key]

    def open_alerts(self) -> list[Alert]:
        return [self.alerts[i] for i in sorted(self._open.values())]

    def take_changed(self) -> list[Alert]:
        out, self.changed = self.changed, []
        # one entry per alert, latest state, as copies the pool thread no longer mutates
        seen: dict[int, Alert] = {}
        for a in out:
            seen[a.id] = replace(a)
        return list(seen.values())
