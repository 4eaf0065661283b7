"""Home Assistant's documented requirements for a device discovery config (home-assistant.io, MQTT
integration, "Device discovery payload"), checked key by key:

* the topic is ``<discovery_prefix>/device/<object_id>/config``, the id of ``[a-zA-Z0-9_-]``;
* the root has the ``device`` (``dev``) mapping, with ``identifiers`` (``ids``) or ``connections``,
  and the ``origin`` (``o``) mapping with its ``name``; these are mandatory;
* ``components`` (``cmps``): each has its platform (``p``) and at least one option of its own; an
  entity component has a ``unique_id``; sensors and binary sensors need their ``state_topic``;
* a sensor's ``state_class`` is one of measurement, total, total_increasing;
* availability, when shared at the root, is an ``availability_topic`` (``avty_t``) or a list.
"""
from __future__ import annotations

import re
from typing import Any

ID = re.compile(r"^[a-zA-Z0-9_-]+$")
PLATFORMS = {"sensor", "binary_sensor"}            # what CamPool publishes
STATE_CLASSES = {"measurement", "total", "total_increasing"}


def _get(d: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in d:
            return d[n]
    return None


def check_device_config(topic: str, config: dict[str, Any], discovery_prefix: str = "homeassistant") -> list[str]:
    """Every way ``config`` breaks the documented requirements (empty: it is a valid device config)."""
    bad: list[str] = []
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != discovery_prefix or parts[1] != "device" or parts[3] != "config" \
            or not ID.match(parts[2]):
        bad.append(f"topic {topic!r} is not {discovery_prefix}/device/<[a-zA-Z0-9_-]+>/config")
    dev = _get(config, "dev", "device")
    if not isinstance(dev, dict):
        bad.append("no device (dev) mapping")
        dev = {}
    ids = _get(dev, "ids", "identifiers")
    if not ids and not _get(dev, "cns", "connections"):
        bad.append("the device has neither identifiers nor connections")
    if not _get(dev, "name"):
        bad.append("the device has no name")
    origin = _get(config, "o", "origin")
    if not isinstance(origin, dict) or not origin.get("name"):
        bad.append("no origin (o) mapping with a name")
    avty = _get(config, "availability_topic", "avty_t", "availability", "avty")
    if not avty:
        bad.append("no shared availability")
    cmps = _get(config, "cmps", "components")
    if not isinstance(cmps, dict) or not cmps:
        bad.append("no components (cmps)")
        cmps = {}
    for key, c in cmps.items():
        where = f"component {key!r}"
        if not isinstance(c, dict):
            bad.append(f"{where} is not a mapping")
            continue
        platform = _get(c, "p", "platform")
        if platform not in PLATFORMS:
            bad.append(f"{where}: platform {platform!r} is not one of {sorted(PLATFORMS)}")
        if len(c) < 2:
            bad.append(f"{where}: only its platform (a removal, not a config)")
            continue
        if not c.get("unique_id") and not c.get("uniq_id"):
            bad.append(f"{where}: no unique_id")
        if not _get(c, "state_topic", "stat_t") and not _get(config, "state_topic", "stat_t"):
            bad.append(f"{where}: no state_topic")
        sc = _get(c, "state_class", "stat_cla")
        if platform == "sensor" and sc is not None and sc not in STATE_CLASSES:
            bad.append(f"{where}: state_class {sc!r} is not one of {sorted(STATE_CLASSES)}")
        if not ID.match(str(key)):
            bad.append(f"{where}: its id is not [a-zA-Z0-9_-]+")
    return bad


def unique_ids(configs: dict[str, dict[str, Any]]) -> list[str]:
    return [c["unique_id"] for cfg in configs.values() for c in cfg["cmps"].values() if "unique_id" in c]
