"""Home Assistant MQTT discovery, device-based: one retained config per device (pure functions).

``<discovery prefix>/device/<device id>/config`` carries ``dev`` (the device), ``o`` (the origin:
CamPool), the shared availability (``<prefix>/available``) and ``cmps``, its entities. Devices:

* the master (the control center of one site): the number of open alerts;
* one per camera, linked to the master by ``via_device``: a "running" binary sensor, its fps, and
  per counting line and direction the total (``state_class: total_increasing``), today's total
  (``total_increasing``: Home Assistant reads the drop at midnight as a reset) and the rate per
  minute (``measurement``), the same per class for totals and today; per zone the occupancy, all
  classes and per class (``measurement``);
* one per worker, via the master: online (binary sensor, connectivity), CPU, memory, GPU (%),
  outbox backlog and fps.

Why device-based rather than one config topic per entity: a camera with two lines and four
classes has some forty entities; one message per device sets them up (and updates them) together,
states the device and availability once, and removing a line is one update of its camera's config
(the removed components sent once with only their platform, then the config without them), not a
hunt for forty retained topics. A deleted camera or worker gets an empty retained config, which
removes the device and its entities. Ids only use ``[a-zA-Z0-9_-]`` as Home Assistant requires.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from .mirror import DIRECTIONS, PoolMirror
from .topics import Topics

Config = dict[str, Any]

_SLUG_BAD = re.compile(r"[^a-zA-Z0-9]+")
ORIGIN_NAME = "CamPool"


def ha_id(*parts: str) -> str:
    """An id of ``[a-zA-Z0-9_-]`` from names: readable, and unique even when slugging merged two names
    (a short hash of the exact names is added whenever slugging changed one)."""
    slugs = [_SLUG_BAD.sub("_", p).strip("_").lower() or "x" for p in parts]
    out = "_".join(slugs)
    if any(s != p for s, p in zip(slugs, parts)):
        out += "_" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:6]
    return out


def master_device_id(master_id: str) -> str:
    return ha_id("campool", master_id)


def camera_device_id(master_id: str, camera_id: str) -> str:
    return ha_id("campool", master_id, "camera", camera_id)


def worker_device_id(master_id: str, worker_id: str) -> str:
    return ha_id("campool", master_id, "worker", worker_id)


def config_topic(discovery_prefix: str, device_id: str) -> str:
    return f"{discovery_prefix}/device/{device_id}/config"


class Discovery:
    """Builds the configs of one master's devices."""

    def __init__(self, topics: Topics, *, master_id: str, site: str, version: str,
                 discovery_prefix: str = "homeassistant") -> None:
        self.topics = topics
        self.master_id = master_id
        self.site = site
        self.version = version
        self.discovery_prefix = discovery_prefix
        self.master_device = master_device_id(master_id)

    def configs(self, mirror: PoolMirror) -> dict[str, Config]:
        """config topic -> config, for the master, every camera and every adopted worker."""
        out = {config_topic(self.discovery_prefix, self.master_device): self._master()}
        for cid in sorted(mirror.cameras):
            out[config_topic(self.discovery_prefix, camera_device_id(self.master_id, cid))] = self._camera(mirror, cid)
        for wid in sorted(mirror.workers):
            out[config_topic(self.discovery_prefix, worker_device_id(self.master_id, wid))] = self._worker(mirror, wid)
        return out

    def is_config_topic(self, topic: str) -> bool:
        return topic.startswith(f"{self.discovery_prefix}/device/") and topic.endswith("/config")

    # ------------------------------------------------------------- devices

    def _shell(self, dev: dict[str, Any], cmps: dict[str, Config]) -> Config:
        return {"dev": dev, "o": {"name": ORIGIN_NAME, "sw": self.version},
                "availability_topic": self.topics.available, "payload_available": "online",
                "payload_not_available": "offline", "qos": 1, "cmps": cmps}

    def _master(self) -> Config:
        dev = {"ids": [self.master_device], "name": f"CamPool {self.site}", "mf": "CamPool",
               "mdl": "control center", "sw": self.version}
        uid = self.master_device
        return self._shell(dev, {
            "alerts_open": {"p": "sensor", "name": "Open alerts", "unique_id": f"{uid}_alerts_open",
                            "state_topic": self.topics.alerts_open, "state_class": "measurement",
                            "icon": "mdi:alert"}})

    def _camera(self, mirror: PoolMirror, cid: str) -> Config:
        cam = mirror.cameras[cid]
        dev_id = camera_device_id(self.master_id, cid)
        t = self.topics
        dev = {"ids": [dev_id], "name": cam.name, "mf": "CamPool", "mdl": "camera", "sw": self.version,
               "via_device": self.master_device}
        if cam.config.site:
            dev["sa"] = cam.config.site
        cmps: dict[str, Config] = {
            "running": {"p": "binary_sensor", "name": "Running", "device_class": "running",
                        "unique_id": f"{dev_id}_running", "state_topic": t.camera_state(cid),
                        "value_template": "{{ 'ON' if value == 'running' else 'OFF' }}"},
            "fps": {"p": "sensor", "name": "Processing rate", "unique_id": f"{dev_id}_fps",
                    "state_topic": t.camera_info(cid), "value_template": "{{ value_json.fps }}",
                    "unit_of_measurement": "fps", "state_class": "measurement", "entity_category": "diagnostic"},
        }
        classes = mirror.classes(cid)
        for line in mirror.lines(cid):
            for d in DIRECTIONS:
                key = ha_id("line", line, d)
                cmps[f"{key}_total"] = _counter(f"{line} {d}", f"{dev_id}_{key}_total", t.line(cid, line, d, "total"))
                cmps[f"{key}_today"] = _counter(f"{line} {d} today", f"{dev_id}_{key}_today",
                                                t.line(cid, line, d, "today"))
                cmps[f"{key}_rate"] = {"p": "sensor", "name": f"{line} {d} per minute",
                                       "unique_id": f"{dev_id}_{key}_rate", "state_topic": t.line(cid, line, d, "rate"),
                                       "state_class": "measurement", "unit_of_measurement": "crossings/min",
                                       "icon": "mdi:speedometer"}
                for k in classes:
                    ck = ha_id("line", line, d, "class", k)
                    cmps[f"{ck}_total"] = _counter(f"{line} {d} {k}", f"{dev_id}_{ck}_total",
                                                   t.line(cid, line, d, "total", k))
                    cmps[f"{ck}_today"] = _counter(f"{line} {d} {k} today", f"{dev_id}_{ck}_today",
                                                   t.line(cid, line, d, "today", k))
        for zone in mirror.zones(cid):
            zk = ha_id("zone", zone)
            cmps[f"{zk}_occupancy"] = _gauge(f"{zone} occupancy", f"{dev_id}_{zk}_occupancy", t.zone(cid, zone))
            for k in classes:
                ck = ha_id("zone", zone, "class", k)
                cmps[f"{ck}_occupancy"] = _gauge(f"{zone} {k}", f"{dev_id}_{ck}_occupancy", t.zone(cid, zone, k))
        return self._shell(dev, cmps)

    def _worker(self, mirror: PoolMirror, wid: str) -> Config:
        w = mirror.workers[wid]
        dev_id = worker_device_id(self.master_id, wid)
        t = self.topics
        dev = {"ids": [dev_id], "name": f"Worker {w.name or wid}", "mf": "CamPool", "mdl": "worker",
               "sw": w.version or self.version, "via_device": self.master_device}
        metrics = t.worker_metrics(wid)

        def pct(key: str, name: str) -> Config:
            return {"p": "sensor", "name": name, "unique_id": f"{dev_id}_{key}", "state_topic": metrics,
                    "value_template": f"{{{{ (value_json.{key} * 100) | round(1) if value_json.{key} is not none "
                                      f"else None }}}}",
                    "unit_of_measurement": "%", "state_class": "measurement"}

        return self._shell(dev, {
            "online": {"p": "binary_sensor", "name": "Online", "device_class": "connectivity",
                       "unique_id": f"{dev_id}_online", "state_topic": t.worker_state(wid),
                       "value_template": "{{ 'OFF' if value == 'offline' else 'ON' }}"},
            "cpu": pct("cpu", "CPU"),
            "memory": pct("memory", "Memory"),
            "gpu": pct("gpu", "GPU"),
            "outbox_backlog": {"p": "sensor", "name": "Outbox backlog", "unique_id": f"{dev_id}_outbox_backlog",
                               "state_topic": metrics, "value_template": "{{ value_json.outbox_backlog }}",
                               "unit_of_measurement": "events", "state_class": "measurement",
                               "entity_category": "diagnostic"},
            "fps": {"p": "sensor", "name": "Frames per second", "unique_id": f"{dev_id}_fps",
                    "state_topic": metrics, "value_template": "{{ value_json.fps }}", "unit_of_measurement": "fps",
                    "state_class": "measurement"},
        })


def _counter(name: str, uid: str, topic: str) -> Config:
    return {"p": "sensor", "name": name, "unique_id": uid, "state_topic": topic, "state_class": "total_increasing",
            "unit_of_measurement": "crossings", "icon": "mdi:counter"}


def _gauge(name: str, uid: str, topic: str) -> Config:
    return {"p": "sensor", "name": name, "unique_id": uid, "state_topic": topic, "state_class": "measurement",
            "unit_of_measurement": "objects", "icon": "mdi:account-group"}


def removal_step(old: Config | None, new: Config) -> Config | None:
    """The update that removes the components ``old`` had and ``new`` lacks (each sent with only its
    platform, as Home Assistant's device discovery asks); None when nothing was removed. Send it, then
    ``new``."""
    if not old:
        return None
    gone = {k: {"p": v.get("p", "sensor")} for k, v in old.get("cmps", {}).items() if k not in new.get("cmps", {})}
    if not gone:
        return None
    return {**new, "cmps": {**new.get("cmps", {}), **gone}}
