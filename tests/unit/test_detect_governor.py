"""Saturation by priority (issue #15): a worker that drops frames lowers the detection of its
lowest-priority adaptive cameras first, never below their floor, and gives it back, highest
priority first, once it keeps up."""
from __future__ import annotations

from campool_worker.detect_governor import CALM_S, STEP_DOWN, DetectGovernor, GovernedCamera


def cams(dropped: dict[str, int], adaptive: dict[str, bool] | None = None) -> list[GovernedCamera]:
    prio = {"crit": "critical", "norm": "normal", "low1": "low", "low2": "low"}
    return [GovernedCamera(cid, prio[cid], 10.0, 1.0, dropped.get(cid, 0), (adaptive or {}).get(cid, True))
            for cid in prio]


def test_nothing_dropped_nothing_lowered():
    g = DetectGovernor()
    for t in range(10):
        out = g.step(cams({}), float(t))
    assert {c: a.budget for c, a in out.items()} == {"crit": 10.0, "norm": 10.0, "low1": 10.0, "low2": 10.0}
    assert all(a.reason == "" for a in out.values())


def test_drops_lower_the_low_priority_cameras_first_one_step_a_second_down_to_their_floor():
    g = DetectGovernor()
    g.step(cams({}), 0.0)
    dropped = 0
    budgets = []
    for t in range(1, 30):
        dropped += 5                                   # the critical camera drops frames every second
        out = g.step(cams({"crit": dropped}), float(t))
        budgets.append({c: round(a.budget, 3) for c, a in out.items()})
    first = budgets[0]
    assert first["low1"] < 10.0 or first["low2"] < 10.0    # a low-priority camera gave way first
    assert first["crit"] == first["norm"] == 10.0
    # The two low ones go down in turn, to the floor, before the normal one is touched ...
    lows_at_floor = next(i for i, b in enumerate(budgets) if b["low1"] == b["low2"] == 1.0)
    assert all(b["norm"] == 10.0 for b in budgets[:lows_at_floor + 1])
    # ... and the critical camera only when every other is at its floor; never below its own.
    norm_at_floor = next(i for i, b in enumerate(budgets) if b["norm"] == 1.0)
    assert all(b["crit"] == 10.0 for b in budgets[:norm_at_floor + 1])
    assert min(b["crit"] for b in budgets) >= 1.0
    assert budgets[0]["low1"] in (10.0, round(10.0 * STEP_DOWN, 3))
    assert "cannot keep up" in out["low1"].reason and "crit" in out["low1"].reason


def test_calm_gives_budget_back_highest_priority_first_and_clears_the_reason():
    g = DetectGovernor()
    g.step(cams({}), 0.0)
    dropped = 0
    t = 0.0
    for _ in range(18):          # 7 steps take a low camera from 10 to its floor of 1
        t += 1.0
        dropped += 3
        out = g.step(cams({"low1": dropped}), t)
    lowered = {c for c, a in out.items() if a.budget < 10.0}
    assert "norm" in lowered and "crit" not in lowered
    order = []
    while any(a.budget < 10.0 for a in out.values()):
        t += 1.0
        out = g.step(cams({"low1": dropped}), t)
        for c, a in out.items():
            if a.budget == 10.0 and c in lowered and c not in order:
                order.append(c)
        assert t < 600, out
    assert order[0] == "norm"                  # the highest priority lowered comes back first
    assert all(a.reason == "" for a in out.values())
    # one camera per CALM_S: coming back is slower than giving way
    assert t - 19.0 >= CALM_S * 3


def test_fixed_rate_cameras_are_not_governed_and_a_reopened_source_is_not_a_drop():
    g = DetectGovernor()
    fixed = {"low1": False, "low2": False}
    g.step(cams({"norm": 100}, fixed), 0.0)
    out = g.step(cams({"norm": 3}, fixed), 1.0)       # its source reopened: 3 new drops, not -97
    assert "low1" not in out and "low2" not in out
    assert out["norm"].budget < 10.0 and out["crit"].budget == 10.0


def test_a_hot_standby_gives_way_before_any_camera_that_counts():
    g = DetectGovernor()
    line = [GovernedCamera("low", "low", 10.0, 1.0, 0, True), GovernedCamera("sb", "standby", 10.0, 1.0, 0, True)]
    g.step(line, 0.0)
    out = g.step([GovernedCamera("low", "low", 10.0, 1.0, 4, True), line[1]], 1.0)  # "low" dropped 4
    assert out["sb"].budget < 10.0 and out["low"].budget == 10.0
