"""A real `campool-worker serve` process on loopback for integration and e2e tests.

    with WorkerProcess(tmp_path / "w1") as worker:       # ports 0 = free ones, no mDNS
        keys = worker.adopt()                              # pairs a fresh master key
        with worker.client(keys) as link:
            link.call(GetStatus(), expect=StatusReply)

Test hooks are on (``test://burst?rate=N`` cameras emit crossings fast). ``kill()`` is SIGKILL;
``restart()`` starts again on the same data folder and the same ports, so an existing
`WorkerClient` reconnects by itself.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from campool_worker import security
from campool_gui.pool.wire_client import WorkerAddress, WorkerClient, pair_with_worker

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, data_dir: Path, *, name: str = "test-worker", zeroconf: bool = False,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.name = name
        self.zeroconf = zeroconf
        self.extra_args = list(extra_args or [])
        self.env = env or {}
        self.ports: dict[str, int] = {"cmd": 0, "pub": 0, "pair": 0}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.info: dict = {}

    # ------------------------------------------------------------------ process

    def start(self, timeout: float = 20.0) -> "WorkerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports_file = self.data_dir.parent / f"{self.data_dir.name}.ports.json"
        ports_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "campool_worker.cli", "serve", "--name", self.name,
                "--data-dir", str(self.data_dir), "--bind", "127.0.0.1",
                "--cmd-port", str(self.ports["cmd"]), "--pub-port", str(self.ports["pub"]),
                "--pair-port", str(self.ports["pair"]), "--ports-file", str(ports_file), *self.extra_args]
        args += ["--zeroconf-interface", "127.0.0.1"] if self.zeroconf else ["--no-zeroconf"]
        env = {**os.environ, "CAMPOOL_TEST_HOOKS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT)
        log.close()
        deadline = time.monotonic() + timeout
        while not ports_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start in {timeout} s:\n{self.log()}")
            time.sleep(0.05)
        self.info = json.loads(ports_file.read_text())
        self.ports = {k: self.info[k] for k in ("cmd", "pub", "pair")}
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.proc.returncode if self.proc else 0

    def restart(self) -> "WorkerProcess":
        self.kill()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            try:
                self.terminate(10)
            except subprocess.TimeoutExpired:
                pass

    # ------------------------------------------------------------------ master side

    @property
    def address(self) -> WorkerAddress:
        return WorkerAddress("127.0.0.1", self.ports["cmd"], self.ports["pub"], self.ports["pair"], self.info["key"])

    def new_code(self) -> str:
        """A pairing code from `campool-worker pair` (the operator's way)."""
        out = subprocess.run([sys.executable, "-m", "campool_worker.cli", "pair", "--data-dir", str(self.data_dir)],
                             capture_output=True, text=True, timeout=30, cwd=PROJECT_ROOT, check=True).stdout
        match = re.search(r"Pairing code: (\S+)", out)
        assert match, out
        return match.group(1)

    def adopt(self, key_dir: Path | None = None, name: str = "test-master") -> security.KeyPair:
        keys = security.load_or_create_keypair(key_dir or self.data_dir.parent / f"{self.data_dir.name}-master",
                                               "master")
        pair_with_worker(self.address, keys, self.new_code(), name)
        return keys

    def client(self, keys: security.KeyPair, **kwargs) -> WorkerClient:
        return WorkerClient(self.address, keys, **kwargs)


class TelemetryCollector:
    """A minimal master-side store for tests: keeps count events idempotently on
    (camera_id, epoch, seq), counts duplicates, remembers the last heartbeat and every alert.
    Pass ``collector.on_telemetry`` to a WorkerClient."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.events: dict[tuple[str, int, int], object] = {}
        self.duplicates = 0
        self.heartbeats: list = []
        self.alerts: list = []
        self.previews: list = []

    def on_telemetry(self, env) -> None:
        from campool_worker import protocol as p

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

    def last_heartbeat(self):
        with self.lock:
            return self.heartbeats[-1] if self.heartbeats else None


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition") -> None:
    """Poll until predicate() is true; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
