"""One link per adopted worker: it executes the pool core's actions, retries what is idempotent,
and knows when to say hello.

Built on campool_gui.pool.wire_client.WorkerClient (a CURVE DEALER + SUB on its own I/O thread;
libzmq reconnects the sockets by itself, 200 ms doubling to 5 s). On top of it:

* `execute(action)`: an action of the pool core becomes its command (commands.COMMANDS: the
  message, its retries, its preview subscription) and the reply an `Outcome`;
* `send(msg, retries=n)`: idempotent commands are resent after a timeout with backoff 0.5 s,
  1 s, 2 s... (`campool_worker.supervision.Backoff`); assignments are not (the pool core
  decides retries, with a fresh epoch);
* `ack(camera, epoch, up_to_seq, spans_up_to)`: acks only what is newer than the last ack of that
  epoch (count events and coverage spans have a seq each; one `AckCounts` carries both);
* hello: due when the link opens, when a silent worker speaks again and when its boot id
  changes (it restarted; `heard`); retried with backoff 1 s doubling to 30 s until answered.
  Hello makes the worker republish every unacked count event, so the acks start over.

Threads: `send` and `execute` may be called from any thread; the hello, ack and preview state
is the pool thread's. Liveness is the pool core's job (heartbeats), not the link's.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

from campool_gui.pool.wire_client import RequestTimeout, WorkerAddress, WorkerClient
from campool_worker import protocol as p
from campool_worker.security import KeyPair
from campool_worker.supervision import Backoff

from .actions import Action
from .commands import Outcome, command_for

log = logging.getLogger(__name__)

COMMAND_RETRY_S = 0.5         # first resend of an idempotent command after a timeout; doubles
COMMAND_RETRY_MAX_S = 8.0
HELLO_RETRY_S = 1.0           # first hello retry; doubles up to HELLO_RETRY_MAX_S
HELLO_RETRY_MAX_S = 30.0
HELLO_TIMEOUT_S = 3.0


class WorkerLink:
    def __init__(self, worker_id: str, address: WorkerAddress, keys: KeyPair, *,
                 on_telemetry: Callable[[str, p.Envelope], None], command_timeout_s: float = 5.0,
                 client: WorkerClient | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.worker_id = worker_id
        self.address = address
        self.command_timeout_s = command_timeout_s
        self.client = client or WorkerClient(address, keys)
        self.client.on_telemetry = lambda env: on_telemetry(self.worker_id, env)
        self._clock = clock
        self._boot_id = ""
        self._hello_ok = False
        self._hello_inflight = False
        self._next_hello_at = 0.0
        self._hello_backoff = Backoff(HELLO_RETRY_S, HELLO_RETRY_MAX_S, clock=clock)
        self._acked: dict[tuple[str, int], int] = {}
        self._spans_acked: dict[tuple[str, int], int] = {}
        self._previews: set[str] = set()
        self._timers: set[threading.Timer] = set()
        self._closed = False

    # ------------------------------------------------------------- commands

    def execute(self, action: Action) -> concurrent.futures.Future[Outcome]:
        """Send the command for ``action``; the future resolves to its outcome (never raises)."""
        cmd = command_for(action)
        if cmd.preview is not None:
            self.set_preview(*cmd.preview)
        outcome: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        self.send(cmd.message, retries=cmd.retries).add_done_callback(
            lambda f: outcome.set_result(Outcome.of_future(f)))
        return outcome

    def send(self, msg: p.Message, *, retries: int = 0,
             timeout: float | None = None) -> concurrent.futures.Future[p.Message]:
        """Send a command; the returned future resolves to the reply or the last RequestTimeout."""
        outer: concurrent.futures.Future[p.Message] = concurrent.futures.Future()
        backoff = Backoff(COMMAND_RETRY_S, COMMAND_RETRY_MAX_S)
        self._attempt(msg, retries, backoff, timeout or self.command_timeout_s, outer)
        return outer

    def _attempt(self, msg: p.Message, retries: int, backoff: Backoff, timeout: float,
                 outer: concurrent.futures.Future[p.Message]) -> None:
        if self._closed:
            outer.set_exception(RequestTimeout(f"{msg.TYPE}: the link to worker {self.worker_id} is closed"))
            return
        inner = self.client.request(msg, timeout)

        def done(f: concurrent.futures.Future[p.Message]) -> None:
            exc = f.exception()
            if exc is None:
                outer.set_result(f.result())
                return
            if isinstance(exc, RequestTimeout) and retries > 0 and not self._closed:
                delay = backoff.failed()
                log.info("worker %s: %s timed out; retrying in %.1f s", self.worker_id, msg.TYPE, delay)
                self._later(delay, lambda: self._attempt(msg, retries - 1, backoff, timeout, outer))
                return
            outer.set_exception(exc)

        inner.add_done_callback(done)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            fn()

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def ack(self, camera_id: str, epoch: int, up_to_seq: int | None = None, spans_up_to: int | None = None) -> None:
        """Tell the worker every event of (camera, epoch) up to ``up_to_seq`` is stored, and every closed
        coverage span up to ``spans_up_to``; once per advance of either (None: no news of that one).
        The message carries the other one as last acked: acking it again deletes nothing more."""
        key = (camera_id, epoch)
        seq, spans = self._acked.get(key, 0), self._spans_acked.get(key, 0)
        news = (up_to_seq is not None and up_to_seq > seq) or (spans_up_to is not None and spans_up_to > spans)
        if not news:
            return
        seq, spans = max(seq, up_to_seq or 0), max(spans, spans_up_to or 0)
        self._acked[key], self._spans_acked[key] = seq, spans
        self.send(p.AckCounts(camera_id, epoch, seq, spans))

    def set_preview(self, camera_id: str, on: bool) -> None:
        """Subscribe to (or drop) the camera's preview topic."""
        topic = p.TOPIC_PREVIEW + camera_id.encode()
        if on and camera_id not in self._previews:
            self.client.subscribe(topic)
            self._previews.add(camera_id)
        elif not on and camera_id in self._previews:
            self.client.unsubscribe(topic)
            self._previews.discard(camera_id)

    # ------------------------------------------------------------- hello

    def hello_due(self) -> bool:
        return not self._hello_ok and not self._hello_inflight and self._clock() >= self._next_hello_at

    def say_hello(self, hello: p.Hello, timeout: float = HELLO_TIMEOUT_S) -> concurrent.futures.Future[p.Message]:
        self._hello_inflight = True
        return self.send(hello, timeout=timeout)

    def hello_answered(self, fut: concurrent.futures.Future[p.Message]) -> p.WorkerStatus | None:
        """The hello's reply came (or its timeout): the worker's status, or None (retried later)."""
        exc = fut.exception()
        reply = None if exc is not None else fut.result()
        if not isinstance(reply, p.HelloReply):
            self._hello_inflight = False
            delay = self._hello_backoff.failed()
            self._next_hello_at = self._clock() + delay
            log.info("worker %s: hello not answered (%s); retrying in %.0f s", self.worker_id, exc or reply, delay)
            return None
        status = reply.status
        if status.worker_id != self.worker_id:
            log.error("worker at %s answers as %s, not %s: its data folder was replaced; remove and adopt it again",
                      self.address.host, status.worker_id, self.worker_id)
        self.hello_done(status.boot_id)
        return status

    def hello_done(self, boot_id: str) -> None:
        """The worker answered a hello (here or at adoption) from its run ``boot_id``."""
        self._hello_inflight = False
        self._hello_ok = True
        self._hello_backoff.reset()
        self._boot_id = boot_id

    def heard(self, status: p.WorkerStatus, was_alive: bool) -> None:
        """A heartbeat came: a worker that restarted (new boot id) or was silent gets a hello again."""
        if self._boot_id and status.boot_id != self._boot_id:
            if self._hello_ok:  # once per restart, not once per heartbeat until the hello is answered
                log.info("worker %s restarted (boot %s -> %s)", self.worker_id, self._boot_id, status.boot_id)
            self._need_hello()
        elif not was_alive and self._hello_ok:
            self._need_hello()     # it was silent: re-sync its cameras and backlog

    def _need_hello(self) -> None:
        self._hello_ok = False
        self._next_hello_at = 0.0
        self._acked.clear()      # the hello makes it resend its backlog: ack it again
        self._spans_acked.clear()

    # ------------------------------------------------------------- life cycle

    def close(self) -> None:
        self._closed = True
        for t in list(self._timers):
            t.cancel()
        self.client.close()
