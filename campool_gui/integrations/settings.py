"""The integrations' settings: one typed model, read from the headless config or the settings file.

Headless config (``campool-gui --headless --config pool.toml``) and the Settings view's file
(``<data dir>/integrations.toml``, mode 0600) share one shape::

    [mqtt]                          # the section present = MQTT on (or enabled = false)
    host = "127.0.0.1"
    port = 1883
    prefix = "campool/site-north"   # default: campool/<the master's name>
    discovery = true                # Home Assistant MQTT discovery
    # username, password, tls_ca (a CA file: TLS on), discovery_prefix ("homeassistant"),
    # queue_max (alert events kept while the broker is away, 10000)

    [metrics]                       # the section present = the /metrics endpoint on
    bind = "127.0.0.1"
    port = 9464

The broker password lives only here and in memory: never in the history database, never in a
log line or a repr. TODO(credentials): once campool_gui/pool/credentials.py (the OS keyring store
for camera passwords) is on this branch, keep the broker password there under the key
"mqtt:<host>:<port>:<username>" and write only the username to the file.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from campool_worker.errors import CampoolError

DEFAULT_MQTT_PORT = 1883
DEFAULT_METRICS_PORT = 9464
DEFAULT_QUEUE_MAX = 10_000
SETTINGS_FILE = "integrations.toml"

_TOPIC_BAD = re.compile(r"[#+\x00]")


class IntegrationConfigError(CampoolError):
    """Integration settings that cannot be used; the text says which and how to fix it."""


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_MQTT_PORT
    prefix: str = ""                  # "" = campool/<site>
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    username: str | None = None
    password: str | None = field(default=None, repr=False)   # never in a repr, a log line or the history
    tls_ca: str | None = None         # a CA certificate file: TLS on
    queue_max: int = DEFAULT_QUEUE_MAX

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def to_table(self) -> dict[str, Any]:
        """The TOML table (None values left out)."""
        d: dict[str, Any] = {"host": self.host, "port": self.port, "prefix": self.prefix, "discovery": self.discovery}
        if self.discovery_prefix != "homeassistant":
            d["discovery_prefix"] = self.discovery_prefix
        for key in ("username", "password", "tls_ca"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        if self.queue_max != DEFAULT_QUEUE_MAX:
            d["queue_max"] = self.queue_max
        return d


@dataclass(frozen=True)
class MetricsSettings:
    bind: str = "127.0.0.1"           # loopback unless the operator opens it up
    port: int = DEFAULT_METRICS_PORT

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}/metrics"

    def to_table(self) -> dict[str, Any]:
        return {"bind": self.bind, "port": self.port}


@dataclass(frozen=True)
class IntegrationSettings:
    mqtt: MqttSettings | None = None         # None: off
    metrics: MetricsSettings | None = None   # None: off

    def with_password(self, password: str | None) -> IntegrationSettings:
        return replace(self, mqtt=replace(self.mqtt, password=password)) if self.mqtt is not None else self


def check_prefix(prefix: str, where: str = "mqtt prefix") -> str:
    """A topic prefix: levels split by '/', none empty, no wildcard, not a $SYS topic."""
    if not prefix:
        raise IntegrationConfigError(f"{where} is empty; use e.g. campool/site-north")
    if _TOPIC_BAD.search(prefix) or prefix.startswith("$") or any(not level for level in prefix.split("/")):
        raise IntegrationConfigError(f"{where} {prefix!r} is not a usable topic prefix: use levels separated by "
                                     "'/', without '+', '#', a leading '$' or empty levels (e.g. campool/site-north)")
    return prefix


def _port(value: Any, where: str) -> int:
    if type(value) is not int or not 0 <= value <= 65535:
        raise IntegrationConfigError(f"{where} must be a port number from 1 to 65535 (0: any free port), not {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IntegrationConfigError(f"{where} must be a non-empty string, not {value!r}")
    return value.strip()


def _check_keys(table: Any, known: set[str], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise IntegrationConfigError(f"{where} must be a table")
    unknown = set(table) - known - {"enabled"}
    if unknown:
        raise IntegrationConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                                     f"known: {', '.join(sorted(known | {'enabled'}))}")
    return table


def parse_mqtt(table: Any, where: str = "[mqtt]") -> MqttSettings | None:
    """The ``[mqtt]`` table; None when it says ``enabled = false``."""
    known = {"host", "port", "prefix", "discovery", "discovery_prefix", "username", "password", "tls_ca", "queue_max"}
    t = _check_keys(table, known, where)
    if t.get("enabled", True) is False:
        return None
    s = MqttSettings()
    kw: dict[str, Any] = {}
    if "host" in t:
        kw["host"] = _text(t["host"], f"{where} host")
    if "port" in t:
        kw["port"] = _port(t["port"], f"{where} port")
    if t.get("prefix"):
        kw["prefix"] = check_prefix(_text(t["prefix"], f"{where} prefix"), f"{where} prefix")
    if "discovery" in t:
        if not isinstance(t["discovery"], bool):
            raise IntegrationConfigError(f"{where} discovery must be true or false")
        kw["discovery"] = t["discovery"]
    if "discovery_prefix" in t:
        kw["discovery_prefix"] = check_prefix(_text(t["discovery_prefix"], f"{where} discovery_prefix"),
                                              f"{where} discovery_prefix")
    for key in ("username", "password"):
        if t.get(key) not in (None, ""):
            if not isinstance(t[key], str):
                raise IntegrationConfigError(f"{where} {key} must be a string")
            kw[key] = t[key]
    if t.get("tls_ca"):
        ca = Path(_text(t["tls_ca"], f"{where} tls_ca")).expanduser()
        if not ca.is_file():
            raise IntegrationConfigError(f"{where} tls_ca: no CA certificate file at {ca}; give the broker's CA "
                                         "file (PEM) or leave tls_ca out for a plain connection")
        kw["tls_ca"] = str(ca)
    if "queue_max" in t:
        if type(t["queue_max"]) is not int or t["queue_max"] < 100:
            raise IntegrationConfigError(f"{where} queue_max must be a whole number of at least 100")
        kw["queue_max"] = t["queue_max"]
    if kw.get("password") and not kw.get("username"):
        raise IntegrationConfigError(f"{where}: a password needs a username")
    return replace(s, **kw)


def parse_metrics(table: Any, where: str = "[metrics]") -> MetricsSettings | None:
    t = _check_keys(table, {"bind", "port"}, where)
    if t.get("enabled", True) is False:
        return None
    kw: dict[str, Any] = {}
    if "bind" in t:
        kw["bind"] = _text(t["bind"], f"{where} bind")
    if "port" in t:
        kw["port"] = _port(t["port"], f"{where} port")
    return MetricsSettings(**kw)


def parse_integrations(data: dict[str, Any], where: str = "") -> IntegrationSettings:
    """``[mqtt]`` and ``[metrics]`` of a parsed config (other sections are the caller's)."""
    at = f"{where}: " if where else ""
    return IntegrationSettings(
        mqtt=parse_mqtt(data["mqtt"], f"{at}[mqtt]") if "mqtt" in data else None,
        metrics=parse_metrics(data["metrics"], f"{at}[metrics]") if "metrics" in data else None)


# ----------------------------------------------------------------- the Settings view's file

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))   # a JSON string is a TOML basic string (same escapes)


def dump_toml(settings: IntegrationSettings) -> str:
    out = ["# CamPool integrations (written by the Settings view; the same shape as the headless config)"]
    for name, section, table in (("mqtt", settings.mqtt, settings.mqtt.to_table() if settings.mqtt else None),
                                 ("metrics", settings.metrics,
                                  settings.metrics.to_table() if settings.metrics else None)):
        out.append(f"[{name}]")
        if section is None or table is None:
            out.append("enabled = false")
        else:
            out.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if v != "")
        out.append("")
    return "\n".join(out)


def load_file(path: Path) -> IntegrationSettings:
    """The Settings view's file; both off when there is none yet."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return IntegrationSettings()
    except OSError as exc:
        raise IntegrationConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise IntegrationConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"mqtt", "metrics"}
    if unknown:
        raise IntegrationConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; use mqtt, metrics")
    return parse_integrations(data, str(path))


def save_file(path: Path, settings: IntegrationSettings) -> None:
    """Write atomically, readable by this user only (it may hold the broker password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dump_toml(settings))
    if os.name == "posix":
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)
