"""Setting a damaged SQLite file aside, for the worker's outbox and the master's history alike.

The file and its -wal / -shm companions are renamed together (a WAL holds committed pages the
main file does not have yet), so the kept copy is whole for whoever tries to recover it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its -wal / -shm files) to ``<name>.damaged-<time>``, never over another."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target
