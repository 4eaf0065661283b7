"""Which workers this master trusts, and how one comes to be trusted.

* restore: the workers adopted in an earlier run (from the store) get their pinned key back
  and a link;
* discovery: mDNS records (`campool_worker.discovery.WorkerBrowser`) go through the registry
  (registry.py: key pinning, impostors flagged) into the pool core; an adopted worker that
  moved gets a new link at its new address;
* adoption (`adopt` a discovered worker, or `add_worker` by address): pairing with the code
  the worker shows (wire_client.pair_with_worker), then a `Hello` on the caller's thread, then,
  on the pool thread, the worker is pinned, put in the core and linked. These block the caller
  (seconds): call them off the UI thread;
* `forget_worker` unpins and drops a worker; `set_worker_site` sets its site and groups (site
  affinity; stored with the worker).

Intents run on the pool thread through `PoolThread.call`; `discovered` is posted there.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from campool_gui.pool.wire_client import (
    PairingFailed,
    RequestFailed,
    RequestTimeout,
    WorkerAddress,
    WorkerClient,
    pair_with_worker,
)
from campool_worker import protocol as p
from campool_worker.discovery import DiscoveredWorker
from campool_worker.errors import CampoolError
from campool_worker.protocol.compat import version_mismatch
from campool_worker.security import KeyPair

from .core import PoolCore
from .errors import MasterError
from .links import Links
from .models import Worker, WorkerCapabilities
from .pool_thread import PoolThread
from .registry import Registry

log = logging.getLogger(__name__)


class Adoption:
    def __init__(self, core: PoolCore, registry: Registry, links: Links, pool: PoolThread, keys: KeyPair,
                 hello: p.Hello) -> None:
        self._core = core
        self._registry = registry
        self._links = links
        self._pool = pool
        self._keys = keys
        self._hello = hello

    def restore(self, workers: list[Worker]) -> None:
        """The workers adopted before this run: pinned and linked again (before the pool thread starts)."""
        for w in workers:
            self._registry.pin(w.worker_id, w.name, w.public_key)
            self._links.open(w)

    # ------------------------------------------------------------- discovery (pool thread)

    def discovered(self, instance: str, rec: DiscoveredWorker | None) -> None:
        """An mDNS record appeared, changed (``rec``) or went away (None)."""
        change = self._registry.seen(instance, rec)
        for wid in change.remove:
            if wid in self._core.workers and not self._core.workers[wid].adopted:
                self._core.remove_worker(wid)
        for w in change.upsert:
            known = self._core.workers.get(w.worker_id)
            if w.adopted and known is not None:
                if (known.address, known.cmd_port, known.pub_port) != (w.address, w.cmd_port, w.pub_port):
                    log.info("worker %s moved to %s:%d", w.worker_id, w.address, w.cmd_port)
                    known.address, known.cmd_port, known.pub_port, known.pair_port = (
                        w.address, w.cmd_port, w.pub_port, w.pair_port)
                    self._core.upsert_worker(known)
                    self._links.open(known)
                continue
            if known is not None and known.adopted:
                continue
            self._core.upsert_worker(w)

    # ------------------------------------------------------------- intents (any thread but the UI's)

    def adopt(self, worker_id: str, pairing_code: str) -> str:
        """Pair with a discovered worker (the code it shows) and pin its key."""
        rec = self._pool.call(lambda: self._registry.find(worker_id))
        if rec is None:
            raise MasterError(f"worker {worker_id!r} is not among the discovered workers; check it runs and is on "
                              "this network, or add it by address")
        if rec.protocol != p.PROTOCOL_VERSION:  # its record says so: no pairing code spent on it
            raise MasterError(f"cannot adopt {rec.instance}: "
                              f"{version_mismatch(rec.protocol, p.PROTOCOL_VERSION, 'master')}")
        return self.add_worker(rec.host, rec.cmd_port, rec.pub_port, rec.pair_port, rec.key, code=pairing_code)

    def add_worker(self, host: str, cmd_port: int, pub_port: int, pair_port: int, key: str, *,
                   code: str | None = None, timeout: float = 10.0) -> str:
        """Adopt a worker by address. Blocks up to `timeout` (pairing, then hello)."""
        addr = WorkerAddress(host, int(cmd_port), int(pub_port), int(pair_port), key)
        if code:
            try:
                pair_with_worker(addr, self._keys, code, self._hello.master_name, timeout=timeout)
            except PairingFailed as exc:
                raise MasterError(str(exc)) from None
        client = WorkerClient(addr, self._keys)
        try:
            hello = client.call(self._hello, timeout=timeout, expect=p.HelloReply)
        except RequestFailed as exc:
            client.close()
            if isinstance(exc.reply, p.Error) and exc.reply.code == "version":
                raise MasterError(f"cannot adopt the worker at {host}:{cmd_port}: {exc.reply.message}") from None
            raise MasterError(f"worker {host}:{cmd_port} refused this master ({exc})") from None
        except (RequestTimeout, CampoolError) as exc:
            client.close()
            raise MasterError(f"worker {host}:{cmd_port} did not answer ({exc}); check the address and that it "
                              f"accepts this master's key (pair it with its code, or start it with "
                              f"--accept-master={self._keys.public})") from None
        try:
            return self._pool.call(lambda: self._register(addr, hello.status, client))
        except BaseException:
            client.close()
            raise

    def _register(self, addr: WorkerAddress, st: p.WorkerStatus, client: WorkerClient) -> str:
        """Pool thread: the worker answered our hello at ``addr``; pin it, add it, link it."""
        wid = st.worker_id
        old = self._core.workers.get(wid)
        caps = old.capabilities if old is not None else WorkerCapabilities()
        caps = WorkerCapabilities(capacity=st.capacity or caps.capacity, gpu=bool(st.gpu), gpu_name=st.gpu,
                                  models=caps.models, source_kinds=caps.source_kinds, site=caps.site,
                                  groups=caps.groups)
        w = Worker(wid, st.name, address=addr.host, cmd_port=addr.cmd_port, pub_port=addr.pub_port,
                   pair_port=addr.pair_port, public_key=addr.key, adopted=True, version=st.version,
                   capabilities=caps, heartbeat_s=st.heartbeat_s)
        self._registry.pin(wid, st.name, addr.key)
        self._core.upsert_worker(w)
        self._links.open(w, client).hello_done(st.boot_id)
        self._core.worker_hello(wid, st)
        log.info("worker %s (%s) adopted at %s:%d", wid, st.name, addr.host, addr.cmd_port)
        return wid

    def forget_worker(self, worker_id: str) -> None:
        """Unpin and drop the worker; its cameras move to the others."""
        def run() -> None:
            self._registry.unpin(worker_id)
            self._core.remove_worker(worker_id)
            self._links.close(worker_id)
        self._pool.call(run)

    def set_worker_site(self, worker_id: str, site: str, groups: frozenset[str] = frozenset()) -> None:
        def run() -> None:
            w = self._core.workers.get(worker_id)
            if w is None:
                raise ValueError(f"no worker {worker_id!r}")
            w.capabilities = replace(w.capabilities, site=site, groups=frozenset(groups))
            self._core.upsert_worker(w)
        self._pool.call(run)
