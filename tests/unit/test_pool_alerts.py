"""Alert rules and lifecycle: hold times, folding, ack, resolve, auto-resolve, configuration."""
from __future__ import annotations

from dataclasses import replace

from campool_gui.pool.alerts import AlertManager, default_rules
from campool_gui.pool.clock import FakeClock
from campool_worker.camera import CameraConfig, CountEvent, CountingLine, Zone
from tests.helpers import wire
from tests.helpers.pool_sim import SimPool


def test_condition_must_hold_for_the_rule_time_before_an_alert_is_raised():
    clock = FakeClock()
    am = AlertManager(clock)
    for _ in range(59):
        am.observe("cpu_high", "w1", True, value=95)
        clock.advance(1)
    assert am.open_alerts() == []
    am.observe("cpu_high", "w1", True, value=96)
    clock.advance(1)
    am.observe("cpu_high", "w1", True, value=97)
    [a] = am.open_alerts()
    assert (a.kind, a.subject, a.state, a.value) == ("cpu_high", "w1", "raised", 97)


def test_a_blip_shorter_than_the_hold_time_raises_nothing():
    clock = FakeClock()
    am = AlertManager(clock)
    for active in [True] * 30 + [False] + [True] * 30:
        am.observe("cpu_high", "w1", active, value=95)
        clock.advance(1)
    assert am.open_alerts() == []


def test_repeats_are_folded_into_one_open_alert():
    clock = FakeClock()
    am = AlertManager(clock)
    am.repeat("worker_down", "w1", "worker w1 is down")
    clock.advance(10)
    am.repeat("worker_down", "w1", "worker w1 is down again")
    [a] = am.open_alerts()
    assert a.count == 2 and a.message == "worker w1 is down again"
    assert len(am.alerts) == 1


def test_ack_then_auto_resolve_after_the_condition_stays_clear():
    clock = FakeClock()
    am = AlertManager(clock)
    am.observe("disk_full", "w1", True, value=95)
    [a] = am.open_alerts()
    assert am.ack(a.id).state == "acknowledged"
    am.observe("disk_full", "w1", True, value=96)
    assert am.alerts[a.id].state == "acknowledged"
    for _ in range(59):
        am.observe("disk_full", "w1", False)
        clock.advance(1)
    assert am.alerts[a.id].open
    clock.advance(1)
    am.observe("disk_full", "w1", False)
    assert am.alerts[a.id].state == "resolved"
    changes = [(x.id, x.state) for x in am.take_changed()]
    assert changes == [(a.id, "resolved")]


def test_operator_resolve_of_a_condition_that_still_holds_raises_it_again_later_as_a_new_alert():
    clock = FakeClock()
    am = AlertManager(clock)
    am.observe("disk_full", "w1", True)
    [a] = am.open_alerts()
    am.resolve(a.id)
    am.observe("disk_full", "w1", True)
    assert am.open_alerts() == []
    clock.advance(61)
    am.observe("disk_full", "w1", True)
    [b] = am.open_alerts()
    assert b.id != a.id


def test_rules_are_configurable_per_subject_and_can_be_disabled():
    clock = FakeClock()
    rules = default_rules()
    rules["zone_occupancy"] = replace(rules["zone_occupancy"], threshold=20, for_s=0, overrides={"gate/yard": 3})
    rules["cpu_high"] = replace(rules["cpu_high"], enabled=False)
    am = AlertManager(clock, rules)
    assert am.threshold("zone_occupancy", "gate/yard") == 3
    assert am.threshold("zone_occupancy", "other/yard") == 20
    am.observe("cpu_high", "w1", True, value=100)
    clock.advance(120)
    am.observe("cpu_high", "w1", True, value=100)
    assert am.open_alerts() == []


def test_worker_down_is_raised_when_heartbeats_stop_and_resolved_when_it_returns():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.step(ticks=2)
    sim.alive = False
    pool.step(ticks=5)
    [a] = [x for x in pool.core.alerts.open_alerts() if x.kind == "worker_down"]
    assert a.subject == "w1" and a.severity == "critical"
    sim.alive = True
    pool.step(ticks=8)
    assert pool.core.alerts.alerts[a.id].state == "resolved"


def test_line_rate_and_zone_occupancy_rules_fire_on_counts():
    pool = SimPool()
    rules = pool.core.alerts.rules
    rules["line_rate"] = replace(rules["line_rate"], threshold=5)
    rules["zone_occupancy"] = replace(rules["zone_occupancy"], threshold=10, for_s=0)
    pool.add_worker("w1")
    cfg = CameraConfig("gate", "/v/gate.mp4", lines=[CountingLine.parse("L:0,0,10,10")],
                       zones=[Zone.parse("yard:0,0,10,0,10,10")])
    pool.core.add_camera(cfg)
    pool.step()
    events = [CountEvent("gate", 1, i + 1, "L", "in", "car", i, pool.clock.wall(), i) for i in range(6)]
    pool.core.stored(events, pool.core.judge(events), [True] * 6)
    lease = pool.core.state.leases["gate"]
    pool.core.state.cameras["gate"].status = wire.camera("gate", lease.epoch, "running", zones={"yard": 12})
    pool.core.tick()
    kinds = {(a.kind, a.subject) for a in pool.core.alerts.open_alerts()}
    assert ("line_rate", "gate/L") in kinds
    assert ("zone_occupancy", "gate/yard") in kinds
    pool.clock.advance(61)
    pool.core.state.cameras["gate"].status = wire.camera("gate", lease.epoch, "running", zones={"yard": 2})
    pool.core.tick()
    pool.clock.advance(61)
    pool.core.tick()
    kinds = {(a.kind, a.subject) for a in pool.core.alerts.open_alerts()}
    assert ("line_rate", "gate/L") not in kinds and ("zone_occupancy", "gate/yard") not in kinds


def test_outbox_backlog_alert_needs_a_growing_backlog():
    pool = SimPool()
    sim = pool.add_worker("w1", backlog=900)  # large but steady: no alert
    pool.step(ticks=90)
    assert not any(a.kind == "outbox_backlog" for a in pool.core.alerts.open_alerts())
    for _ in range(90):
        sim.backlog += 20                    # growing
        pool.step()
    assert any(a.kind == "outbox_backlog" for a in pool.core.alerts.open_alerts())


def test_alert_changes_reach_subscribers_and_records():
    pool = SimPool()
    sim = pool.add_worker("w1")
    pool.step()
    sim.alive = False
    pool.step(ticks=5)
    from campool_gui.pool.views import AlertChanged
    assert any(isinstance(e, AlertChanged) and e.alert.kind == "worker_down" for e in pool.events)
