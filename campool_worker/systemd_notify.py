"""What the worker tells its service manager: systemd's notify protocol (sd_notify(3)).

Under a ``Type=notify`` unit (installers/campool-worker.service) systemd hands the daemon
``NOTIFY_SOCKET``, a unix datagram socket (a path, or an abstract name written ``@name``), and,
with ``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). The worker sends:

* ``READY=1`` once its sockets are bound and its mDNS record is up (or its announcement failed,
  said in ``STATUS=``): only then does ``systemctl start`` return and units ordered after it start;
* ``WATCHDOG=1`` from the command loop, every half of ``WATCHDOG_USEC``. The loop is the thread
  that owns every socket and the outbox: when it hangs (a deadlock, a stopped process) the pings
  stop and systemd kills and restarts the worker. Camera threads cannot keep it alive;
* ``STOPPING=1`` when it drains on SIGTERM, so ``systemctl status`` says "deactivating".

Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing. A message that cannot be sent is
logged once and never stops the worker: the service manager's watchdog is what notices a worker
that cannot talk to it. No dependency: the protocol is one datagram per message.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Protocol

log = logging.getLogger(__name__)

ENV_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"


class Announcement(Protocol):
    """What the notifier needs of the mDNS announcer (campool_worker.discovery.Announcer)."""

    @property
    def settled(self) -> bool: ...

    @property
    def announced(self) -> bool: ...


def socket_address(value: str) -> str | bytes | None:
    """``NOTIFY_SOCKET`` as a `socket.sendto` address: a path, or an abstract name (``@name``
    becomes a leading NUL byte); None for anything else (systemd also knows vsock, unused here)."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """How often to ping the watchdog (half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3)
    advises), or None when no watchdog is asked for, or it is meant for another process."""
    usec = environ.get(ENV_WATCHDOG_USEC, "")
    watched = environ.get(ENV_WATCHDOG_PID, "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if watched and (not watched.isdigit() or int(watched) != pid):
        return None
    return int(usec) / 2e6


class ServiceNotifier:
    """The worker's side of sd_notify. One instance, used by the command loop's thread only.

    ``environ`` is read once; the variables are then removed from ``os.environ`` (as
    sd_notify's unset_environment does), so that no process the worker starts (ffmpeg, a
    helper) pings systemd in its name.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.monotonic,
                 pid: int | None = None) -> None:
        env = os.environ if environ is None else environ
        self._clock = clock
        self.address = socket_address(env.get(ENV_SOCKET, ""))
        self.watchdog_s = watchdog_interval_s(env, os.getpid() if pid is None else pid) if self.address else None
        if environ is None:
            for name in (ENV_SOCKET, ENV_WATCHDOG_USEC, ENV_WATCHDOG_PID):
                os.environ.pop(name, None)
        self._sock: socket.socket | None = None
        self._failed = False
        self._ready = False
        self._stopping = False
        self._next_ping = 0.0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def ready_sent(self) -> bool:
        return self._ready

    def send(self, *lines: str) -> bool:
        """Send one notification (``KEY=value`` lines); False (said once in the log) if it failed."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify the service manager on %r (%s); systemd may time the worker out",
                            self.address, exc)
            self._failed = True
            return False
        self._failed = False
        return True

    def loop_turn(self, announcement: Announcement | None, status: Callable[[], str]) -> None:
        """Called every turn of the command loop (at least ten times a second): READY=1 once the
        mDNS announcement has settled (or at once without mDNS), WATCHDOG=1 when due."""
        if self.address is None:
            return
        if not self._ready and (announcement is None or announcement.settled):
            self._ready = True
            note = "" if announcement is None or announcement.announced else \
                "; mDNS announcement failed: add this worker by address"
            self.send("READY=1", f"STATUS={status()}{note}", f"MAINPID={os.getpid()}")
        if self.watchdog_s is not None:
            now = self._clock()
            if now >= self._next_ping:
                self._next_ping = now + self.watchdog_s
                self.send("WATCHDOG=1")

    def stopping(self, status: str = "draining: stopping the cameras, flushing the outbox") -> None:
        """The worker drains (SIGTERM): systemd shows it deactivating until the process ends."""
        if self.address is None or self._stopping:
            return
        self._stopping = True
        self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


__all__ = ["ServiceNotifier", "socket_address", "watchdog_interval_s"]
