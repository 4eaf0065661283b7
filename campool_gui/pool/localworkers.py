"""Worker daemons as local processes on loopback: for bench-failover, demos and the e2e tests.

Each `LocalWorker` runs `campool-worker serve --bind 127.0.0.1 ...` in its own data folder,
with ports picked by the kernel on the first start and kept on restarts (so the master's
link reconnects to the same address), and this master's key pre-accepted
(--accept-master), so no pairing step is needed.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class LocalWorkerError(RuntimeError):
    pass


@dataclass
class LocalWorker:
    name: str
    data_dir: Path
    master_key: str
    capacity: int = 4
    extra_args: list[str] = field(default_factory=list)
    netns: str | None = None          # run inside this network namespace (ip netns exec)
    bind: str = "127.0.0.1"
    announce_on: str | None = None    # announce on mDNS on this interface address (default: no mDNS)
    trust_master: bool = True         # pre-accept the master's key (else it must pair with a code)
    proc: subprocess.Popen | None = None
    ports: dict | None = None

    @property
    def ports_file(self) -> Path:
        return self.data_dir / "ports.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "worker.log"

    def start(self, timeout: float = 20.0) -> dict:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.ports is None:
            self.ports_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "campool_worker.cli", "serve", "--name", self.name,
               "--data-dir", str(self.data_dir), "--bind", self.bind, "--capacity", str(self.capacity),
               "--ports-file", str(self.ports_file)]
        cmd += ["--zeroconf-interface", self.announce_on] if self.announce_on else ["--no-zeroconf"]
        if self.trust_master:
            cmd += [f"--accept-master={self.master_key}"]   # a Z85 key may start with "-"
        if self.ports is None:
            cmd += ["--cmd-port", "0", "--pub-port", "0", "--pair-port", "0"]
        else:
            cmd += ["--cmd-port", str(self.ports["cmd"]), "--pub-port", str(self.ports["pub"]),
                    "--pair-port", str(self.ports["pair"])]
        cmd += self.extra_args
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        before = self.ports_file.stat().st_mtime if self.ports_file.exists() else None
        logf = open(self.log_file, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LocalWorkerError(f"worker {self.name} exited with {self.proc.returncode} at start; "
                                       f"see {self.log_file}")
            if self.ports_file.exists() and (before is None or self.ports_file.stat().st_mtime != before):
                try:
                    self.ports = json.loads(self.ports_file.read_text())
                    return self.ports
                except ValueError:
                    pass
            time.sleep(0.05)
        self.kill()
        raise LocalWorkerError(f"worker {self.name} did not start within {timeout:.0f} s; see {self.log_file}")

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise LocalWorkerError(f"worker {self.name} is not running")
        return self.proc.pid

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no goodbye, the outbox stays on disk."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)   # a stopped process cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def adopt_args(self) -> tuple[str, int, int, int, str]:
        assert self.ports is not None
        return (self.bind, self.ports["cmd"], self.ports["pub"], self.ports["pair"], self.ports["key"])
