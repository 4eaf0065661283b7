"""The pool core's effects leave the pool thread, in the order that keeps the pool safe:

1. records to the store, and wait for the commit: a new epoch is on disk before any worker
   hears of it (a master that dies right after an assignment restarts with that epoch);
2. count events the core held in memory and now takes (a promoted standby's), judged and stored
   like arriving ones, after the promotion's records;
3. actions to the workers (`ActionDispatcher`);
4. events to the subscribers.

`flush` runs on the pool thread after every round of posted work and ticks.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from campool_worker.camera import CountEvent

from .core import PoolCore
from .dispatch import ActionDispatcher
from .store import Store
from .subscribers import Subscribers

log = logging.getLogger(__name__)

RECORDS_COMMIT_TIMEOUT_S = 30.0


class EffectsFlush:
    """Takes what the core queued in its `Effects` and sends each kind where it goes, in order."""

    def __init__(self, core: PoolCore, store: Store, dispatcher: ActionDispatcher, subscribers: Subscribers,
                 replay: Callable[[str, list[CountEvent]], None] | None = None) -> None:
        self._core = core
        self._store = store
        self._dispatcher = dispatcher
        self._subscribers = subscribers
        self._replay = replay

    def flush(self) -> None:
        records = self._core.take_records()
        if records:
            try:
                self._store.save_records(records).result(RECORDS_COMMIT_TIMEOUT_S)
            except Exception:
                log.exception("could not save %d pool record(s)", len(records))
        if self._replay is not None:
            for wid, events in self._core.take_replay():
                self._replay(wid, events)
        for action in self._core.take_actions():
            try:
                self._dispatcher.send(action)
            except Exception:
                log.exception("worker %s: could not send %s", action.worker_id, type(action).__name__)
        self._subscribers.emit(self._core.take_events())
