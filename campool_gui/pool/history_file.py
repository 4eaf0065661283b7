"""Opening the master's data folder: private permissions, its identity, and a damaged history.

The folder holds the CURVE keys, the history database (camera definitions with their stream URLs,
adopted workers and their pinned keys, every count) and the logs: it is made 0700 and the
database files 0600, so another local user reads none of it.

A history database that cannot be used (not an SQLite file, truncated, pages damaged, or an
empty file where a database was) is never overwritten and never silently replaced: it is moved
aside as ``history.db.damaged-<time>`` (with its -wal / -shm files), one log line says what was
wrong and what to do, a fresh history starts, and the pool raises an alert. The master's id
lives in its own small file beside the keys, so a lost database does not change who the master
is to its workers.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campool_worker.damaged_files import move_aside

from .store import Retention, Store, StoreError

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
MASTER_ID_FILE = "master_id"


@dataclass
class OpenedHistory:
    store: Store
    state: dict[str, Any]          # what PoolCore.restore needs
    damaged: str | None = None     # one line for the operator when a damaged file was moved aside


def make_private(folder: Path) -> None:
    """Create the data folder (0700) or tighten an existing one; POSIX only (Windows ACLs are per user)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(folder, 0o700)


def _private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does: its -wal and -shm files take the same mode."""
    if os.name != "posix":
        return
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.chmod(p, 0o600)


def why_unusable(path: Path) -> str | None:
    """What is wrong with the file at `path` before SQLite sees it, or None (absent or plausible)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        # SQLite would take an empty file as a new database: a history that vanished must not look new
        return "it is empty (0 bytes)"
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(SQLITE_HEADER):
        return "it is not an SQLite database"
    return None


def open_history(path: Path, *, retention: Retention | None = None) -> OpenedHistory:
    """Open (or create) the history database and read the pool state from it; a damaged file is
    moved aside and a fresh one started (see the module docstring)."""
    problem = why_unusable(path)
    if problem is None:
        try:
            _private_file(path)
            store = Store(path, retention=retention)
        except StoreError as exc:
            if not isinstance(exc.__cause__, sqlite3.DatabaseError):
                raise
            problem = f"SQLite cannot open it ({exc.__cause__})"
        else:
            try:
                return OpenedHistory(store, store.load_state())
            except sqlite3.DatabaseError as exc:
                store.close()
                problem = f"SQLite cannot read it ({exc})"
    kept = move_aside(path)
    note = (f"the history database {path} is damaged ({problem}); it was kept as {kept.name} and a new, empty "
            f"history was started: cameras and workers must be added again (adopted workers still trust this "
            f"master's key). To recover, stop campool-gui and restore a backup of {path.name}, or ask for help "
            f"with the kept file")
    log.error("%s", note)
    _private_file(path)
    store = Store(path, retention=retention)
    return OpenedHistory(store, store.load_state(), damaged=note)


def master_id(data_dir: Path, store: Store) -> str:
    """This master's id: kept in its own file (and, as before, in the history's meta table), so a
    replaced history keeps the master's identity. Made once."""
    file = data_dir / MASTER_ID_FILE
    try:
        known = file.read_text().strip()
    except FileNotFoundError:
        known = ""
    if not known:
        known = store.meta("master_id") or uuid.uuid4().hex[:12]
        tmp = file.with_suffix(".tmp")
        tmp.write_text(known + "\n")
        if os.name == "posix":
            os.chmod(tmp, 0o600)
        os.replace(tmp, file)
    if store.meta("master_id") != known:
        store.set_meta("master_id", known).result(10)
    return known
