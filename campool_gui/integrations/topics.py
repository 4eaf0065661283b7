"""The MQTT topic layout and its payloads (pure: from a `PoolMirror` to topic -> payload).

Under the prefix (default ``campool/<site>``), retained unless said otherwise::

    available                                          online | offline (the Last Will says offline)
    camera/<camera>/state                              running | starting | reconnecting | failed | waiting | ...
    camera/<camera>/info                               JSON: name, worker, state, reason, fps, latency_ms, epoch,
                                                       last_frame_ts
    camera/<camera>/line/<line>/<in|out>/total         running total, all classes (the stored total)
    camera/<camera>/line/<line>/<in|out>/today         since local midnight (back to 0 at midnight)
    camera/<camera>/line/<line>/<in|out>/rate          crossings in the last minute
    camera/<camera>/line/<line>/<in|out>/class/<class>/total | today | rate
    camera/<camera>/zone/<zone>/occupancy              objects in the zone now, all classes
    camera/<camera>/zone/<zone>/class/<class>/occupancy
    worker/<worker>/state                              online | busy | degraded | draining | offline
    worker/<worker>/metrics                            JSON: cpu, memory, gpu (ratios 0-1), gpu_temp_c, fps,
                                                       outbox_backlog, cameras
    alerts/open                                        open alerts
    alert                                              NOT retained, QoS 1, one JSON per change: event
                                                       (raised | acknowledged | resolved), id, kind, subject,
                                                       severity, message, raised_at, acked_at, resolved_at, count

Camera, line, zone, class and worker names are used as they are when they hold only letters,
digits, '_', '-', '.' and '~'; any other character is percent-encoded (UTF-8), so a space is
``%20`` and no name can add a level or a wildcard to a topic (``traffic light`` ->
``traffic%20light``). Counts are plain decimal integers.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from campool_gui.pool.alerts import Alert

from .mirror import DIRECTIONS, AlertTransition, PoolMirror


def segment(name: str) -> str:
    """One topic level for a name: itself when it is safe, else percent-encoded."""
    return quote(name, safe="")


def default_prefix(site: str) -> str:
    return f"campool/{segment(site or 'site')}"


class Topics:
    """Every topic name under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    @property
    def available(self) -> str:
        return f"{self.prefix}/available"

    @property
    def alert(self) -> str:
        return f"{self.prefix}/alert"

    @property
    def alerts_open(self) -> str:
        return f"{self.prefix}/alerts/open"

    def camera(self, camera_id: str) -> str:
        return f"{self.prefix}/camera/{segment(camera_id)}"

    def camera_state(self, camera_id: str) -> str:
        return f"{self.camera(camera_id)}/state"

    def camera_info(self, camera_id: str) -> str:
        return f"{self.camera(camera_id)}/info"

    def line(self, camera_id: str, line: str, direction: str, what: str, class_name: str | None = None) -> str:
        """what: total | today | rate; class_name None: all classes."""
        base = f"{self.camera(camera_id)}/line/{segment(line)}/{direction}"
        return f"{base}/{what}" if class_name is None else f"{base}/class/{segment(class_name)}/{what}"

    def zone(self, camera_id: str, zone: str, class_name: str | None = None) -> str:
        base = f"{self.camera(camera_id)}/zone/{segment(zone)}"
        return f"{base}/occupancy" if class_name is None else f"{base}/class/{segment(class_name)}/occupancy"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}/worker/{segment(worker_id)}"

    def worker_state(self, worker_id: str) -> str:
        return f"{self.worker(worker_id)}/state"

    def worker_metrics(self, worker_id: str) -> str:
        return f"{self.worker(worker_id)}/metrics"


def _json(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def _ratio(pct: float | None) -> float | None:
    return None if pct is None else round(max(0.0, min(100.0, pct)) / 100.0, 4)


def state_messages(mirror: PoolMirror, topics: Topics, now: float) -> dict[str, str]:
    """Every retained state topic with its payload now (availability is the publisher's own)."""
    out: dict[str, str] = {}
    for cid, cam in sorted(mirror.cameras.items()):
        out[topics.camera_state(cid)] = cam.state
        last = mirror.last_frame_wall(cid)
        out[topics.camera_info(cid)] = _json({
            "name": cam.name, "worker": cam.worker_id, "state": cam.state, "reason": cam.error,
            "fps": round(cam.fps, 2) if cam.fps is not None else None,
            "latency_ms": round(cam.latency_ms, 1) if cam.latency_ms is not None else None,
            "epoch": cam.epoch, "last_frame_ts": round(last, 3) if last is not None else None})
        classes = mirror.classes(cid)
        for line in mirror.lines(cid):
            for d in DIRECTIONS:
                out[topics.line(cid, line, d, "total")] = str(mirror.total(cid, line, d))
                out[topics.line(cid, line, d, "today")] = str(mirror.today_count(cid, line, d))
                out[topics.line(cid, line, d, "rate")] = str(mirror.rate(cid, line, d, None, now))
                for k in classes:
                    out[topics.line(cid, line, d, "total", k)] = str(mirror.total(cid, line, d, k))
                    out[topics.line(cid, line, d, "today", k)] = str(mirror.today_count(cid, line, d, k))
                    out[topics.line(cid, line, d, "rate", k)] = str(mirror.rate(cid, line, d, k, now))
        occupancy = mirror.occupancy(cid)
        for zone in mirror.zones(cid):
            out[topics.zone(cid, zone)] = str(mirror.zone_total(cid, zone))
            for k in classes:
                out[topics.zone(cid, zone, k)] = str(occupancy.get(zone, {}).get(k, 0))
    for wid, w in sorted(mirror.workers.items()):
        out[topics.worker_state(wid)] = w.state.value
        m = w.metrics if w.online else None
        out[topics.worker_metrics(wid)] = _json({
            "name": w.name, "cpu": _ratio(m.cpu_pct) if m else None, "memory": _ratio(m.mem_pct) if m else None,
            "gpu": _ratio(m.gpu_pct) if m else None, "gpu_temp_c": m.gpu_temp_c if m else None,
            "fps": round(m.fps_total, 2) if m else None, "outbox_backlog": m.outbox_backlog if m else None,
            "cameras": len(w.cameras)})
    out[topics.alerts_open] = str(len(mirror.open_alerts))
    return out


def alert_payload(t: AlertTransition) -> str:
    a: Alert = t.alert
    return _json({"event": t.event, "id": a.id, "kind": a.kind, "subject": a.subject, "severity": a.severity,
                  "message": a.message, "state": a.state, "raised_at": a.raised_at, "last_seen": a.last_seen,
                  "acked_at": a.acked_at, "resolved_at": a.resolved_at, "count": a.count, "value": a.value})
