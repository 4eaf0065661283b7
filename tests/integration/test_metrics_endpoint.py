"""The /metrics endpoint: promtool accepts it, a real Prometheus server (Debian's) scrapes it, and its
counters are the stored totals, after a master restart too."""
from __future__ import annotations

import logging
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from campool_gui.harness.launcher import LocalWorker
from campool_gui.integrations.hub import Integrations
from campool_gui.integrations.settings import IntegrationSettings, MetricsSettings
from campool_gui.pool.master import Master, MasterSettings
from campool_worker.camera import CameraConfig, CountingLine, Zone
from tests.helpers.counts import nonzero, stored_totals
from tests.helpers.pool_e2e import wait_for
from tests.helpers.servers import Prometheus, free_port, need_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
log = logging.getLogger(__name__)


def crossings(text: str) -> dict[tuple[str, str, str, str], int]:
    return {(s.labels["camera"], s.labels["line"], s.labels["direction"], s.labels["class"]): int(s.value)
            for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.name == "campool_line_crossings_total"}


def per_class(totals: dict) -> dict:
    return {k: v for k, v in totals.items() if k[3] != "*"}


def test_prometheus_scrapes_the_stored_totals_and_they_survive_a_master_restart(tmp_path):
    promtool = need_binary("promtool", "prometheus")
    data = tmp_path / "master"
    port = free_port()
    metrics = IntegrationSettings(metrics=MetricsSettings(bind="127.0.0.1", port=port))
    cam = CameraConfig("gate-1", "test://burst?rate=60&count=150&occupancy=car:1",
                       lines=[CountingLine.parse("north:0,0,10,10"), CountingLine.parse("south:0,5,10,5")],
                       zones=[Zone.parse("yard:0,0,5,0,5,5")], classes=["car", "bus"])
    master = Master(MasterSettings(data_dir=data, zeroconf=False, name="site-north"))
    master.start()
    hub = Integrations(master, metrics)
    hub.start()
    worker = LocalWorker("w1", tmp_path / "w1", master.public_key, test_hooks=True).start()
    try:
        master.add_worker(*worker.adopt_args())
        master.add_camera(cam)
        wait_for(lambda: sum(v for k, v in stored_totals(master.store.path).items() if k[3] == "*") == 150, 30,
                 "the burst stored")
    finally:
        worker.stop()
        hub.stop()
        master.stop()
    stored = per_class(stored_totals(data / "history.db"))
    assert sum(stored.values()) == 150

    # a fresh master on the same history: its counters start from the store
    master = Master(MasterSettings(data_dir=data, zeroconf=False, name="site-north"))
    master.start()
    hub = Integrations(master, metrics)
    hub.start()
    try:
        assert hub.wait_ready() and hub.status().metrics.state == "serving", hub.status()
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        check = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        assert check.returncode == 0, f"promtool check metrics: {check.stdout.decode()}{check.stderr.decode()}"
        assert nonzero(crossings(text)) == stored
        pre = crossings(text)
        assert pre[("gate-1", "south", "in", "bus")] == 0, "known label sets start at 0"
        assert len(pre) == 2 * 2 * 2
        assert "campool_camera_up{camera=\"gate-1\"}" in text and "campool_build_info{" in text

        with Prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"]) as prom:
            def scraped():
                return {(r["metric"]["camera"], r["metric"]["line"], r["metric"]["direction"], r["metric"]["class"]):
                        int(float(r["value"][1])) for r in prom.query("campool_line_crossings_total")}
            wait_for(lambda: scraped() == pre, 30, "Prometheus answering with the stored totals", step=0.5)
            log.info("FIGURES prometheus %s, store %s", scraped(), stored)
            [total] = prom.query('sum(campool_line_crossings_total{camera="gate-1"})')
            assert int(float(total["value"][1])) == 150
            [up] = prom.query("up")
            assert up["value"][1] == "1"
    finally:
        hub.stop()
        master.stop()


def test_a_port_in_use_is_a_clear_status_not_a_crash(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        master = Master(MasterSettings(data_dir=tmp_path / "m", zeroconf=False))
        master.start()
        hub = Integrations(master, IntegrationSettings(metrics=MetricsSettings(port=port)))
        hub.start()
        try:
            assert hub.wait_ready()
            st = hub.status().metrics
            assert st.state == "failing" and f"127.0.0.1:{port}" in st.message and "Settings" in st.message
            assert master.snapshot().totals.workers_total == 0   # the master goes on
        finally:
            hub.stop()
            master.stop()
