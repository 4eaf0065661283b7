"""Topic and payload building: the real pool core (SimPool, a FakeClock) feeds a PoolMirror through
its change stream, and the MQTT state, the Home Assistant configs and the metrics are built from it."""
from __future__ import annotations

import json
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from campool_gui.integrations.ha_discovery import Discovery, camera_device_id, ha_id, removal_step
from campool_gui.integrations.metrics import PoolCollector
from campool_gui.integrations.mirror import PoolMirror
from campool_gui.integrations.topics import Topics, alert_payload, segment, state_messages
from campool_gui.pool.views import CountsChanged
from campool_worker.camera import CameraConfig, CountEvent, CountingLine, Zone
from tests.helpers import wire
from tests.helpers.ha_schema import check_device_config, unique_ids
from tests.helpers.pool_sim import SimPool

BERLIN = ZoneInfo("Europe/Berlin")
CAM = "gate 1"                                      # a space: percent-encoded in topics
PREFIX = "campool/site-north"


class Fed:
    """A SimPool whose change stream feeds a mirror, as the integrations' thread does."""

    def __init__(self) -> None:
        self.sim = SimPool()
        self.sim.add_worker("w1")
        self.sim.add_camera(CAM)
        self.config = CameraConfig(CAM, f"/videos/{CAM}.mp4", lines=[CountingLine.parse("L:0,0,10,10"),
                                                                     CountingLine.parse("south:0,5,10,5")],
                                   zones=[Zone.parse("yard:0,0,5,0,5,5")], classes=["car", "person"])
        self.sim.core.update_camera(self.config)
        self.sim.step(1.0)
        self.mirror = PoolMirror(self.now, BERLIN)
        self.mirror.load(self.sim.core.snapshot(), {}, set(), self.now)
        self.sim.events.clear()
        self.topics = Topics(PREFIX)

    @property
    def now(self) -> float:
        return self.sim.clock.wall()

    def step(self, seconds: float = 1.0, ticks: int = 1) -> list:
        self.sim.step(seconds, ticks)
        transitions = self.feed()
        self.mirror.tick(self.now)
        return transitions

    def feed(self) -> list:
        self.sim.deliver()
        out = [t for ev in self.sim.events for t in self.mirror.apply(ev, self.now)]
        self.sim.events.clear()
        return out

    def state(self) -> dict[str, str]:
        return state_messages(self.mirror, self.topics, self.now)

    def line(self, line: str, d: str, what: str, k: str | None = None) -> str:
        return self.state()[self.topics.line(CAM, line, d, what, k)]


@pytest.fixture
def fed() -> Fed:
    return Fed()


def test_names_never_add_a_level_or_a_wildcard():
    assert segment("gate-1") == "gate-1"
    assert segment("traffic light") == "traffic%20light"
    assert segment("a/b+#") == "a%2Fb%2B%23"
    assert Topics("campool/x").line("gate 1", "north", "in", "total", "traffic light") == \
        "campool/x/camera/gate%201/line/north/in/class/traffic%20light/total"


def test_published_totals_are_the_stored_totals_per_class_and_in_all(fed):
    fed.step(1.0, ticks=30)
    stored = fed.sim.core.counts[CAM]["L"]
    assert stored.in_total > 20
    assert fed.line("L", "in", "total") == str(stored.in_total)
    assert fed.line("L", "in", "total", "car") == str(stored.by_class["car"]["in"])
    assert fed.line("L", "in", "total", "person") == "0", "a configured class is there from the start"
    assert fed.line("south", "out", "total") == "0"
    assert f"{PREFIX}/camera/gate%201/state" in fed.state()
    assert fed.state()[fed.topics.camera_state(CAM)] == "running"
    info = json.loads(fed.state()[fed.topics.camera_info(CAM)])
    assert info["worker"] == "w1" and info["fps"] == 10.0 and info["last_frame_ts"] is not None


def test_today_and_the_rate_count_by_the_events_time(fed):
    fed.step(1.0, ticks=120)
    stored = fed.sim.core.counts[CAM]["L"].in_total
    assert fed.line("L", "in", "today") == str(stored), "all of it happened today"
    in_last_minute = sum(1 for ev, _ in fed.sim.stored.values() if ev.ts >= fed.now - 60)
    assert int(fed.line("L", "in", "rate")) == in_last_minute
    assert 80 <= in_last_minute <= 90            # 10 fps, a crossing every 7th frame


def test_today_goes_back_to_zero_at_local_midnight_while_the_total_keeps_growing(fed):
    # the FakeClock starts at 2023-11-14 23:13 in Berlin: an hour takes it past midnight
    fed.step(60.0, ticks=60)
    total_before = int(fed.line("L", "in", "total"))
    assert int(fed.line("L", "in", "today")) == total_before - sum(
        1 for ev, _ in fed.sim.stored.values() if ev.ts < fed.mirror.today.start)
    assert fed.mirror.today.start > fed.sim.clock.wall() - 60 * 60, "the day rolled over during the run"
    after_midnight = sum(1 for ev, _ in fed.sim.stored.values() if ev.ts >= fed.mirror.today.start)
    assert int(fed.line("L", "in", "today")) == after_midnight < total_before


def test_events_already_counted_in_todays_history_are_not_counted_twice(fed):
    ev = CountEvent(CAM, 1, 999, "L", "in", "car", 1, fed.now, 1)
    fed.mirror.load(fed.sim.core.snapshot(), {(CAM, "L", "in", "car"): 5}, {(CAM, 1, 999)}, fed.now)
    fed.mirror.apply(CountsChanged(CAM, fed.sim.core.snapshot().cameras[0].counts, (ev,)), fed.now)
    assert fed.mirror.today_count(CAM, "L", "in", "car") == 5
    fed.mirror.apply(CountsChanged(CAM, {}, (replace(ev, seq=1000),)), fed.now)
    assert fed.mirror.today_count(CAM, "L", "in", "car") == 6


def test_zone_occupancy_per_class_comes_from_the_heartbeat(fed):
    lease = fed.sim.core.state.leases[CAM]
    tel = wire.camera(CAM, lease.epoch, fps=10, frame_index=50, frames=50, zones={"yard": 3},
                      zone_classes={"yard": {"car": 2, "person": 1}})
    fed.sim.core.heartbeat("w1", wire.status("w1", [tel], clock=fed.now))
    fed.feed()
    s = fed.state()
    assert s[fed.topics.zone(CAM, "yard")] == "3"
    assert (s[fed.topics.zone(CAM, "yard", "car")], s[fed.topics.zone(CAM, "yard", "person")]) == ("2", "1")


def test_worker_state_and_metrics_as_ratios(fed):
    fed.sim.workers["w1"].cpu = 42.0
    fed.step()
    s = fed.state()
    assert s[fed.topics.worker_state("w1")] == "online"
    m = json.loads(s[fed.topics.worker_metrics("w1")])
    assert m["cpu"] == 0.42 and m["memory"] == 0.3 and m["gpu"] is None and m["cameras"] == 1


def test_a_removed_line_and_a_removed_camera_take_their_topics_with_them(fed):
    fed.step(1.0, ticks=10)
    assert any("/line/south/" in t for t in fed.state())
    fed.sim.core.update_camera(replace(fed.config, lines=[CountingLine.parse("L:0,0,10,10")]))
    fed.step()
    assert not any("/line/south/" in t for t in fed.state())
    assert any("/line/L/" in t for t in fed.state())
    fed.sim.core.remove_camera(CAM)
    fed.step()
    assert not any(t.startswith(fed.topics.camera(CAM)) for t in fed.state())


def test_alerts_leave_as_events_on_each_change_of_state(fed):
    core = fed.sim.core
    core.alerts.repeat("worker_down", "w1", "worker w1 is down")
    [t] = fed.step()
    core.alerts.repeat("worker_down", "w1", "worker w1 is down again")
    assert fed.step() == [], "a repeat folded into the open alert is not a new event"
    [a] = core.alerts.open_alerts()
    core.alerts.ack(a.id)
    [t2] = fed.step()
    core.alerts.resolve(a.id)
    [t3] = fed.step()
    events = [json.loads(alert_payload(x)) for x in (t, t2, t3)]
    assert [e["event"] for e in events] == ["raised", "acknowledged", "resolved"]
    assert {e["id"] for e in events} == {a.id}
    assert events[0]["kind"] == "worker_down" and events[0]["severity"] == "critical"
    assert events[2]["resolved_at"] is not None


# ----------------------------------------------------------------- Home Assistant discovery

def discovery(fed: Fed) -> dict:
    return Discovery(fed.topics, master_id="m1", site="site-north", version="0.1.0").configs(fed.mirror)


def test_every_discovery_config_has_the_documented_required_keys(fed):
    fed.step(1.0, ticks=5)
    configs = discovery(fed)
    assert len(configs) == 3, "the master, the camera, the worker"
    for topic, cfg in configs.items():
        assert check_device_config(topic, json.loads(json.dumps(cfg))) == [], topic
    ids = unique_ids(configs)
    assert len(ids) == len(set(ids))
    master = next(c for c in configs.values() if c["dev"]["mdl"] == "control center")
    for cfg in configs.values():
        if cfg is not master:
            assert cfg["dev"]["via_device"] == master["dev"]["ids"][0]
        assert cfg["availability_topic"] == f"{PREFIX}/available"


def test_totals_are_total_increasing_and_rates_and_occupancy_measurements(fed):
    fed.step()
    cam = next(c for c in discovery(fed).values() if c["dev"]["mdl"] == "camera")
    by_topic = {c["state_topic"]: c for c in cam["cmps"].values()}
    t = fed.topics
    assert by_topic[t.line(CAM, "L", "in", "total")]["state_class"] == "total_increasing"
    assert by_topic[t.line(CAM, "L", "in", "today")]["state_class"] == "total_increasing"
    assert by_topic[t.line(CAM, "L", "in", "total", "car")]["state_class"] == "total_increasing"
    assert by_topic[t.line(CAM, "south", "out", "rate")]["state_class"] == "measurement"
    assert by_topic[t.zone(CAM, "yard")]["state_class"] == "measurement"
    assert by_topic[t.zone(CAM, "yard", "person")]["state_class"] == "measurement"
    assert cam["cmps"]["running"]["p"] == "binary_sensor"
    # every state topic a config names is one the state publishes
    assert {c["state_topic"] for c in cam["cmps"].values()} <= set(fed.state())


def test_removing_a_line_removes_its_components_first_with_only_their_platform(fed):
    fed.step()
    topic = next(t for t in discovery(fed) if camera_device_id("m1", CAM) in t)
    old = discovery(fed)[topic]
    fed.sim.core.update_camera(replace(fed.config, lines=[CountingLine.parse("L:0,0,10,10")]))
    fed.step()
    new = discovery(fed)[topic]
    step = removal_step(old, new)
    assert step is not None
    gone = {k: v for k, v in step["cmps"].items() if k not in new["cmps"]}
    assert gone and all(v == {"p": "sensor"} for v in gone.values())
    assert all("south" in k for k in gone)
    assert removal_step(new, new) is None


def test_ids_stay_unique_when_names_slug_alike():
    assert ha_id("gate 1") != ha_id("gate_1") != ha_id("gate-1")
    assert ha_id("gate_1") == "gate_1"


# ----------------------------------------------------------------- Prometheus

def scrape(fed: Fed) -> dict:
    reg = CollectorRegistry(auto_describe=False)
    import threading
    reg.register(PoolCollector(fed.mirror, threading.Lock(), version="0.1.0"))
    text = generate_latest(reg).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_counters_are_the_stored_totals_and_known_label_sets_start_at_zero(fed):
    fed.step(1.0, ticks=20)
    samples = scrape(fed)
    stored = fed.sim.core.counts[CAM]["L"].by_class["car"]["in"]
    key = ("campool_line_crossings_total", (("camera", CAM), ("class", "car"), ("direction", "in"), ("line", "L")))
    assert samples[key] == stored
    crossings = [k for k in samples if k[0] == "campool_line_crossings_total"]
    assert len(crossings) == 2 * 2 * 2, "lines x directions x classes, each there from the start"
    assert samples[("campool_line_crossings_total", (("camera", CAM), ("class", "person"), ("direction", "out"),
                                                     ("line", "south")))] == 0
    assert samples[("campool_camera_up", (("camera", CAM),))] == 1
    assert samples[("campool_worker_up", (("worker", "w1"),))] == 1
    assert samples[("campool_worker_cpu_ratio", (("worker", "w1"),))] == 0.2
    assert samples[("campool_build_info", (("version", "0.1.0"),))] == 1
    assert {k[1][0][1] for k in samples if k[0] == "campool_alerts_open"} == {"info", "warning", "error", "critical"}
    labels = {name for _, lab in samples for name, _ in lab}
    assert labels <= {"camera", "line", "direction", "class", "zone", "worker", "severity", "version"}
