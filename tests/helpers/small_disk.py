"""A real small disk for the full-disk tests: a tmpfs of a few MiB mounted on a folder, and a
filler file that takes every byte left.

    with small_disk(tmp_path / "disk") as disk:       # skips the test where mounting is not permitted
        ...
        filler = fill(disk)                             # now the disk is full
        filler.unlink()                                 # and now it has room again

Mounting needs root (or CAP_SYS_ADMIN); the mount is undone when the block ends, whatever happened.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, size: str = "3m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed: cannot make a small disk")
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs on {path} ({out.stderr.strip() or out.returncode}): "
                    "the full-disk tests need root or CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(folder: Path, name: str = "filler") -> Path:
    """Write a file in `folder` until its disk refuses more (ENOSPC); returns it."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = b"\0" * 4096
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        for n in (1024, 256, 64, 1):  # the last partial block too: not a byte left
            while True:
                try:
                    os.write(fd, block[:n])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free
