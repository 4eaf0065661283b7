"""`campool-worker masters`: list the master keys this worker trusts, and revoke one.

Keys adopted by pairing live in ``<data-dir>/masters.json`` and can be revoked here; keys from
the settings (``accept_masters`` in the file, ``CAMPOOL_ACCEPT_MASTERS``) can only be taken out
of the settings. A running daemon needs no restart: its `security.AllowList` rereads
``masters.json`` when the file changes, refuses the revoked master's next command with an
``unauthorized`` error and drops its telemetry subscription within a heartbeat.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from campool_worker.config import Settings, load_settings, settings_file
from campool_worker.security import AllowList, SecurityError, TrustedMaster

MIN_PREFIX = 8  # 48 bits of a key: enough to be unique among the few masters a worker trusts


def find_master(masters: list[TrustedMaster], text: str) -> TrustedMaster:
    """The one trusted master whose key is ``text`` or starts with it (case matters: Z85 keys are
    case-sensitive). Raises SecurityError, saying what to type instead, when there is none or
    more than one."""
    text = text.strip()
    if len(text) < MIN_PREFIX:
        raise SecurityError(f"give at least {MIN_PREFIX} characters of the master key, not {len(text)}; "
                            "`campool-worker masters` lists the keys")
    hits = [m for m in masters if m.key == text] or [m for m in masters if m.key.startswith(text)]
    if not hits:
        raise SecurityError(f"no trusted master key starts with {text!r}; `campool-worker masters` lists them "
                            "(check --data-dir; keys given to `serve --accept-master` are not listed: remove "
                            "them from that command line)")
    if len(hits) > 1:
        raise SecurityError(f"{text!r} is the start of {len(hits)} trusted master keys "
                            f"({', '.join(m.key for m in hits)}); give more characters of the one to remove")
    return hits[0]


def config_origin(args: Any) -> str:
    """Where the settings' master keys come from, in words an operator can act on."""
    if os.environ.get("CAMPOOL_ACCEPT_MASTERS") is not None:  # the environment overrides the file
        return "the CAMPOOL_ACCEPT_MASTERS environment variable"
    path = settings_file(args)
    return f"accept_masters in {path}" if path else "the worker's settings"


def _entry(m: TrustedMaster) -> dict[str, Any]:
    return {"key": m.key, "name": m.name, "added": m.added, "source": "config" if m.from_config else "pairing",
            "revocable": not m.from_config}


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts is not None else "-"


def _print_list(masters: list[TrustedMaster], settings: Settings, origin: str) -> None:
    out = sys.stdout
    if not masters:
        out.write(f"No master is trusted by the worker with data folder {settings.data_dir}.\n"
                  "Run `campool-worker pair` and adopt it from the control center (Workers > Adopt).\n")
        return
    width = max(12, *(len(m.name) for m in masters))
    out.write(f"Masters trusted by the worker with data folder {settings.data_dir}:\n")
    out.write(f"{'KEY':<40}  {'NAME':<{width}}  {'ADDED':<16}  FROM\n")
    for m in masters:
        source = f"config ({origin}; edit it there)" if m.from_config else "pairing"
        out.write(f"{m.key:<40}  {m.name or '-':<{width}}  {_when(m.added):<16}  {source}\n")
    if any(not m.from_config for m in masters):
        out.write("Revoke one adopted by pairing with: campool-worker masters --remove='KEY' "
                  f"(its first {MIN_PREFIX} characters are enough)\n")


def masters_command(args: Any) -> int:
    """`campool-worker masters [--remove KEY] [--json]`."""
    settings = load_settings(args)
    allow = AllowList(settings.data_dir / "masters.json", settings.accept_masters)
    origin = config_origin(args)
    remove = getattr(args, "remove", None)
    if remove is None:
        masters = allow.masters()
        if getattr(args, "json", False):
            sys.stdout.write(json.dumps({"data_dir": str(settings.data_dir),
                                         "masters": [_entry(m) for m in masters]}) + "\n")
        else:
            _print_list(masters, settings, origin)
        return 0

    target = find_master(allow.masters(), remove)
    if target.from_config:
        raise SecurityError(f"master key {target.key} comes from {origin}, not from pairing; remove it there "
                            "and restart the worker")
    if not allow.remove(target.key):  # someone else removed it since we listed it
        raise SecurityError(f"master key {target.key} is no longer trusted (removed meanwhile)")
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"removed": _entry(target)}) + "\n")
    else:
        sys.stdout.write(f"Revoked master {target.name or '(no name)'!r} (key {target.key}). A running worker "
                         "refuses it from now on; to trust it again, adopt this worker again with a pairing "
                         "code (`campool-worker pair`).\n")
    return 0
