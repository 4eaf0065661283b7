"""One link per adopted worker: commands with timeouts and retries, telemetry, hello with backoff.

Built on campool_gui.pool.wire_client.WorkerClient (a CURVE DEALER + SUB on its own I/O thread;
libzmq reconnects the sockets by itself, 200 ms doubling to 5 s). On top of it:
- `send(msg, retries=n)`: idempotent commands (unassign, fence, drain, preview) are
  retried after a timeout with backoff 0.5 s, 1 s, 2 s...; assignments are not (the pool
  core decides retries, with a fresh epoch);
- hello: sent when the link opens, when a silent worker speaks again and when its boot
  id changes (it restarted); retried with backoff 1 s doubling to 30 s until answered.
  Hello makes the worker republish every unacked count event.
Liveness is the pool core's job (heartbeats), not the link's.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

from campool_worker import protocol as p
from campool_gui.pool.wire_client import RequestTimeout, WorkerAddress, WorkerClient
from campool_worker.security import KeyPair


log = logging.getLogger(__name__)

HELLO_BACKOFF_MAX_S = 30.0


class WorkerLink:
    def __init__(self, worker_id: str, address: WorkerAddress, keys: KeyPair, *,
                 on_telemetry: Callable[[str, p.Envelope], None], command_timeout_s: float = 5.0,
                 client: WorkerClient | None = None) -> None:
        self.worker_id = worker_id
        self.address = address
        self.command_timeout_s = command_timeout_s
        self.client = client or WorkerClient(address, keys)
        self.client.on_telemetry = lambda env: on_telemetry(self.worker_id, env)
        self.boot_id = ""
        self.hello_ok = False
        self.hello_inflight = False
        self.next_hello_at = 0.0
        self.hello_backoff = 1.0
        self.acked: dict[tuple[str, int], int] = {}
        self.previews: set[str] = set()
        self._timers: set[threading.Timer] = set()
        self._closed = False

    def send(self, msg: p.Message, *, retries: int = 0, timeout: float | None = None) -> concurrent.futures.Future:
        """Send a command; the returned future resolves to the reply or the last RequestTimeout."""
        outer: concurrent.futures.Future = concurrent.futures.Future()
        self._attempt(msg, retries, 0.5, timeout or self.command_timeout_s, outer)
        return outer

    def _attempt(self, msg: p.Message, retries: int, delay: float, timeout: float,
                 outer: concurrent.futures.Future) -> None:
        if self._closed:
            outer.set_exception(RequestTimeout(f"{msg.TYPE}: the link to worker {self.worker_id} is closed"))
            return
        inner = self.client.request(msg, timeout)

        def done(f: concurrent.futures.Future) -> None:
            exc = f.exception()
            if exc is None:
                outer.set_result(f.result())
                return
            if isinstance(exc, RequestTimeout) and retries > 0 and not self._closed:
                log.info("worker %s: %s timed out; retrying in %.1f s", self.worker_id, msg.TYPE, delay)
                t = threading.Timer(delay, self._attempt, (msg, retries - 1, delay * 2, timeout, outer))
                t.daemon = True
                self._timers.add(t)
                t.start()
                return
            outer.set_exception(exc)

        inner.add_done_callback(done)

    def set_preview(self, camera_id: str, on: bool) -> None:
        topic = p.TOPIC_PREVIEW + camera_id.encode()
        if on and camera_id not in self.previews:
            self.client.subscribe(topic)
            self.previews.add(camera_id)
        elif not on and camera_id in self.previews:
            self.client.unsubscribe(topic)
            self.previews.discard(camera_id)

    def hello_due(self, now: float) -> bool:
        return not self.hello_ok and not self.hello_inflight and now >= self.next_hello_at

    def hello_failed(self, now: float) -> None:
        self.hello_inflight = False
        self.next_hello_at = now + self.hello_backoff
        self.hello_backoff = min(self.hello_backoff * 2, HELLO_BACKOFF_MAX_S)

    def hello_done(self, boot_id: str) -> None:
        self.hello_inflight = False
        self.hello_ok = True
        self.hello_backoff = 1.0
        self.boot_id = boot_id

    def need_hello(self) -> None:
        """The worker was silent or restarted: say hello again (it resends its backlog)."""
        self.hello_ok = False
        self.next_hello_at = 0.0
        self.acked.clear()

    def close(self) -> None:
        self._closed = True
        for t in list(self._timers):
            t.cancel()
        self.client.close()
