"""An integration's problem reaches the pool core as an input and becomes an alert when it lasts."""
from __future__ import annotations

from tests.helpers.pool_sim import SimPool


def open_kinds(sim: SimPool) -> list[tuple[str, str, str]]:
    return [(a.kind, a.subject, a.message) for a in sim.core.alerts.open_alerts()]


def test_a_lasting_broker_problem_raises_a_warning_and_clears_when_it_works_again():
    sim = SimPool()
    sim.add_worker("w1")
    problem = "the MQTT broker refused the login (bad user name or password); check the user name and password"
    sim.core.integration_status("mqtt", problem)
    sim.step(1.0, ticks=5)
    assert open_kinds(sim) == [], "a short blip (a broker restart) raises nothing"
    sim.step(1.0, ticks=6)
    [a] = sim.core.alerts.open_alerts()
    assert (a.kind, a.subject, a.message, a.severity) == ("integration_down", "mqtt", problem, "warning")
    sim.core.integration_status("mqtt", "")
    sim.step(1.0, ticks=6)
    assert open_kinds(sim) == []
    assert sim.core.alerts.alerts[a.id].state == "resolved"


def test_each_integration_is_its_own_subject():
    sim = SimPool()
    sim.core.integration_status("metrics", "the metrics endpoint cannot listen on 127.0.0.1:9464 (in use)")
    sim.core.integration_status("mqtt", "")
    sim.step(1.0, ticks=12)
    assert [(k, s) for k, s, _ in open_kinds(sim)] == [("integration_down", "metrics")]
