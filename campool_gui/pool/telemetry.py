"""What workers publish, routed on the pool thread.

* heartbeat: the link hears it first (a restart or a silence means hello again), then the pool
  core (`PoolCore.heartbeat`); the worker's metrics go to the store, one row per minute;
* count batch: the core judges each event (epoch fencing, and a standby's shadowing), the store
  keeps them idempotently, then, on the pool thread again, the core counts what was new
  (`PoolCore.stored`), hears what is on disk (`PoolCore.acked`: the primary's watermark) and the
  link acks it. An event is acked only after its commit; a *held* one (a standby's event the
  primary may not have counted) is neither stored nor acked, so its worker keeps and resends it.
  `replay` takes events the core held in memory (a promoted standby's) the same way. The batch's
  coverage spans go to the store as they are (all of them, whatever their epoch or role: what
  counts as watched is judged when the history is read, coverage.py), with the worker's clock
  offset as the core estimates it now, and are acked (``spans_up_to``) after their commit too;
* preview frame: to the subscribers as the wire `PreviewFrame` itself; its zone occupancy to the store
  (peak per minute);
* alert: to the log, at the worker's level; the codes in `WORKER_TOLD_ALERTS` (what only the
  worker knows, e.g. its outbox was damaged at its start) also become the pool's alert of that
  kind. The worker tells such a notice again to every master that says hello (it may have
  published it before anyone listened): the same notice (same code and time) is raised once.

Telemetry of a worker that has no link any more (forgotten) is dropped.
"""
from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from campool_worker import protocol as p
from campool_worker.camera import CountEvent

from .core import PoolCore
from .fencing import Verdict
from .link import WorkerLink
from .links import Links
from .store import EventsResult, SpansResult, Store
from .subscribers import Subscribers

log = logging.getLogger(__name__)

WORKER_TOLD_ALERTS = frozenset({"outbox_damaged"})  # worker alert codes that are pool alert kinds
NOTICES_REMEMBERED = 1000


class TelemetryRouter:
    def __init__(self, core: PoolCore, store: Store, links: Links, subscribers: Subscribers, *,
                 post: Callable[[Callable[[], None]], None]) -> None:
        self._core = core
        self._store = store
        self._links = links
        self._subscribers = subscribers
        self._post = post
        self._routes: dict[type[Any], Callable[[str, WorkerLink, Any], None]] = {
            p.Heartbeat: self._heartbeat,
            p.CountBatch: self._counts,
            p.PreviewFrame: self._preview,
            p.AlertEvent: self._alert,
        }
        self._notices_seen: set[tuple[str, str, float]] = set()  # (worker, code, ts) already raised

    def route(self, worker_id: str, env: p.Envelope) -> None:
        """Pool thread: hand one telemetry message of ``worker_id`` to where it belongs."""
        link = self._links.get(worker_id)
        if link is None:
            return
        handle = self._routes.get(type(env.message))
        if handle is not None:
            handle(worker_id, link, env.message)

    def _heartbeat(self, wid: str, link: WorkerLink, msg: p.Heartbeat) -> None:
        w = self._core.workers.get(wid)
        link.heard(msg.status, was_alive=bool(w and w.alive))
        self._core.heartbeat(wid, msg.status)
        if w is not None and w.metrics is not None:
            self._store.add_metrics(wid, w.metrics)

    def _counts(self, wid: str, link: WorkerLink, msg: p.CountBatch) -> None:
        if msg.spans:
            self._spans(wid, list(msg.spans))
        if msg.events:
            self.replay(wid, list(msg.events))

    def replay(self, wid: str, events: list[CountEvent]) -> None:
        """Pool thread: judge ``events`` of worker ``wid``, store what is not held, ack what is stored."""
        verdicts = self._core.judge(events)
        kept = [(ev, v) for ev, v in zip(events, verdicts) if v.acked]
        if not kept:
            return
        events, verdicts = [ev for ev, _ in kept], [v for _, v in kept]
        fut = self._store.add_events(events, verdicts, wid)
        fut.add_done_callback(lambda f: self._post(lambda: self._stored(wid, events, verdicts, f)))

    def _stored(self, wid: str, events: list[CountEvent], verdicts: list[Verdict],
                fut: concurrent.futures.Future[EventsResult]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("worker %s: %d count event(s) not stored (%s); the worker will resend them",
                      wid, len(events), exc)
            return
        result = fut.result()
        self._core.stored(events, verdicts, result.inserted)
        link = self._links.get(wid)
        if link is None:
            for (cid, epoch), up_to_seq in result.acks.items():
                self._core.acked(cid, epoch, up_to_seq)
            return
        for (cid, epoch), up_to_seq in result.acks.items():
            self._core.acked(cid, epoch, up_to_seq)
            link.ack(cid, epoch, up_to_seq)

    def _spans(self, wid: str, spans: list[p.CoverageSpan]) -> None:
        w = self._core.workers.get(wid)
        fut = self._store.add_spans(spans, wid, w.clock_offset if w is not None else 0.0)
        fut.add_done_callback(lambda f: self._post(lambda: self._spans_stored(wid, len(spans), f)))

    def _spans_stored(self, wid: str, n: int, fut: concurrent.futures.Future[SpansResult]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("worker %s: %d coverage span(s) not stored (%s); the worker will resend them", wid, n, exc)
            return
        link = self._links.get(wid)
        if link is None:
            return
        for (cid, epoch), up_to in fut.result().acks.items():
            link.ack(cid, epoch, spans_up_to=up_to)

    def _preview(self, wid: str, link: WorkerLink, msg: p.PreviewFrame) -> None:
        # the wire message itself is the one preview type; the link's worker id is the trusted one
        self._subscribers.emit([replace(msg, worker_id=wid)])
        if msg.zones:
            self._store.add_zone_peaks(msg.camera_id, msg.ts, {z: sum(v.values()) for z, v in msg.zones.items()})

    def _alert(self, wid: str, link: WorkerLink, msg: p.AlertEvent) -> None:
        told = msg.code in WORKER_TOLD_ALERTS
        key = (wid, msg.code, msg.ts)
        if told and key in self._notices_seen:
            return  # told again after a hello: not news
        log.log(logging.WARNING if msg.level != "info" else logging.INFO, "worker %s%s: %s (%s)", wid,
                f" camera {msg.camera_id}" if msg.camera_id else "", msg.message, msg.code)
        if told:
            if len(self._notices_seen) >= NOTICES_REMEMBERED:
                self._notices_seen.clear()
            self._notices_seen.add(key)
            w = self._core.workers.get(wid)
            self._core.alerts.repeat(msg.code, wid, f"worker {w.name if w is not None and w.name else wid}: "
                                     f"{msg.message}")
