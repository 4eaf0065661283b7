"""`campool-worker serve` under a service manager that speaks sd_notify, as a real process.

The test plays systemd's part for a `Type=notify` unit with `WatchdogSec=` (the unit is
installers/campool-worker.service, verified in tests/integration/test_worker_unit.py): it binds a
real unix datagram socket, hands it to the worker as NOTIFY_SOCKET with WATCHDOG_USEC, waits for
READY=1, watches WATCHDOG=1, and when the pings stop for WATCHDOG_USEC it does what systemd does
on a watchdog timeout with `Restart=on-failure`: SIGABRT, SIGKILL after the abort timeout, start
again. A worker frozen by SIGSTOP must go through exactly that and come back on its data."""
from __future__ import annotations

import itertools
import signal
import socket
import time
import uuid

import pytest

from tests.helpers.notify_socket import NotifySocket
from tests.helpers.worker_process import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.alone]

WATCHDOG_USEC = 1_000_000    # pings every 0.5 s
ABORT_TIMEOUT_S = 2.0        # the unit's TimeoutAbortSec, shortened


def _connectable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_ready_comes_once_the_sockets_listen_and_the_mdns_record_is_up_and_stopping_on_sigterm(tmp_path):
    with NotifySocket() as notify:
        env = {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        w = WorkerProcess(tmp_path / "w", name=f"sd-{uuid.uuid4().hex[:6]}", zeroconf=True, env=env)
        w.spawn()
        try:
            ready = notify.wait_for("READY", timeout=30)
            # At READY=1 the ports are bound, the ports file written, and the record announced.
            w.wait_listening(5)
            assert ready["MAINPID"] == str(w.pid)
            assert w.worker_id in ready["STATUS"] and str(w.info["cmd"]) in ready["STATUS"]
            assert _connectable(w.info["cmd"]) and _connectable(w.info["pair"])
            assert "announced" in w.log(), w.log()
            assert "mDNS announcement failed" not in ready["STATUS"]
            start = time.monotonic()
            time.sleep(2.2)
            pings = notify.times_of("WATCHDOG", after=start)
            assert len(pings) >= 3, notify.messages
            gaps = [b - a for a, b in itertools.pairwise(pings)]
            assert max(gaps) < WATCHDOG_USEC / 1e6, gaps
            before_stop = time.monotonic()
            assert w.terminate(20) == 0
            assert notify.wait_for("STOPPING", after=before_stop, timeout=5)["STOPPING"] == "1"
        finally:
            w.kill()


def test_a_worker_frozen_by_sigstop_misses_the_watchdog_and_is_restarted_on_its_data(tmp_path):
    with NotifySocket() as notify:
        env = {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        w = WorkerProcess(tmp_path / "w", env=env)
        try:
            w.start()
            first = notify.wait_for("READY", timeout=30)
            worker_id, first_pid = w.worker_id, w.pid
            notify.wait_for("WATCHDOG", after=time.monotonic(), timeout=5)

            w.signal(signal.SIGSTOP)          # hung: every thread, the command loop among them
            frozen_at = time.monotonic()
            # The supervisor's watchdog: no ping for WATCHDOG_USEC means a hung service.
            timeout_s = WATCHDOG_USEC / 1e6
            deadline = frozen_at + 10
            while True:
                pings = notify.times_of("WATCHDOG")
                last = max(pings[-1], frozen_at) if pings else frozen_at
                if time.monotonic() - last > timeout_s:
                    break
                assert time.monotonic() < deadline, "the pings went on from a stopped worker"
                time.sleep(0.05)
            late = notify.times_of("WATCHDOG", after=frozen_at + 0.1)
            assert not late, "a frozen worker must not ping the watchdog"
            w.signal(signal.SIGABRT)          # what systemd sends first (WatchdogSignal=SIGABRT)
            time.sleep(ABORT_TIMEOUT_S)
            assert w.alive(), "a stopped process cannot act on SIGABRT: the abort timeout is what ends it"
            w.kill()                          # TimeoutAbortSec passed: SIGKILL
            restarted_at = time.monotonic()
            w.start()                         # Restart=on-failure: a watchdog timeout is a failure

            again = notify.wait_for("READY", after=restarted_at, timeout=30)
            assert again["MAINPID"] == str(w.pid) != first["MAINPID"] == str(first_pid)
            assert w.worker_id == worker_id   # the same worker: keys, id and outbox kept
            assert notify.wait_for("WATCHDOG", after=time.monotonic(), timeout=5)
        finally:
            w.kill()
