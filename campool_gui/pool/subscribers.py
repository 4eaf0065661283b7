"""Who hears the pool's events (views.py: WorkerChanged, CameraChanged, CountsChanged, PreviewFrame...):
the Qt bridge, the headless log, integrations. Callbacks run on the pool thread; a failing one is
logged and the others still hear the event."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]


class Subscribers:
    def __init__(self) -> None:
        self._callbacks: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; the returned function removes it again (any thread)."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
        return unsubscribe

    def emit(self, events: Iterable[object]) -> None:
        events = list(events)
        if not events:
            return
        with self._lock:
            callbacks = list(self._callbacks)
        for ev in events:
            for cb in callbacks:
                try:
                    cb(ev)
                except Exception:
                    log.exception("a pool event subscriber failed on %s", type(ev).__name__)
