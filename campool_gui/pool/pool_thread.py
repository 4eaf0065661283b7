"""The pool thread: the one thread that touches the pool core.

Everything that changes the core runs here, in order: intents from the UI, telemetry from the
worker links, replies to commands, mDNS records. Other threads hand it closures (`post` to
fire and forget, `call` to wait for the result); it runs them, calls ``on_tick`` every
``tick_s`` seconds, and after each round calls ``after_each`` (the master flushes the core's
effects there). No closure, tick or flush that fails stops the thread: the error is logged.
"""
from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import MasterError

log = logging.getLogger(__name__)

T = TypeVar("T")

TICK_S = 0.2
BATCH_MAX = 2000          # closures run between two looks at the clock


class PoolThread:
    def __init__(self, *, on_tick: Callable[[], None], after_each: Callable[[], None], tick_s: float = TICK_S,
                 name: str = "campool-pool") -> None:
        self.tick_s = tick_s
        self._on_tick = on_tick
        self._after_each = after_each
        self._name = name
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ident: int | None = None

    # ------------------------------------------------------------- any thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the closure or tick at hand and end; closures still queued are dropped."""
        self._stop.set()
        self.post(lambda: None)   # wake it up
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def on_pool_thread(self) -> bool:
        return threading.get_ident() == self._ident

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pool thread soon; its errors are logged there."""
        self._inbox.put(fn)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the pool thread and return its result (or raise its error).

        From the pool thread itself it runs at once. Raises MasterError when the thread is not
        running, and concurrent.futures.TimeoutError when it is too busy to answer in ``timeout``."""
        if self.on_pool_thread():
            return fn()
        if not self.running:
            raise MasterError("the master is not running; start it first")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

        self.post(run)
        return fut.result(timeout)

    # ------------------------------------------------------------- the thread

    def _run(self) -> None:
        self._ident = threading.get_ident()
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self._run_posted(max(0.0, next_tick - time.monotonic()))
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.tick_s
                self._guarded(self._on_tick, "pool tick error")
            self._guarded(self._after_each, "pool flush error")

    def _run_posted(self, wait_s: float) -> None:
        """Run what was posted: wait up to ``wait_s`` for the first closure, then take what is queued."""
        try:
            fn = self._inbox.get(timeout=wait_s)
        except queue.Empty:
            return
        self._guarded(fn, "pool thread error")
        for _ in range(BATCH_MAX):
            try:
                fn = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._guarded(fn, "pool thread error")

    @staticmethod
    def _guarded(fn: Callable[[], None], what: str) -> None:
        try:
            fn()
        except Exception:
            log.exception("%s", what)
