"""A fake service manager's end of sd_notify: a real unix datagram socket to hand a worker as
NOTIFY_SOCKET, and what it received, in order, with the time each message came.

    with NotifySocket() as sock:                      # an abstract name ("@...") by default
        env = {"NOTIFY_SOCKET": sock.address, "WATCHDOG_USEC": "1000000"}
        ...start the worker with env...
        ready = sock.wait_for("READY", timeout=20)     # the message's fields, as a dict
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self


class NotifySocket:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.address = str(path) if path is not None else f"@campool-test-notify-{uuid.uuid4().hex[:12]}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path) if path is not None else "\0" + self.address[1:])
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="notify-socket", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.messages.append((time.monotonic(), fields))
                self._cond.notify_all()

    def wait_for(self, key: str, *, after: float = 0.0, timeout: float = 20.0) -> dict[str, str]:
        """The first message received after monotonic time ``after`` that has field ``key``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, fields in self.messages:
                    if at >= after and key in fields:
                        return fields
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {key}= message within {timeout} s; received {self.messages}")
                self._cond.wait(left)

    def times_of(self, key: str, *, after: float = 0.0) -> list[float]:
        with self._cond:
            return [at for at, fields in self.messages if at >= after and key in fields]

    def close(self) -> None:
        self._closed = True
        self._thread.join(2)
        self.sock.close()
        if self.path is not None and self.path.exists():
            os.unlink(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
