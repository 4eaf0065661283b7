"""Who this worker is: its id, in ``worker_id.json`` in the data folder, and when it made its outbox.

The masters know a worker by its id (and pin its key). The id is also in the outbox's meta table,
as it always was, but an outbox can be damaged, emptied or deleted, and that must never turn the
worker into another one behind the operator's back; so the id has a small file of its own (0600,
written whole through a rename, so a reader never sees half of it). The file also says when this
worker first made its outbox (``outbox_made``, wall time): an outbox that is missing where one
was made is a lost outbox (told as such), not a first start.

Opening the outbox and deciding the id from both places is outbox_file.py's job; this module
only reads and writes the file.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from campool_worker.errors import CampoolError

IDENTITY_FILE = "worker_id.json"
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class IdentityError(CampoolError):
    """The worker's id cannot be known; the text says which files to look at."""


@dataclass(frozen=True)
class Identity:
    worker_id: str
    outbox_made: float | None = None  # wall time this worker first made its outbox; None: not yet known


def new_worker_id() -> str:
    return uuid.uuid4().hex[:12]


def valid_worker_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def read_identity(path: Path) -> Identity | None:
    """The identity in ``path``; None when there is no such file. Raises ValueError (with what is
    wrong) when the file is there but does not hold one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"it cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("it is not JSON") from None
    if not isinstance(data, dict) or not valid_worker_id(data.get("worker_id")):
        raise ValueError("it holds no worker id")
    made = data.get("outbox_made")
    return Identity(data["worker_id"], float(made) if isinstance(made, int | float) else None)


def write_identity(path: Path, identity: Identity) -> None:
    """Write the file whole (a rename), private to the worker's user. Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"worker_id": identity.worker_id, "outbox_made": identity.outbox_made}, fh)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if os.name == "posix":
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
