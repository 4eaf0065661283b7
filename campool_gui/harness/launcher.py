"""Worker daemons as local processes: the one place that starts `campool-worker serve`.

Used by the demo pool (`campool-gui --demo`, `--screenshot`, the GUI tests), by
`bench-failover` and by the integration and e2e tests::

    w = LocalWorker("w1", tmp / "w1", master.public_key, capacity=2)   # trusts that master
    w.start()                                   # waits until it listens; returns w
    master.add_worker(*w.adopt_args())
    w.kill(); w.start()                         # SIGKILL, then the same folder and ports again

Each worker runs this installation's worker code (`worker_command`) in its own data folder,
on ports the kernel picks at the first start and keeps on restarts (so a master's link
reconnects to the same address by itself). Its ports file (`ports.json`: ports, public key,
worker id) and its log (`worker.log`, stdout and stderr, appended across restarts) lie in
that folder too. The master is either trusted up front (`--accept-master`, no pairing step)
or adopts the worker with a code from `pairing_code()`, the way an operator does.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from campool_gui.pool.wire_client import WorkerAddress

log = logging.getLogger(__name__)

#: The folder holding the campool_gui and campool_worker packages: the workers start there,
#: so `python -m campool_worker.cli` finds this checkout's code whatever the caller's folder.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAIR_TIMEOUT_S = 30.0


class LocalWorkerError(RuntimeError):
    """A local worker that did not start, or gave no pairing code; the text names its log."""


def worker_command() -> list[str]:
    """How to start the worker code of this very installation: a `campool-worker` found on PATH
    may be another install (another version, another venv), which then fails to pair."""
    if getattr(sys, "frozen", False):  # the PyInstaller bundle: campool-worker lies beside campool-gui
        exe = Path(sys.executable).with_name("campool-worker" + (".exe" if os.name == "nt" else ""))
        if not exe.is_file():
            raise RuntimeError(f"the bundle has no {exe.name} beside {Path(sys.executable).name}; reinstall CamPool")
        return [str(exe)]
    return [sys.executable, "-m", "campool_worker.cli"]


def _before_exec(die_with_parent: bool, cpus: Sequence[int] | None) -> Callable[[], object] | None:
    """What the child runs between fork and exec: the death signal, and the CPU affinity (set
    before the interpreter starts, so every thread it makes, ONNX's and FFmpeg's too, inherits it)."""
    death = _death_signal() if die_with_parent else None
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return death
    cores = set(cpus)

    def run() -> None:
        os.sched_setaffinity(0, cores)
        if death is not None:
            death()
    return run


def _death_signal() -> Callable[[], object] | None:
    """What the child runs before exec so that it gets SIGTERM when the thread that spawned it
    ends (Linux PR_SET_PDEATHSIG); None elsewhere. libc is loaded here, in the parent: after a
    fork of a threaded process the child should run as little Python as it can."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class LocalWorker:
    """One `campool-worker serve` process on this machine, started, signalled and restarted.

    master_key / trust_master: the master key the worker accepts from its first start
    (`--accept-master`); without one (or with trust_master False) a master adopts it with
    a code from `pairing_code()`. capacity: its camera slots (None: the worker's default).
    announce_on: announce it by mDNS on this interface address only (None: no mDNS).
    netns: run it inside this network namespace (`ip netns exec`), listening on `bind`.
    env: added to its environment; test_hooks turns on the worker's test sources
    (`test://burst?rate=N`). die_with_parent: on Linux it gets SIGTERM when the thread that
    spawned it ends, so a crashed GUI leaves no demo worker behind. cpus: the cores it may run
    on (Linux; ignored elsewhere), all of its threads included.
    """

    def __init__(self, name: str, data_dir: str | os.PathLike[str], master_key: str | None = None, *,
                 capacity: int | None = 4, trust_master: bool = True, bind: str = "127.0.0.1",
                 announce_on: str | None = None, netns: str | None = None, extra_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, test_hooks: bool = False,
                 die_with_parent: bool = False, cpus: Sequence[int] | None = None) -> None:
        self.name = name
        self.data_dir = Path(data_dir)
        self.master_key = master_key
        self.capacity = capacity
        self.trust_master = trust_master
        self.bind = bind
        self.announce_on = announce_on
        self.netns = netns
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.test_hooks = test_hooks
        self.die_with_parent = die_with_parent
        self.cpus = list(cpus) if cpus else None
        self.proc: subprocess.Popen[bytes] | None = None
        #: What the worker wrote to its ports file once listening: cmd, pub, pair, key, id, ...
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ where things are
    @property
    def ports_file(self) -> Path:
        return self.data_dir / "ports.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "worker.log"

    @property
    def ports(self) -> dict[str, Any]:
        """The ports file's content (the same dict as `info`): ports, public key, worker id."""
        return self.info

    @property
    def worker_id(self) -> str:
        return str(self.info.get("id", ""))

    @property
    def address(self) -> WorkerAddress:
        """Where a master reaches it (known once it listens)."""
        return WorkerAddress(self.bind, self.info["cmd"], self.info["pub"], self.info["pair"], self.info["key"])

    def adopt_args(self) -> tuple[str, int, int, int, str]:
        """host, cmd, pub and pair ports, key: the arguments of `Master.add_worker`."""
        return (self.bind, self.info["cmd"], self.info["pub"], self.info["pair"], self.info["key"])

    def read_log(self) -> str:
        """Everything the worker has printed so far (all its starts)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # ------------------------------------------------------------------ starting
    def command(self) -> list[str]:
        """The command line of the next start: the first one on ports 0, later ones on the same ports."""
        ports = [str(self.info.get(k, 0)) for k in ("cmd", "pub", "pair")]
        cmd = [*worker_command(), "serve", "--name", self.name, "--data-dir", str(self.data_dir),
               "--bind", self.bind, "--cmd-port", ports[0], "--pub-port", ports[1], "--pair-port", ports[2],
               "--ports-file", str(self.ports_file)]
        if self.capacity is not None:
            cmd += ["--capacity", str(self.capacity)]
        cmd += ["--zeroconf-interface", self.announce_on] if self.announce_on else ["--no-zeroconf"]
        if self.trust_master and self.master_key:
            cmd += [f"--accept-master={self.master_key}"]  # a Z85 key may start with "-"
        cmd += self.extra_args
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else cmd

    def spawn(self) -> None:
        """Start the process and return at once (`wait_listening` waits for it). With
        die_with_parent, call it on a thread that lives as long as the worker should."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.ports_file.unlink(missing_ok=True)  # its reappearance says the new process listens
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
               **({"CAMPOOL_TEST_HOOKS": "1"} if self.test_hooks else {}), **self.env}
        pre = _before_exec(self.die_with_parent, self.cpus)
        with open(self.log_file, "ab") as logf:
            self.proc = subprocess.Popen(
                self.command(), stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT,
                start_new_session=True, preexec_fn=pre)

    def wait_listening(self, timeout: float = 20.0) -> Self:
        """Wait until the spawned process has written its ports file; kill it if it does not in time."""
        if self.proc is None:
            raise LocalWorkerError(f"worker {self.name} was not started")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise LocalWorkerError(f"worker {self.name} exited with {self.proc.returncode} at start; "
                                       f"see its log {self.log_file}")
            try:
                self.info = json.loads(self.ports_file.read_text())
                return self
            except (OSError, ValueError):  # not written yet (it is replaced whole, never half-written)
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise LocalWorkerError(f"worker {self.name} did not start within {timeout:.0f} s; "
                                       f"see its log {self.log_file}")
            time.sleep(0.05)

    def start(self, timeout: float = 20.0) -> Self:
        """Start it and wait until it listens (the same ports as before after a first start)."""
        self.spawn()
        return self.wait_listening(timeout)

    def restart(self, timeout: float = 20.0) -> Self:
        """SIGKILL, then start again on the same data folder and ports."""
        self.kill()
        return self.start(timeout)

    def pairing_code(self) -> str:
        """A pairing code from `campool-worker pair`, exactly as an operator gets one on the box."""
        out = subprocess.run([*worker_command(), "pair", "--data-dir", str(self.data_dir)], capture_output=True,
                             text=True, timeout=PAIR_TIMEOUT_S, cwd=PROJECT_ROOT, check=False)
        m = re.search(r"Pairing code:\s*(\S+)", out.stdout)
        if out.returncode != 0 or not m:
            raise LocalWorkerError(f"could not get a pairing code from {self.name}: "
                                   f"{out.stderr.strip() or out.stdout.strip()}")
        return m.group(1)

    # ------------------------------------------------------------------ signals and stopping
    @property
    def pid(self) -> int:
        if self.proc is None:
            raise LocalWorkerError(f"worker {self.name} is not running")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send `sig` (SIGSTOP to freeze it, SIGCONT to thaw it, ...) if it runs."""
        if self.proc is not None and self.alive():
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush; the outbox stays on disk."""
        if self.proc is not None and self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM (after SIGCONT: a stopped process cannot handle it) and wait for the exit
        status; on timeout SIGKILL it and raise subprocess.TimeoutExpired."""
        if self.proc is None:
            return 0
        if self.alive():
            if hasattr(signal, "SIGCONT"):
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.proc.returncode

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate; SIGKILL it when it takes longer than `timeout`."""
        try:
            self.terminate(timeout)
        except subprocess.TimeoutExpired:
            log.warning("worker %s did not stop in %.0f s; killed it", self.name, timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
