"""MQTT against a real broker (Debian's mosquitto), fed by a real master and a real worker process.

The worker runs ``test://burst`` cameras (a crossing per frame, zone occupancy per class) so the
counts are exact and quick; the broker, its subscriber and the master are real.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

from campool_gui.harness.launcher import LocalWorker
from campool_gui.integrations.ha_discovery import camera_device_id, config_topic
from campool_gui.integrations.hub import Integrations
from campool_gui.integrations.localday import day_bounds
from campool_gui.integrations.settings import IntegrationSettings, MqttSettings
from campool_gui.pool.alerts import default_rules
from campool_gui.pool.master import Master, MasterSettings
from campool_worker.camera import CameraConfig, CountingLine, Zone
from tests.helpers.counts import published_totals, stored_totals, wait_equal
from tests.helpers.ha_schema import check_device_config, unique_ids
from tests.helpers.pool_e2e import wait_for
from tests.helpers.servers import Mosquitto, MqttRecorder, free_port, make_tls

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PREFIX = "campool/site-north"
LINES = [CountingLine.parse("north:0,0,10,10"), CountingLine.parse("south:0,5,10,5")]


def burst_camera(cid: str, query: str) -> CameraConfig:
    return CameraConfig(cid, f"test://burst?{query}", lines=list(LINES), zones=[Zone.parse("yard:0,0,5,0,5,5")],
                        classes=["car", "person"])


class Site:
    """A master (its data in root/master) with one local worker process and its integrations."""

    def __init__(self, root: Path, settings: IntegrationSettings, *, name: str = "site-north", **master_kw) -> None:
        self.master = Master(MasterSettings(data_dir=root / "master", zeroconf=False, name=name, **master_kw))
        self.master.start()
        self.hub = Integrations(self.master, settings)
        self.hub.start()
        assert self.hub.wait_ready()
        self.worker = LocalWorker("w1", root / "w1", self.master.public_key, capacity=4, test_hooks=True).start()
        self.worker_id = self.master.add_worker(*self.worker.adopt_args())

    @property
    def db(self) -> Path:
        return self.master.store.path

    def stored(self) -> int:
        return sum(v for (_, _, _, k), v in stored_totals(self.db).items() if k == "*")

    def close(self) -> None:
        self.hub.stop()
        self.worker.stop()
        self.master.stop()


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path / "broker") as b:
        yield b


def test_home_assistant_and_a_subscriber_see_the_pool_as_the_store_has_it(tmp_path, broker):
    rec = MqttRecorder(broker.port, ["campool/#", "homeassistant/#"])
    site = Site(tmp_path, IntegrationSettings(mqtt=MqttSettings(port=broker.port)))
    try:
        site.master.add_camera(burst_camera("gate-1", "rate=40&count=240&occupancy=car:2,person:1"))
        zone = f"{PREFIX}/camera/gate-1/zone/yard"
        wait_for(lambda: rec.value(f"{zone}/class/car/occupancy") == "2", 30, "the zone's occupancy per class")
        assert (rec.value(f"{zone}/class/person/occupancy"), rec.value(f"{zone}/occupancy")) == ("1", "3")
        wait_for(lambda: site.stored() == 240, 30, "the burst stored")
        wait_equal(lambda: published_totals(rec, PREFIX), lambda: stored_totals(site.db), 10, "running totals")
        midnight = day_bounds(time.time())[0]
        wait_equal(lambda: published_totals(rec, PREFIX, "today"), lambda: stored_totals(site.db, since=midnight),
                   10, "today's totals")
        assert rec.value(f"{PREFIX}/available") == "online"
        assert rec.value(f"{PREFIX}/worker/{site.worker_id}/state") == "online"
        assert json.loads(rec.value(f"{PREFIX}/worker/{site.worker_id}/metrics"))["cameras"] == 1

        # Home Assistant discovery: the master, the camera (via the master), the worker (via the master)
        configs = {t: json.loads(v) for t, v in rec.matching("homeassistant/device/").items()}
        assert len(configs) == 3, sorted(configs)
        for topic, cfg in configs.items():
            assert check_device_config(topic, cfg) == [], topic
            for c in cfg["cmps"].values():
                assert rec.value(c["state_topic"]) is not None, f"{c['unique_id']}: nothing at {c['state_topic']}"
        ids = unique_ids(configs)
        assert len(ids) == len(set(ids))
        cam_topic = config_topic("homeassistant", camera_device_id(site.master.master_id, "gate-1"))
        master_dev = next(c["dev"]["ids"][0] for c in configs.values() if c["dev"]["mdl"] == "control center")
        assert configs[cam_topic]["dev"]["via_device"] == master_dev

        # Home Assistant restarts: it says online, and gets every config again
        sent = len(rec.seen(cam_topic))
        rec.publish("homeassistant/status", "online")
        wait_for(lambda: len(rec.seen(cam_topic)) > sent, 10, "the discovery configs sent again")

        # a line deleted: its components removed (platform only), then the config without them; topics cleared
        sent = len(rec.seen(cam_topic))
        site.master.update_camera(replace(burst_camera("gate-1", "rate=40&count=240&occupancy=car:2,person:1"),
                                          lines=LINES[:1]))
        wait_for(lambda: not any("/line/south/" in t for t in rec.matching(PREFIX)), 10, "the south line's topics gone")
        updates = [json.loads(m.payload) for m in rec.seen(cam_topic)[sent:]]
        removal = next(u for u in updates if any(v == {"p": "sensor"} for v in u["cmps"].values()))
        assert all("south" in k for k, v in removal["cmps"].items() if v == {"p": "sensor"})
        wait_for(lambda: not any("south" in k for k in json.loads(rec.value(cam_topic))["cmps"]), 10,
                 "the camera's config without the south line")
        assert check_device_config(cam_topic, json.loads(rec.value(cam_topic))) == []
        fresh = MqttRecorder(broker.port, [f"{PREFIX}/#"])
        time.sleep(0.5)
        assert fresh.matching(f"{PREFIX}/camera/gate-1/line/north/")
        assert not [t for t in fresh.matching(PREFIX) if "/line/south/" in t], "the broker kept a retained south topic"
        fresh.close()

        # alerts leave as events: the worker stops, worker_down is raised; the operator acknowledges it
        site.worker.stop()
        wait_for(lambda: any(json.loads(m.payload)["kind"] == "worker_down" for m in rec.seen(f"{PREFIX}/alert")),
                 20, "the worker_down alert as an MQTT event")
        raised = next(json.loads(m.payload) for m in rec.seen(f"{PREFIX}/alert")
                      if json.loads(m.payload)["kind"] == "worker_down")
        assert (raised["event"], raised["severity"], raised["subject"]) == ("raised", "critical", site.worker_id)
        assert not any(m.retain for m in rec.seen(f"{PREFIX}/alert"))
        site.master.ack_alert(raised["id"])
        wait_for(lambda: any(json.loads(m.payload)["event"] == "acknowledged" for m in rec.seen(f"{PREFIX}/alert")),
                 10, "the acknowledgement as an event")
        wait_for(lambda: rec.value(f"{PREFIX}/worker/{site.worker_id}/state") == "offline", 10, "the worker offline")

        # the camera deleted: its device config emptied (Home Assistant removes it), its topics cleared
        site.master.remove_camera("gate-1")
        wait_for(lambda: rec.seen(cam_topic)[-1].payload == b"", 10, "an empty config for the deleted camera")
        wait_for(lambda: not rec.matching(f"{PREFIX}/camera/"), 10, "the camera's topics cleared")
    finally:
        site.close()
        rec.close()
    assert rec.value(f"{PREFIX}/available") == "offline", "a clean stop says offline"


def test_a_wrong_port_or_password_is_a_clear_status_and_an_alert_and_counting_goes_on(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    secret, wrong = "right-Pa55word", "s3cret-WRONG-pw"
    rules = {**default_rules(), "integration_down": replace(default_rules()["integration_down"], for_s=1.0,
                                                            clear_for_s=1.0)}
    closed = free_port()
    site = Site(tmp_path, IntegrationSettings(mqtt=MqttSettings(port=closed)), alert_rules=rules)
    with Mosquitto(tmp_path / "broker", users={"site": secret}) as broker:
        rec = MqttRecorder(broker.port, ["campool/#"], username="site", password=secret)
        try:
            site.master.add_camera(burst_camera("gate-1", "rate=20"))
            wait_for(lambda: site.hub.status().mqtt.state == "failing", 20, "a failing status")
            assert f"127.0.0.1:{closed} refused the connection" in site.hub.status().mqtt.message

            site.hub.reconfigure(IntegrationSettings(mqtt=MqttSettings(port=broker.port, username="site",
                                                                       password=wrong)))
            wait_for(lambda: "refused the login" in site.hub.status().mqtt.message, 20, "the refused login")
            assert "check the user name and password" in site.hub.status().mqtt.message

            def alert():
                return next((a for a in site.master.snapshot().alerts
                             if a.kind == "integration_down" and a.open), None)
            wait_for(lambda: alert() is not None and "refused the login" in alert().message, 20,
                     "an integration_down alert")
            assert (alert().subject, alert().severity) == ("mqtt", "warning")
            before = site.stored()
            wait_for(lambda: site.stored() > before + 20, 20, "counting and storing while MQTT fails")

            site.hub.reconfigure(IntegrationSettings(mqtt=MqttSettings(port=broker.port, username="site",
                                                                       password=secret)))
            wait_for(lambda: site.hub.status().mqtt.state == "connected", 20, "connected with the right password")
            wait_for(lambda: alert() is None, 20, "the alert resolved")
            site.worker.stop()
            wait_equal(lambda: published_totals(rec, PREFIX), lambda: stored_totals(site.db), 15,
                       "totals once connected")
        finally:
            site.close()
            rec.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert wrong not in logged and secret not in logged, "a broker password in the log"


def test_tls_with_the_brokers_ca_connects_and_a_foreign_ca_is_refused_in_words(tmp_path):
    ca, cert, key = make_tls(tmp_path / "tls")
    foreign_ca = make_tls(tmp_path / "foreign")[0]
    with Mosquitto(tmp_path / "broker", tls=(ca, cert, key)) as broker:
        master = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False, name="site-north"))
        master.start()
        hub = Integrations(master, IntegrationSettings(mqtt=MqttSettings(port=broker.port, tls_ca=str(foreign_ca))))
        hub.start()
        rec = MqttRecorder(broker.port, [f"{PREFIX}/#"], tls_ca=ca)
        try:
            wait_for(lambda: "certificate" in hub.status().mqtt.message, 20, "the refused certificate")
            assert "check the TLS CA file" in hub.status().mqtt.message
            hub.reconfigure(IntegrationSettings(mqtt=MqttSettings(port=broker.port, tls_ca=str(ca))))
            wait_for(lambda: hub.status().mqtt.state == "connected", 20, "connected over TLS")
            wait_for(lambda: rec.value(f"{PREFIX}/available") == "online", 10, "online, over TLS")
        finally:
            rec.close()
            hub.stop()
            master.stop()
