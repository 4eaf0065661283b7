"""Opening the worker's outbox: a damaged file is kept aside, and the worker stays who it is.

An outbox that cannot be used (not an SQLite file, truncated, pages damaged, or an empty file:
SQLite would take a 0-byte file for a new database, and an outbox that vanished must not look
new) is never overwritten and never silently replaced. It is moved aside as
``worker.db.damaged-<time>`` (with its -wal and -shm files), one ERROR line says what was wrong,
what is gone and what to do, a fresh outbox starts, and the service tells the masters (an
``outbox_damaged`` alert). What is gone with it: the count events no master had acknowledged
yet (they stay in the kept file) and the camera assignments (the masters see the worker run no
camera and place its cameras again). An outbox that is missing where this worker had made one
(``worker_id.json`` says so) is told the same way, with nothing to keep.

Who the worker is does not depend on the outbox: its id is in ``worker_id.json`` (identity.py)
and, as before, in the outbox's meta table. The file wins; a worker made before the file existed
takes the id from its outbox and writes the file. Only when neither place holds an id is a new
one made, and when the outbox was damaged then, the line says that the id changed.

This is the outbox's counterpart of the master's campool_gui/pool/history_file.py.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from campool_worker.damaged_files import move_aside
from campool_worker.identity import IDENTITY_FILE, Identity, IdentityError, new_worker_id, read_identity, write_identity
from campool_worker.outbox import Outbox, OutboxError, OutboxWriteError, is_damage, is_no_room

log = logging.getLogger(__name__)

OUTBOX_FILE = "worker.db"
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass
class OpenedOutbox:
    outbox: Outbox
    worker_id: str
    damaged: str | None = None  # the line the operator read (and the masters get) when the outbox was lost


def file_problem(path: Path) -> str | None:
    """What is wrong with the outbox file before SQLite sees it, or None (absent or plausible)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return "it is empty (0 bytes)"
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(SQLITE_HEADER):
        return "it is not an SQLite database"
    return None


def open_outbox(data_dir: Path) -> OpenedOutbox:
    """Open (or create) ``<data_dir>/worker.db`` and settle the worker's id (see the module
    docstring). Raises OutboxError or IdentityError (one line each) when it cannot go on."""
    path = data_dir / OUTBOX_FILE
    id_path = data_dir / IDENTITY_FILE
    id_problem = None
    try:
        known = read_identity(id_path)
    except ValueError as exc:
        known, id_problem = None, str(exc)
    existed = path.exists()
    outbox: Outbox | None = None
    if not existed and known is not None and known.outbox_made is not None:
        problem: str | None = f"it is missing (this worker made it on {_when(known.outbox_made)})"
    else:
        problem = file_problem(path)
        if problem is None:
            outbox, problem = _open_sound(path)
    held_id = outbox.get_meta("worker_id") if outbox is not None and problem is None else None
    if id_problem is not None:
        if held_id is None:
            if outbox is not None:
                outbox.close()
            raise IdentityError(
                f"the worker id file {id_path} is damaged ({id_problem}) and the outbox {path} holds no id "
                f"({problem or 'it is new'}): this worker's id is unknown. Restore {IDENTITY_FILE} from a backup, "
                f"or move it away to start as a new worker (its masters then see a new worker)")
        kept_id = move_aside(id_path)
        log.warning("the worker id file %s was damaged (%s); it was kept as %s and written again from the outbox "
                    "(worker id %s)", id_path, id_problem, kept_id.name, held_id)
    worker_id = known.worker_id if known is not None else held_id
    id_lost = worker_id is None and problem is not None and existed and known is None
    if worker_id is None:
        worker_id = new_worker_id()
    elif held_id is not None and held_id != worker_id:
        log.warning("the outbox %s was written by worker %s; this worker is %s (%s), and its id stays", path,
                    held_id, worker_id, id_path)
    note = None
    if problem is not None:
        if outbox is not None:
            outbox.close()
        note = _replace_damaged(path, problem, worker_id, id_lost)
        outbox = _create(path)
    assert outbox is not None
    made = known.outbox_made if known is not None and known.outbox_made is not None and note is None else time.time()
    _settle_identity(outbox, id_path, known, Identity(worker_id, made))
    return OpenedOutbox(outbox, worker_id, note)


def _open_sound(path: Path) -> tuple[Outbox | None, str | None]:
    """(the outbox, None) when SQLite finds the file sound, (None, what is wrong) when it is damaged.

    On a full disk SQLite cannot make the outbox's shared-memory file (``-shm``, gone after a
    clean stop) and reports an I/O error: then the outbox is opened exclusively, which needs no
    such file, so that the worker starts, counts into memory and commits once there is room."""
    try:
        try:
            outbox = Outbox(path)
        except sqlite3.OperationalError as exc:
            if not is_no_room(exc) or not path.exists():
                raise
            outbox = Outbox(path, exclusive=True)
            log.warning("cannot open the outbox %s as usual (%s; is the disk full?): it is open for this worker "
                        "alone, so the sqlite3 shell cannot read it until the worker restarts with room", path, exc)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise _cannot_open(path, exc) from None
        return None, f"SQLite cannot open it: {exc}"
    try:
        complaint = outbox.quick_check()
        if complaint is None:
            return outbox, None
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            outbox.close()
            raise _cannot_open(path, exc) from None
        complaint = str(exc)
    outbox.close()
    return None, f"SQLite finds it damaged: {complaint}"


def _cannot_open(path: Path, exc: sqlite3.Error) -> OutboxError:
    return OutboxError(f"cannot open the outbox {path}: {exc}; check that the data folder is writable, has free "
                       "space, and that no other campool-worker uses it")


def _create(path: Path) -> Outbox:
    try:
        return Outbox(path)
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot make a new outbox {path}: {exc}; free space in the data folder and start "
                          "the worker again") from None


def _replace_damaged(path: Path, problem: str, worker_id: str, id_lost: bool) -> str:
    """Keep the damaged file aside and say so in one ERROR line; returns that line."""
    assignments = "this worker's camera assignments are gone: its masters place its cameras again"
    if not path.exists():
        what = (f"a new, empty outbox was started: count events it held that no master had acknowledged are lost, "
                f"and {assignments}")
        todo = "Find out what removed it (a clean-up job, a backup restored into the wrong folder)"
    else:
        try:
            kept = move_aside(path)
        except OSError as exc:
            raise OutboxError(f"the outbox {path} is damaged ({problem}) and cannot be moved aside ({exc}); "
                              f"move it away by hand and start the worker again") from None
        if kept.stat().st_size == 0:
            events = "count events it held that no master had acknowledged are lost"
            todo = "Find out what emptied it (a copy that ran out of space, a clean-up job)"
        else:
            events = "count events in it that no master had acknowledged are not sent (they stay in the kept file)"
            todo = f"To look into it, stop the worker and open {kept.name} with sqlite3, or ask for help with it"
        what = f"it was kept as {kept.name} and a new, empty outbox was started: {events}, and {assignments}"
    who = (f"it had no {IDENTITY_FILE} (made by an older campool-worker), so its id is lost: it starts as the new "
           f"worker {worker_id}, which its masters see as a new worker" if id_lost else f"it stays worker {worker_id}")
    note = f"the outbox {path} is damaged ({problem}); {what}; {who}. {todo}"
    log.error("%s", note)
    return note


def _settle_identity(outbox: Outbox, id_path: Path, known: Identity | None, identity: Identity) -> None:
    """The id in both places. A worker on a full disk must still start: a failed write of either
    is a warning (the other place still holds the id), never a reason to stop."""
    try:
        outbox.set_meta("worker_id", identity.worker_id)
    except OutboxWriteError as exc:
        log.warning("cannot note the worker id in the outbox (%s); it is kept in %s", exc, id_path)
    if known == identity:
        return
    try:
        write_identity(id_path, identity)
    except OSError as exc:
        log.warning("cannot write the worker id file %s (%s); the id %s is kept in the outbox, and the file is "
                    "written at the next start", id_path, exc, identity.worker_id)


def _when(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(wall))
