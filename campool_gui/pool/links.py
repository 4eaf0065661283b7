"""The master's links to its adopted workers, by worker id, and their hellos.

Every tick the pool thread asks `say_hellos`: each link whose hello is due (link.py says when)
sends the master's `Hello`; the answer comes back on the pool thread, where the worker's status
goes to the pool core (`on_hello`, i.e. `PoolCore.worker_hello`). A worker heard speaking another
protocol version goes there too (`on_incompatible`: `PoolCore.worker_incompatible`). An answer for a link that was
replaced or closed in the meantime is dropped.

Pool thread only (and the master's start and stop, before and after that thread runs).
"""
from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from functools import partial

from campool_gui.pool.wire_client import WorkerAddress, WorkerClient
from campool_worker import protocol as p
from campool_worker.security import KeyPair

from .link import WorkerLink
from .models import Worker

log = logging.getLogger(__name__)


class Links:
    def __init__(self, keys: KeyPair, hello: p.Hello, *, post: Callable[[Callable[[], None]], None],
                 on_telemetry: Callable[[str, p.Envelope], None],
                 on_hello: Callable[[str, p.WorkerStatus], None], command_timeout_s: float = 5.0,
                 on_incompatible: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._hello = hello
        self._post = post
        self._on_telemetry = on_telemetry
        self._on_hello = on_hello
        self._on_incompatible = on_incompatible
        self._command_timeout_s = command_timeout_s
        self._clock = clock
        self._links: dict[str, WorkerLink] = {}

    def open(self, w: Worker, client: WorkerClient | None = None) -> WorkerLink:
        """A link to ``w`` at its current address (replacing any older one); ``client``: one already connected."""
        self.close(w.worker_id)
        addr = WorkerAddress(w.address, w.cmd_port, w.pub_port, w.pair_port, w.public_key)
        link = WorkerLink(w.worker_id, addr, self._keys, command_timeout_s=self._command_timeout_s, client=client,
                          on_telemetry=self._on_telemetry, clock=self._clock)
        if self._on_incompatible is not None:  # it speaks another protocol version (after an upgrade of one end)
            link.client.on_incompatible = partial(self._incompatible_arrived, w.worker_id, link)
        self._links[w.worker_id] = link
        return link

    def _incompatible_arrived(self, worker_id: str, link: WorkerLink, text: str) -> None:
        """The link's I/O thread: to the pool thread, unless the link was replaced in the meantime."""
        def deliver() -> None:
            if self._links.get(worker_id) is link and self._on_incompatible is not None:
                self._on_incompatible(worker_id, text)
        self._post(deliver)

    def get(self, worker_id: str) -> WorkerLink | None:
        return self._links.get(worker_id)

    def close(self, worker_id: str) -> None:
        link = self._links.pop(worker_id, None)
        if link is not None:
            link.close()

    def close_all(self) -> None:
        for worker_id in list(self._links):
            self.close(worker_id)

    def say_hellos(self) -> None:
        for wid, link in self._links.items():
            if link.hello_due():
                link.say_hello(self._hello).add_done_callback(partial(self._answer_arrived, wid, link))

    def _answer_arrived(self, worker_id: str, link: WorkerLink, fut: concurrent.futures.Future[p.Message]) -> None:
        """The link's I/O thread: the answer goes to the pool thread."""
        self._post(partial(self._answered, worker_id, link, fut))

    def _answered(self, worker_id: str, link: WorkerLink, fut: concurrent.futures.Future[p.Message]) -> None:
        if self._links.get(worker_id) is not link:
            return     # replaced or closed while the hello was out
        status = link.hello_answered(fut)
        if status is not None:
            self._on_hello(worker_id, status)
