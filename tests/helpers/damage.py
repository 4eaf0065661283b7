"""Ways a SQLite file gets damaged (a bad disk, a copy cut short, a stray write), for the tests
that check nothing is lost and the damaged file is kept aside."""
from __future__ import annotations

from pathlib import Path


def junk(db: Path) -> None:
    db.write_bytes(b"this is not a database\n" * 100)


def truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3 - 7])


def pages_damaged(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for off in range(page, len(data), 7):   # every page but the header page
        data[off] = 0xA5
    db.write_bytes(bytes(data))


def emptied(db: Path) -> None:
    db.write_bytes(b"")
