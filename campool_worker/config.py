"""The worker's settings, declared once: defaults < TOML file < CAMPOOL_* environment < flags.

Example ``worker.toml`` (default place: the platform's config folder, e.g.
``~/.config/campool/worker.toml``; or ``--config FILE`` / ``CAMPOOL_CONFIG``)::

    name = "edge-3"
    bind = "0.0.0.0"
    cmd_port = 7761
    pub_port = 7762
    pair_port = 7763
    capacity = 4
    accept_masters = ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"]   # master public keys (Z85)
    zeroconf = true
    zeroconf_interfaces = []    # addresses to announce on; empty = all
    intra_op_threads = 0        # threads per inference call; 0 = the cores minus a quarter
    inference_workers = 1       # inference calls at once for all cameras (2 can add throughput
                                # on a CPU box with many cameras, at the cost of a free core)
"""
from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from campool_worker.errors import CampoolError
from campool_worker.protocol.liveness import HEARTBEAT_S_DEFAULT, HEARTBEAT_S_MAX, HEARTBEAT_S_MIN

APP = "campool"


class SettingsError(CampoolError):
    """A settings file, variable or flag with a value we cannot use."""


@dataclass
class Settings:
    name: str = field(default_factory=lambda: socket.gethostname().split(".")[0] or "worker")
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP, appauthor=False)) / "worker")
    bind: str = "0.0.0.0"
    cmd_port: int = 7761
    pub_port: int = 7762
    pair_port: int = 7763
    capacity: int = 0  # 0 = derive from CPU count / GPU
    accept_masters: list[str] = field(default_factory=list)
    zeroconf: bool = True
    zeroconf_interfaces: list[str] = field(default_factory=list)
    heartbeat_s: float = HEARTBEAT_S_DEFAULT  # declared to the masters, which judge liveness by it
    resend_after_s: float = 5.0  # republish unacked count events after this long
    pairing_code_at_start: bool = True
    test_hooks: bool = False  # allows the test:// camera source (tests only)
    intra_op_threads: int = 0  # ONNX Runtime threads per inference call; 0 = automatic
    inference_workers: int = 1  # inference calls run at once, shared by all cameras of a model

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        for port in ("cmd_port", "pub_port", "pair_port"):
            if not 0 <= getattr(self, port) <= 65535:
                raise SettingsError(f"{port} {getattr(self, port)} is not a TCP port (0 picks a free one)")
        if not self.name.strip():
            raise SettingsError("worker name is empty; give --name or name = \"...\" in the settings file")
        if self.capacity < 0:
            raise SettingsError("capacity must be 0 (automatic) or a positive number of cameras")
        if self.intra_op_threads < 0 or not 1 <= self.inference_workers <= 64:
            raise SettingsError("intra_op_threads must be 0 (automatic) or more, inference_workers 1 to 64")
        if not HEARTBEAT_S_MIN <= self.heartbeat_s <= HEARTBEAT_S_MAX:
            raise SettingsError(f"heartbeat_s must be between {HEARTBEAT_S_MIN} and {HEARTBEAT_S_MAX:g} seconds")


_FLAG_NAMES = {"name": "name", "data_dir": "data_dir", "bind": "bind", "cmd_port": "cmd_port",
               "pub_port": "pub_port", "pair_port": "pair_port", "capacity": "capacity",
               "zeroconf_interface": "zeroconf_interfaces"}


def _coerce(name: str, tp: Any, value: Any, where: str) -> Any:
    try:
        if tp in ("int", int):
            if isinstance(value, bool):
                raise ValueError("not a number")
            return int(value)
        if tp in ("float", float):
            return float(value)
        if tp in ("bool", bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected true/false")
        if tp in ("list[str]",):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a list of strings")
            return list(value)
        if tp in ("Path",):
            return Path(str(value))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {name} = {value!r} is not valid ({exc})") from None


def settings_file(args: Any = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The settings file `load_settings` reads: ``--config``, else ``CAMPOOL_CONFIG``, else the
    default place if a file is there; None when there is none."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    config_path = getattr(args, "config", None) or env.get("CAMPOOL_CONFIG")
    if config_path is None:
        default = Path(platformdirs.user_config_dir(APP, appauthor=False)) / "worker.toml"
        config_path = str(default) if default.exists() else None
    return config_path


def load_settings(args: Any = None, environ: dict[str, str] | None = None) -> Settings:
    """Merge defaults, the TOML file, CAMPOOL_* variables and command-line flags."""
    environ = dict(os.environ if environ is None else environ)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    config_path = settings_file(args, environ)
    if config_path:
        try:
            with open(config_path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"settings file {config_path} does not exist") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"settings file {config_path} cannot be read: {exc}") from None
        for key, value in data.items():
            if key not in fields or key == "test_hooks":
                raise SettingsError(f"settings file {config_path}: unknown setting {key!r}; known: "
                                    f"{', '.join(n for n in fields if n != 'test_hooks')}")
            values[key] = _coerce(key, fields[key].type, value, config_path)

    for name, f in fields.items():
        env = environ.get("CAMPOOL_" + name.upper())
        if env is not None:
            values[name] = _coerce(name, f.type, env, "CAMPOOL_" + name.upper())

    if args is not None:
        for flag, name in _FLAG_NAMES.items():
            value = getattr(args, flag, None)
            if value is not None:
                values[name] = _coerce(name, fields[name].type, value, "--" + flag.replace("_", "-"))
        if getattr(args, "no_zeroconf", False):
            values["zeroconf"] = False
        extra = getattr(args, "accept_master", None) or []
        if extra:
            values["accept_masters"] = list(values.get("accept_masters", [])) + list(extra)
    try:
        return Settings(**values)
    except TypeError as exc:
        raise SettingsError(f"settings: {exc}") from None
