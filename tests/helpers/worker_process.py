"""Test conveniences on top of the one local worker launcher (campool_gui.harness.launcher).

    with WorkerProcess(tmp_path / "w1") as worker:       # ports 0 = free ones, no mDNS
        keys = worker.adopt()                              # pairs a fresh master key
        with worker.client(keys) as link:
            link.call(GetStatus(), expect=StatusReply)

Test hooks are on (``test://burst?rate=N`` cameras emit crossings fast) and no master is
trusted up front. ``kill()`` is SIGKILL; ``restart()`` starts again on the same data folder
and the same ports, so an existing `WorkerClient` reconnects by itself.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from campool_gui.harness.launcher import LocalWorker, LocalWorkerError
from campool_gui.pool.wire_client import WorkerClient, pair_with_worker
from campool_worker import protocol as p
from campool_worker import security
from tests.helpers.data import PROJECT_ROOT

__all__ = ["PROJECT_ROOT", "TelemetryCollector", "WorkerProcess", "wait_until"]


class WorkerProcess(LocalWorker):
    """A LocalWorker as the worker tests want it, plus pairing a test master and a client."""

    def __init__(self, data_dir: Path, *, name: str = "test-worker", zeroconf: bool = False,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 cpus: list[int] | None = None) -> None:
        super().__init__(name, data_dir, capacity=None, announce_on="127.0.0.1" if zeroconf else None,
                         extra_args=extra_args or (), env=env, test_hooks=True, cpus=cpus)

    def wait_listening(self, timeout: float = 20.0) -> Self:
        """As LocalWorker's, with the worker's log in the failure (what a test report needs)."""
        try:
            return super().wait_listening(timeout)
        except LocalWorkerError as exc:
            raise LocalWorkerError(f"{exc}:\n{self.read_log()}") from None

    def log(self) -> str:
        return self.read_log()

    def adopt(self, key_dir: Path | None = None, name: str = "test-master") -> security.KeyPair:
        """Pair a master key (kept in key_dir) with a fresh code from `campool-worker pair`."""
        keys = security.load_or_create_keypair(key_dir or self.data_dir.parent / f"{self.data_dir.name}-master",
                                               "master")
        pair_with_worker(self.address, keys, self.pairing_code(), name)
        return keys

    def client(self, keys: security.KeyPair, **kwargs: Any) -> WorkerClient:
        return WorkerClient(self.address, keys, **kwargs)


class TelemetryCollector:
    """A minimal master-side store for tests: keeps count events idempotently on
    (camera_id, epoch, seq), counts duplicates, remembers the last heartbeat and every alert.
    Pass ``collector.on_telemetry`` to a WorkerClient."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[tuple[str, int, int], Any] = {}  # (camera, epoch, seq) -> CountEvent
        self.duplicates = 0
        self.heartbeats: list[p.WorkerStatus] = []
        self.alerts: list[p.AlertEvent] = []
        self.previews: list[p.PreviewFrame] = []

    def on_telemetry(self, env: Any) -> None:
        msg = env.message
        with self.lock:
            if isinstance(msg, p.CountBatch):
                for ev in msg.events:
                    key = (ev.camera_id, ev.epoch, ev.seq)
                    if key in self.events:
                        self.duplicates += 1
                        assert self.events[key] == ev, f"event {key} changed between sends"
                    self.events[key] = ev
            elif isinstance(msg, p.Heartbeat):
                self.heartbeats.append(msg.status)
            elif isinstance(msg, p.AlertEvent):
                self.alerts.append(msg)
            elif isinstance(msg, p.PreviewFrame):
                self.previews.append(msg)

    def contiguous_seq(self, camera_id: str, epoch: int) -> int:
        """The highest seq such that every seq up to it is stored (what a master may ack)."""
        with self.lock:
            seq = 0
            while (camera_id, epoch, seq + 1) in self.events:
                seq += 1
            return seq

    def last_heartbeat(self) -> p.WorkerStatus | None:
        with self.lock:
            return self.heartbeats[-1] if self.heartbeats else None


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> None:
    """Poll until predicate() is true; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
