"""Liveness by the heartbeat period a real worker declares, and a quiet adoption.

A worker started with a settings file holding ``heartbeat_s = 5.0`` used to flap offline every
few seconds under a master that assumed 1 s x 3 (7 flaps in 32 s, each one able to move its
cameras), and adopting any worker raised a critical "not reachable" alert that resolved itself a
moment later. Real processes: `campool-worker serve` and a master in this process, adopted with
a pairing code from `campool-worker pair`, exactly as an operator does it.
"""
from __future__ import annotations

import threading
import time

import pytest

from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.views import AlertChanged, WorkerChanged

pytestmark = [pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(120)]

WATCH_S = 17.0   # three 5 s periods and a bit: long enough for the old 3 s rule to flap twice


def test_a_worker_beating_every_5_s_never_flaps_and_its_adoption_raises_no_alert(tmp_path):
    cfg = tmp_path / "worker.toml"
    cfg.write_text("heartbeat_s = 5.0\n")
    worker = LocalWorker("slow-beat", tmp_path / "worker", trust_master=False, extra_args=["--config", str(cfg)])
    master = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False))
    master.start()
    lock = threading.Lock()
    states: list[str] = []
    alerts: list[tuple[str, str, str]] = []

    def seen(ev: object) -> None:
        with lock:
            if isinstance(ev, WorkerChanged):
                states.append(ev.worker.state.value)
            elif isinstance(ev, AlertChanged):
                if ev.alert.kind in ("worker_down", "key_conflict"):   # liveness and adoption alerts
                    alerts.append((ev.alert.kind, ev.alert.severity, ev.alert.state))

    master.subscribe(seen)
    try:
        worker.start()
        time.sleep(master.settings.core.startup_grace_s + 0.5)   # adopt after the master's start grace
        wid = master.add_worker(*worker.adopt_args(), code=worker.pairing_code())
        deadline = time.monotonic() + 20
        while master.snapshot().workers[0].state.value == "offline":
            assert time.monotonic() < deadline, "the adopted worker never came online"
            time.sleep(0.1)
        time.sleep(WATCH_S)
        with lock:
            first_online = next(i for i, s in enumerate(states) if s != "offline")
            after = states[first_online:]
            raised = list(alerts)
        assert "offline" not in after, f"the worker flapped: {after}"
        assert raised == [], f"alerts during and after adoption: {raised}"
        w = next(w for w in master.snapshot().workers if w.worker_id == wid)
        assert w.state.value != "offline"   # online, or degraded on a loaded machine
        assert master.core.workers[wid].heartbeat_s == 5.0
    finally:
        master.stop()
        worker.stop()
