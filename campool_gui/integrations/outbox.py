"""What MQTT must not lose while the broker is away, on disk (SQLite, mode 0600, beside the history).

* ``queue``: the event messages (alerts raised / acknowledged / resolved), in order, until the
  broker has acknowledged them (PUBACK). Bounded: past ``max_messages`` the oldest are dropped,
  counted and logged once, so a broker gone for weeks cannot fill the disk. State topics (totals,
  today's totals, rates, occupancy, camera and worker state, discovery) are *not* queued: they are
  retained, and the whole current state is published again on every (re)connect, so the latest
  value always reaches the broker whatever happened in between.
* ``retained``: the retained topics this master has set on the broker (and, for discovery configs,
  what it sent), so that after a restart it can clear the topics of a camera, line or worker deleted
  meanwhile and remove a device's components in Home Assistant.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttOutbox:
    def __init__(self, path: Path, max_messages: int = 10_000) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self.dropped = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, "
                         "queued_at REAL NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload TEXT)")
        self._count = int(self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    # ------------------------------------------------------------- the event queue

    def put(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        with self._lock:
            self._db.execute("INSERT INTO queue (topic, payload, qos, retain, queued_at) VALUES (?,?,?,?,?)",
                             (topic, data, qos, int(retain), time.time()))
            self._count += 1
            over = self._count - self.max_messages
            if over > 0:
                self._db.execute("DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT ?)", (over,))
                self._count -= over
                if self.dropped == 0:
                    log.warning("MQTT queue %s is full (%d messages): dropping the oldest alert events until the "
                                "broker is back", self.path, self.max_messages)
                self.dropped += over

    def pending(self, limit: int, skip: set[int] | frozenset[int] = frozenset()) -> list[QueuedMessage]:
        """The oldest messages not in ``skip`` (those already handed to the client), in order."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, qos, retain FROM queue ORDER BY id LIMIT ?",
                                    (limit + len(skip),)).fetchall()
        return [QueuedMessage(i, t, bytes(p), q, bool(r)) for i, t, p, q, r in rows if i not in skip][:limit]

    def done(self, message_id: int) -> None:
        """The broker has it (PUBACK)."""
        with self._lock:
            if self._db.execute("DELETE FROM queue WHERE id = ?", (message_id,)).rowcount:
                self._count -= 1

    # ------------------------------------------------------------- retained topics set on the broker

    def retained(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self._db.execute("SELECT topic, payload FROM retained").fetchall())

    def remember_retained(self, topics: dict[str, str | None]) -> None:
        """Topics now set on the broker; the payload is kept for discovery configs only (None otherwise)."""
        if not topics:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO retained VALUES (?, ?)", list(topics.items()))
            self._db.execute("COMMIT")

    def forget_retained(self, topics: list[str]) -> None:
        """Topics cleared on the broker (their empty retained message was acknowledged)."""
        if not topics:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM retained WHERE topic = ?", [(t,) for t in topics])
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
