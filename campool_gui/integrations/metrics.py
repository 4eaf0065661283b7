"""The master's Prometheus endpoint: ``/metrics`` read from the `PoolMirror` (prometheus-client).

Metrics (prometheus.io naming: base units, ``_total`` counters, ``_ratio`` for 0-1, ``_info``)::

    campool_line_crossings_total{camera,line,direction,class}   counter: the stored totals
    campool_zone_occupancy{camera,zone,class}                    objects in the zone now
    campool_camera_up{camera}                                    1 while it runs
    campool_camera_fps{camera}                                   processing frames per second
    campool_camera_last_frame_timestamp_seconds{camera}          wall time the master last saw it advance
    campool_worker_up{worker}                                    1 while it heartbeats
    campool_worker_cpu_ratio{worker}, campool_worker_memory_ratio{worker}, campool_worker_gpu_ratio{worker}
    campool_worker_outbox_backlog_events{worker}                 count events waiting to reach the master
    campool_alerts_open{severity}
    campool_mqtt_connected, campool_mqtt_queued_events           when MQTT is on
    campool_build_info{version}                                  1

The counters are the master's stored totals, so they equal the history and survive a master
restart (the mirror starts from the store). Every known label set (each configured line x direction
x class the camera counts, each zone x class, each camera and adopted worker) is there from the
start, at 0. Labels only take configured names (camera, line, zone, worker ids and class names),
never a track id or anything else that grows without bound.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .mirror import DIRECTIONS, PoolMirror
from .settings import MetricsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsStatus:
    state: str          # serving | failing | stopped
    message: str
    url: str

    @property
    def problem(self) -> str:
        return self.message if self.state == "failing" else ""


class PoolCollector(Collector):
    """Builds every family from the mirror at scrape time, under the lock the mirror is changed under."""

    def __init__(self, mirror: PoolMirror, lock: threading.Lock, *, version: str,
                 mqtt: Callable[[], tuple[bool, int] | None] | None = None) -> None:
        self.mirror = mirror
        self.lock = lock
        self.version = version
        self.mqtt = mqtt

    def collect(self) -> Iterable[Metric]:
        with self.lock:
            families = self._families()
        mq = self.mqtt() if self.mqtt is not None else None
        if mq is not None:
            connected, queued = mq
            families.append(GaugeMetricFamily("campool_mqtt_connected", "1 while the master is connected to its "
                                              "MQTT broker", value=1.0 if connected else 0.0))
            families.append(GaugeMetricFamily("campool_mqtt_queued_events", "Alert events waiting for the MQTT "
                                              "broker (persisted)", value=float(queued)))
        info = GaugeMetricFamily("campool_build_info", "The CamPool control center's version", labels=["version"])
        info.add_metric([self.version], 1.0)
        families.append(info)
        return families

    def _families(self) -> list[Metric]:
        m = self.mirror
        crossings = CounterMetricFamily("campool_line_crossings", "Counting line crossings stored by the master",
                                        labels=["camera", "line", "direction", "class"])
        occupancy = GaugeMetricFamily("campool_zone_occupancy", "Objects in a zone now, as its worker last reported",
                                      labels=["camera", "zone", "class"])
        up = GaugeMetricFamily("campool_camera_up", "1 while the camera runs on a worker", labels=["camera"])
        fps = GaugeMetricFamily("campool_camera_fps", "Frames the camera's worker processes per second",
                                labels=["camera"])
        last = GaugeMetricFamily("campool_camera_last_frame_timestamp_seconds",
                                 "Wall time (Unix seconds) the master last saw the camera's frame count advance; "
                                 "0 before the first", labels=["camera"])
        for cid in sorted(m.cameras):
            cam = m.cameras[cid]
            classes = m.classes(cid)
            for line in m.lines(cid):
                for d in DIRECTIONS:
                    for k in classes:
                        crossings.add_metric([cid, line, d, k], float(m.total(cid, line, d, k)))
            occ = m.occupancy(cid)
            for zone in m.zones(cid):
                for k in classes:
                    occupancy.add_metric([cid, zone, k], float(occ.get(zone, {}).get(k, 0)))
            up.add_metric([cid], 1.0 if cam.running else 0.0)
            fps.add_metric([cid], float(cam.fps or 0.0))
            last.add_metric([cid], float(m.last_frame_wall(cid) or 0.0))
        w_up = GaugeMetricFamily("campool_worker_up", "1 while the worker heartbeats", labels=["worker"])
        cpu = GaugeMetricFamily("campool_worker_cpu_ratio", "The worker's CPU use (0-1)", labels=["worker"])
        mem = GaugeMetricFamily("campool_worker_memory_ratio", "The worker's memory use (0-1)", labels=["worker"])
        gpu = GaugeMetricFamily("campool_worker_gpu_ratio", "The worker's GPU use (0-1), for workers with a GPU",
                                labels=["worker"])
        backlog = GaugeMetricFamily("campool_worker_outbox_backlog_events",
                                    "Count events in the worker's outbox, not yet stored by the master",
                                    labels=["worker"])
        for wid in sorted(m.workers):
            w = m.workers[wid]
            metrics = w.metrics if w.online else None
            w_up.add_metric([wid], 1.0 if w.online else 0.0)
            cpu.add_metric([wid], _ratio(metrics.cpu_pct if metrics else 0.0))
            mem.add_metric([wid], _ratio(metrics.mem_pct if metrics else 0.0))
            if metrics is not None and metrics.gpu_pct is not None:
                gpu.add_metric([wid], _ratio(metrics.gpu_pct))
            backlog.add_metric([wid], float(metrics.outbox_backlog if metrics else 0))
        alerts = GaugeMetricFamily("campool_alerts_open", "Open alerts (raised or acknowledged)", labels=["severity"])
        for sev, n in m.open_by_severity().items():
            alerts.add_metric([sev], float(n))
        return [crossings, occupancy, up, fps, last, w_up, cpu, mem, gpu, backlog, alerts]


def _ratio(pct: float) -> float:
    return max(0.0, min(100.0, float(pct))) / 100.0


class MetricsEndpoint:
    """The HTTP server of ``/metrics`` (prometheus-client's, in its own thread)."""

    def __init__(self, settings: MetricsSettings, collector: PoolCollector) -> None:
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._status = MetricsStatus("stopped", "not started", settings.url)

    def start(self) -> MetricsStatus:
        s = self.settings
        try:
            self._server, self._thread = start_http_server(s.port, s.bind, self.registry)
        except OSError as exc:
            why = exc.strerror or str(exc)
            self._status = MetricsStatus("failing", f"the metrics endpoint cannot listen on {s.bind}:{s.port} "
                                         f"({why}); choose another address or port in Settings", s.url)
            log.warning("%s", self._status.message)
            return self._status
        port = int(self._server.server_address[1])
        url = MetricsSettings(s.bind, port).url
        self._status = MetricsStatus("serving", f"serving {url}", url)
        log.info("metrics: %s", self._status.message)
        return self._status

    @property
    def port(self) -> int | None:
        return int(self._server.server_address[1]) if self._server is not None else None

    def status(self) -> MetricsStatus:
        return self._status

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5.0)
        self._status = MetricsStatus("stopped", "stopped", self.settings.url)
