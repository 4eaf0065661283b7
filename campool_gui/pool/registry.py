"""Which workers exist, and which key each one is trusted with.

Workers reach the master two ways: an mDNS record (a hint anybody on the LAN can forge) and
adoption (pairing with the code the worker shows, or an address + key the operator typed
into a config file). Adoption pins the worker's CURVE public key; from then on:
- a record for that worker id with the same key may update its address and ports;
- a record with the same worker id or the same name but another key is flagged (a
  non-adopted entry with `key_conflict` set and an alert), never trusted: the link keeps
  using the pinned key, so an impostor cannot even complete the CURVE handshake;
- a record with the pinned key under another id is the same machine (the key proves it).
Pure logic: adoption.py feeds it records from campool_worker.discovery.WorkerBrowser.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from campool_worker import protocol as p
from campool_worker.discovery import DiscoveredWorker
from campool_worker.protocol.compat import version_mismatch

from .models import Worker, WorkerCapabilities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pinned:
    worker_id: str
    name: str
    key: str


@dataclass
class RegistryChange:
    upsert: list[Worker] = field(default_factory=list)     # records to show / update
    remove: list[str] = field(default_factory=list)        # worker ids to drop (non-adopted only)


def discovered_worker(rec: DiscoveredWorker, *, worker_id: str | None = None, conflict: str = "") -> Worker:
    # Its record's protocol version: a worker of another one shows, before adoption, which end to upgrade.
    incompatible = "" if rec.protocol == p.PROTOCOL_VERSION else \
        version_mismatch(rec.protocol, p.PROTOCOL_VERSION, "master")
    return Worker(worker_id or rec.worker_id, rec.instance, address=rec.host, cmd_port=rec.cmd_port,
                  pub_port=rec.pub_port, pair_port=rec.pair_port, public_key=rec.key, adopted=False,
                  key_conflict=conflict, version=rec.version, incompatible=incompatible, last_error=incompatible,
                  capabilities=WorkerCapabilities(capacity=rec.capacity or 4, gpu=bool(rec.gpu), gpu_name=rec.gpu))


class Registry:
    def __init__(self) -> None:
        self.pinned: dict[str, Pinned] = {}
        self.records: dict[str, DiscoveredWorker] = {}     # mDNS instance -> last record
        self._shown: dict[str, str] = {}                   # instance -> worker id we show it as

    def pin(self, worker_id: str, name: str, key: str) -> None:
        self.pinned[worker_id] = Pinned(worker_id, name, key)

    def unpin(self, worker_id: str) -> None:
        self.pinned.pop(worker_id, None)

    def record(self, rec: DiscoveredWorker) -> DiscoveredWorker | None:
        """The discovered (not yet adopted) record shown as this worker id, for adoption."""
        for instance, shown in self._shown.items():
            if shown == rec.worker_id and instance in self.records:
                return self.records[instance]
        return None

    def find(self, worker_id: str) -> DiscoveredWorker | None:
        for instance, shown in self._shown.items():
            if shown == worker_id:
                return self.records.get(instance)
        return None

    def seen(self, instance: str, rec: DiscoveredWorker | None) -> RegistryChange:
        change = RegistryChange()
        old_id = self._shown.pop(instance, None)
        if rec is None:
            self.records.pop(instance, None)
            if old_id is not None and old_id not in self.pinned:
                change.remove.append(old_id)
            return change
        self.records[instance] = rec
        by_key = next((p for p in self.pinned.values() if p.key == rec.key), None)
        if by_key is not None:
            if by_key.worker_id != rec.worker_id:
                log.info("worker %s now announces id %s; its pinned key identifies it", by_key.worker_id,
                         rec.worker_id)
            w = discovered_worker(rec, worker_id=by_key.worker_id)
            w.adopted = True
            w.name = by_key.name or rec.instance
            change.upsert.append(w)
            self._shown[instance] = by_key.worker_id
            return change
        clash = self.pinned.get(rec.worker_id) or next(
            (p for p in self.pinned.values() if p.name and p.name == rec.instance), None)
        if clash is not None:
            msg = (f"a worker announces itself as {rec.instance!r} (id {rec.worker_id}) from {rec.host} with a "
                   f"different key than the one adopted for {clash.name!r}; it is not trusted. If the worker was "
                   "reinstalled, remove it and adopt it again")
            log.warning("%s", msg)
            flagged_id = f"{rec.worker_id}@{rec.key[:8]}"
            change.upsert.append(discovered_worker(rec, worker_id=flagged_id, conflict=msg))
            self._shown[instance] = flagged_id
            if old_id is not None and old_id != flagged_id and old_id not in self.pinned:
                change.remove.append(old_id)
            return change
        change.upsert.append(discovered_worker(rec))
        self._shown[instance] = rec.worker_id
        if old_id is not None and old_id != rec.worker_id and old_id not in self.pinned:
            change.remove.append(old_id)
        return change
