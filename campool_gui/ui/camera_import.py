"""Importing cameras from a JSON file (a list of camera definitions, as CameraConfig.to_dict writes them)."""
from __future__ import annotations

import json
from pathlib import Path

from campool_worker.camera import CameraConfig, ConfigError

MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _is_local_path(source: str) -> bool:
    s = source.strip()
    return "://" not in s and not s.startswith("usb:") and not s.isdigit() and not s.startswith("sha256:")


def load_cameras_file(path: str | Path) -> list[CameraConfig]:
    """Read and validate every camera in the file; raises ConfigError naming the bad entry.

    Relative file paths (sources and models) are resolved against the file's folder, so a
    sample next to its videos works wherever it is opened from.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_IMPORT_BYTES:
            raise ConfigError(f"{p} is larger than {MAX_IMPORT_BYTES // 1024 // 1024} MB; is it a camera list?")
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p} is not valid JSON ({exc}); expected a list of cameras") from None
    if isinstance(data, dict) and "cameras" in data:
        data = data["cameras"]
    if not isinstance(data, list):
        raise ConfigError(f"{p}: expected a list of cameras (or {{\"cameras\": [...]}})")
    out: list[CameraConfig] = []
    for i, entry in enumerate(data):
        if isinstance(entry, dict):
            entry = dict(entry)
            for key in ("source", "model"):
                val = entry.get(key)
                if isinstance(val, str) and val and _is_local_path(val) and not Path(val).is_absolute():
                    entry[key] = str((p.parent / val).resolve())
        try:
            out.append(CameraConfig.from_dict(entry))
        except ConfigError as exc:
            raise ConfigError(f"{p}, camera #{i + 1}: {exc}") from None
    ids = [c.camera_id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{p}: camera ids must be unique; repeated: {', '.join(dup)}")
    return out
