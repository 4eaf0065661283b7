"""`campool-gui --headless`: the master with no window.

--headless runs `pool.master.Master` for an unattended site: workers come from mDNS
(unless --no-zeroconf) and from the config file (by address, adopted with their key and an
optional pairing code), cameras are placed from the config file, and the pool's state is
logged. It stops cleanly on SIGTERM / Ctrl-C.

Config file (TOML, or JSON with the same shape)::

    [master]
    name = "site-north"            # optional
    policy = "hybrid"              # optional, see pool.scheduler.POLICIES

    [[workers]]                    # optional: workers added by address
    host = "10.0.0.21"
    cmd_port = 7761
    pub_port = 7762
    pair_port = 7763
    key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   # its public key (campool-worker serve prints it)
    code = "ABCD-EFGH"             # optional pairing code; without it the worker must --accept-master us
    site = "north"                 # optional site / groups for site affinity
    groups = ["gates"]
    # or: ports_file = "/path/ports.json" written by campool-worker serve --ports-file

    [[cameras]]
    camera_id = "gate-1"
    source = "rtsp://10.0.0.50/stream1"
    lines = ["in:0,500,1280,500"]  # NAME:x1,y1,x2,y2 strings or {name, p1, p2} tables
    zones = ["yard:0,0,640,0,640,360,0,360"]
    priority = "high"
    pin = "gate-box"               # optional worker id or name; plus any CameraConfig field, and target_fps
    standby = "hot"                # optional: none | warm | hot (unset: hot for a critical camera)
    standby_worker = "yard-box"    # optional worker id or name for its standby (unset: the balancer's choice)

    [alerts.zone_occupancy]        # optional: any rule of pool.alerts.default_rules()
    threshold = 20
    overrides = { "gate-1/yard" = 5 }

    [mqtt]                         # optional: publish counts to an MQTT broker (integrations/settings.py)
    host = "127.0.0.1"
    port = 1883
    prefix = "campool/site-north"  # default campool/<master name>
    discovery = true               # Home Assistant MQTT discovery
    # username, password, tls_ca optional

    [metrics]                      # optional: a Prometheus /metrics endpoint
    bind = "127.0.0.1"
    port = 9464

Arguments read from the parsed command line (campool_gui/app.py): data_dir, config,
policy, no_zeroconf, status_every (s, default 30), run_seconds (stop after; default: run
until signalled).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from campool_worker.camera import CameraConfig, ConfigError, CountingLine, Zone
from campool_worker.errors import CampoolError

from .integrations.hub import Integrations
from .integrations.settings import IntegrationConfigError, IntegrationSettings, parse_integrations
from .pool.alerts import AlertRule, default_rules
from .pool.master import Master, MasterError, MasterSettings
from .pool.scheduler import POLICIES

log = logging.getLogger(__name__)


class HeadlessConfigError(CampoolError):
    """A headless config file that cannot be used; the text says how to fix it."""


@dataclass
class WorkerEntry:
    host: str
    cmd_port: int
    pub_port: int
    pair_port: int
    key: str
    code: str | None = None
    site: str = ""
    groups: tuple[str, ...] = ()


@dataclass
class CameraEntry:
    config: CameraConfig
    pin: str | None = None
    target_fps: float | None = None
    standby_worker: str | None = None   # worker id or name that should hold its standby


@dataclass
class HeadlessConfig:
    name: str = "headless"
    policy: str | None = None
    workers: list[WorkerEntry] = field(default_factory=list)
    cameras: list[CameraEntry] = field(default_factory=list)
    alerts: dict[str, AlertRule] = field(default_factory=dict)
    integrations: IntegrationSettings = field(default_factory=IntegrationSettings)


def load_config(path: str | Path) -> HeadlessConfig:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HeadlessConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HeadlessConfigError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                                  f"{exc}") from None
    if not isinstance(data, dict):
        raise HeadlessConfigError(f"config file {path}: expected a table at the top level")
    unknown = set(data) - {"master", "workers", "cameras", "alerts", "mqtt", "metrics"}
    if unknown:
        raise HeadlessConfigError(f"config file {path}: unknown section(s) {', '.join(sorted(unknown))}; "
                                  "use master, workers, cameras, alerts, mqtt, metrics")
    cfg = HeadlessConfig()
    master = data.get("master", {})
    cfg.name = str(master.get("name", cfg.name))
    cfg.policy = master.get("policy")
    if cfg.policy is not None and cfg.policy not in POLICIES:
        raise HeadlessConfigError(f"config file {path}: policy {cfg.policy!r} is not one of {', '.join(POLICIES)}")
    for i, w in enumerate(data.get("workers", [])):
        cfg.workers.append(_worker_entry(path, i, w))
    seen: set[str] = set()
    for i, c in enumerate(data.get("cameras", [])):
        entry = _camera_entry(path, i, c)
        if entry.config.camera_id in seen:
            raise HeadlessConfigError(f"config file {path}: camera id {entry.config.camera_id!r} appears twice")
        seen.add(entry.config.camera_id)
        cfg.cameras.append(entry)
    try:
        cfg.integrations = parse_integrations(data, f"config file {path}")
    except IntegrationConfigError as exc:
        raise HeadlessConfigError(str(exc)) from None
    rules = default_rules()
    for kind, spec in data.get("alerts", {}).items():
        if kind not in rules:
            raise HeadlessConfigError(f"config file {path}: unknown alert {kind!r}; known: {', '.join(rules)}")
        try:
            cfg.alerts[kind] = replace(rules[kind], **spec)
        except TypeError as exc:
            raise HeadlessConfigError(f"config file {path}: alert {kind}: {exc}") from None
    return cfg


def _worker_entry(path: Path, i: int, w: dict[str, Any]) -> WorkerEntry:
    where = f"config file {path}: workers[{i}]"
    if not isinstance(w, dict):
        raise HeadlessConfigError(f"{where} must be a table")
    w = dict(w)
    if "ports_file" in w:
        try:
            ports = json.loads(Path(w.pop("ports_file")).read_text())
            w.setdefault("cmd_port", ports["cmd"])
            w.setdefault("pub_port", ports["pub"])
            w.setdefault("pair_port", ports["pair"])
            w.setdefault("key", ports["key"])
        except (OSError, ValueError, KeyError) as exc:
            raise HeadlessConfigError(f"{where}: cannot read its ports_file ({exc})") from None
    missing = {"host", "cmd_port", "pub_port", "pair_port", "key"} - set(w)
    if missing:
        raise HeadlessConfigError(f"{where}: missing {', '.join(sorted(missing))}")
    try:
        return WorkerEntry(str(w["host"]), int(w["cmd_port"]), int(w["pub_port"]), int(w["pair_port"]), str(w["key"]),
                           code=w.get("code"), site=str(w.get("site", "")), groups=tuple(w.get("groups", ())))
    except (TypeError, ValueError) as exc:
        raise HeadlessConfigError(f"{where}: {exc}") from None


def _camera_entry(path: Path, i: int, c: dict[str, Any]) -> CameraEntry:
    where = f"config file {path}: cameras[{i}]"
    if not isinstance(c, dict):
        raise HeadlessConfigError(f"{where} must be a table")
    c = dict(c)
    pin = c.pop("pin", None)
    target = c.pop("target_fps", None)
    standby_worker = c.pop("standby_worker", None)
    if standby_worker is not None and not isinstance(standby_worker, str):
        raise HeadlessConfigError(f"{where}: standby_worker must be a worker id or name")
    try:
        c["lines"] = [CountingLine.parse(x).to_dict() if isinstance(x, str) else x for x in c.get("lines", [])]
        c["zones"] = [Zone.parse(x).to_dict() if isinstance(x, str) else x for x in c.get("zones", [])]
        return CameraEntry(CameraConfig.from_dict(c), pin=pin, target_fps=float(target) if target else None,
                           standby_worker=standby_worker)
    except (ConfigError, ValueError, TypeError) as exc:
        raise HeadlessConfigError(f"{where}: {exc}") from None


def _data_dir(args: Any) -> Path:
    d = getattr(args, "data_dir", None) or os.environ.get("CAMPOOL_DATA_DIR")
    if d:
        return Path(d).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("campool", appauthor=False)) / "master"


def apply_config(master: Master, cfg: HeadlessConfig) -> list[WorkerEntry]:
    """Add configured workers and cameras; returns the workers that could not be reached yet."""
    pending = []
    for w in cfg.workers:
        if not _add_worker(master, w):
            pending.append(w)
    snap = master.snapshot()
    known = {c.camera_id: c for c in snap.cameras}
    names = {w.name: w.worker_id for w in snap.workers}
    for entry in cfg.cameras:
        cid = entry.config.camera_id
        if entry.pin is not None and entry.pin not in names.values() and entry.pin in names:
            entry = replace(entry, pin=names[entry.pin])       # pinned by worker name
        if cid in known:
            if known[cid].config != entry.config:
                master.update_camera(entry.config, target_fps=entry.target_fps)
        else:
            master.add_camera(entry.config, pin=entry.pin, target_fps=entry.target_fps)
        if entry.pin is not None and (cid not in known or known[cid].pin != entry.pin):
            try:
                master.pin_camera(cid, entry.pin)
            except ValueError as exc:
                log.warning("camera %s: %s", cid, exc)
        standby = names.get(entry.standby_worker, entry.standby_worker) if entry.standby_worker else None
        if standby is not None and (cid not in known or known[cid].standby_pin != standby):
            try:
                master.set_standby(cid, standby)
            except ValueError as exc:
                log.warning("camera %s: %s", cid, exc)
    return pending


def _add_worker(master: Master, w: WorkerEntry) -> bool:
    snap = master.snapshot()
    for known in snap.workers:
        if known.key_fingerprint and w.key.startswith(known.key_fingerprint) and known.state.value != "discovered":
            return True       # adopted in an earlier run: the store remembers it
    try:
        wid = master.add_worker(w.host, w.cmd_port, w.pub_port, w.pair_port, w.key, code=w.code, timeout=5.0)
    except MasterError as exc:
        log.warning("%s; will retry", exc)
        return False
    if w.site or w.groups:
        master.set_worker_site(wid, w.site, frozenset(w.groups))
    return True


def status_line(master: Master) -> str:
    s = master.snapshot()
    t = s.totals
    cams = ", ".join(f"{c.camera_id}@{c.worker_id or '-'}:{c.state}" for c in s.cameras)
    return (f"workers {t.workers_online}/{t.workers_total} online, cameras {t.cameras_running}/{t.cameras_total} "
            f"running, counts in {t.counts_in} out {t.counts_out}, stored {t.events_stored}, fenced {t.events_fenced}, "
            f"open alerts {sum(1 for a in s.alerts if a.open)} [{cams}]")


def run_headless(args: Any) -> int:
    """`campool-gui --headless`."""
    cfg = load_config(args.config) if getattr(args, "config", None) else HeadlessConfig()
    policy = getattr(args, "policy", None) or cfg.policy
    if policy is not None and policy not in POLICIES:
        raise HeadlessConfigError(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
    settings = MasterSettings(data_dir=_data_dir(args), name=cfg.name,
                              zeroconf=not getattr(args, "no_zeroconf", False),
                              alert_rules={**default_rules(), **cfg.alerts})
    master = Master(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    master.start()
    master.subscribe(_log_event)
    integrations = Integrations(master, cfg.integrations)
    integrations.start()
    try:
        if policy:
            master.set_policy(policy)
        log.info("headless master %s; public key %s (workers trust it with: campool-worker serve "
                 "--accept-master=%s)", master.master_id, master.public_key, master.public_key)
        pending = apply_config(master, cfg)
        every = float(getattr(args, "status_every", None) or 30.0)
        run_for = getattr(args, "run_seconds", None)
        end = time.monotonic() + float(run_for) if run_for else None
        next_status = time.monotonic() + min(every, 5.0)
        next_retry = time.monotonic() + 5.0
        while not stop.wait(0.5):
            now = time.monotonic()
            if end is not None and now >= end:
                break
            if pending and now >= next_retry:
                pending = [w for w in pending if not _add_worker(master, w)]
                next_retry = now + 5.0
            if now >= next_status:
                log.info("%s", status_line(master))
                next_status = now + every
        log.info("%s", status_line(master))
    finally:
        integrations.stop()
        master.stop()
    return 0


def _log_event(ev: object) -> None:
    from .pool.views import AlertChanged, WorkerChanged
    if isinstance(ev, WorkerChanged):
        log.debug("worker %s: %s", ev.worker.worker_id, ev.worker.state.value)
    elif isinstance(ev, AlertChanged):
        log.info("alert %d %s: %s", ev.alert.id, ev.alert.state, ev.alert.message)

