"""Placement policies and the planner's shared rules (capacity, pins, capability, preemption)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from campool_gui.pool.models import Camera, Worker, WorkerCapabilities, WorkerMetrics
from campool_gui.pool.scheduler import POLICIES, make_policy, plan
from campool_worker.camera import CameraConfig
from tests.helpers import wire


def worker(wid: str, capacity: int = 4, *, cpu: float | None = None, gpu: str = "", site: str = "",
           groups=(), kinds=None, running: int = 0) -> Worker:
    caps = WorkerCapabilities(capacity=capacity, gpu=bool(gpu), gpu_name=gpu, site=site, groups=frozenset(groups),
                              **({"source_kinds": frozenset(kinds)} if kinds else {}))
    w = Worker(wid, wid, adopted=True, alive=True, capabilities=caps)
    if cpu is not None:
        w.metrics = WorkerMetrics(0.0, cpu_pct=cpu)
    for i in range(running):
        w.camera_status[f"x{i}"] = wire.camera(f"x{i}", 1, "running")
    return w


def cam(cid: str, *, priority: str = "normal", site: str = "", model: str | None = None, source: str | None = None,
        pin: str | None = None) -> Camera:
    return Camera(CameraConfig(cid, source or f"/v/{cid}.mp4", priority=priority, site=site, model=model), pin=pin)


def targets(result) -> dict[str, str | None]:
    out = {}
    for mv in result.moves:
        out[mv.camera_id] = mv.target
    return out


def test_round_robin_deals_cameras_in_turn():
    ws = [worker("a"), worker("b"), worker("c")]
    res = plan([cam(f"c{i}") for i in range(6)], ws, {}, make_policy("round_robin"))
    assert [targets(res)[f"c{i}"] for i in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_least_loaded_prefers_the_lowest_measured_load_and_counts_what_it_planned():
    ws = [worker("busy", cpu=70, running=2), worker("idle", cpu=10, running=1)]
    res = plan([cam("c1"), cam("c2"), cam("c3")], ws, {}, make_policy("least_loaded"))
    got = targets(res)
    # idle: 0.10 + 0.10 per camera; busy: 0.70 + 0.35 per camera -> all three fit best on idle
    assert got == {"c1": "idle", "c2": "idle", "c3": "idle"}
    ws[1].metrics = WorkerMetrics(0.0, cpu_pct=50)
    res = plan([cam("c1"), cam("c2")], ws, {}, make_policy("least_loaded"))
    assert sorted(targets(res).values()) == ["busy", "idle"] or targets(res)["c1"] == "idle"


def test_capability_puts_model_cameras_on_gpu_workers_and_respects_source_kinds():
    ws = [worker("cpu-box"), worker("gpu-box", gpu="RTX 4000")]
    res = plan([cam("ai", model="/models/yolox.onnx")], ws, {}, make_policy("capability"))
    assert targets(res) == {"ai": "gpu-box"}
    ws = [worker("files-only", kinds={"file"}), worker("any")]
    res = plan([cam("rtsp", source="rtsp://10.0.0.5/s")], ws, {}, make_policy("capability"))
    assert targets(res) == {"rtsp": "any"}
    res = plan([cam("rtsp", source="rtsp://10.0.0.5/s")], [worker("files-only", kinds={"file"})], {},
               make_policy("hybrid"))
    assert (res.moves == [] and "cannot open rtsp" in res.unplaced["rtsp"]) or "rtsp" in res.unplaced["rtsp"]


def test_priority_places_critical_first_when_capacity_is_short():
    ws = [worker("a", capacity=2)]
    cams = [cam("low1", priority="low"), cam("crit", priority="critical"), cam("norm", priority="normal")]
    res = plan(cams, ws, {}, make_policy("priority"))
    assert set(targets(res)) == {"crit", "norm"}
    assert res.unplaced == {"low1": "no worker has free capacity"}


def test_critical_camera_preempts_a_low_one_but_not_an_equal_or_pinned_one():
    ws = [worker("a", capacity=2)]
    cams = [cam("low", priority="low"), cam("high", priority="high"), cam("crit", priority="critical")]
    res = plan(cams, ws, {"low": "a", "high": "a"}, make_policy("hybrid"))
    moves = {(m.camera_id, m.target, m.reason) for m in res.moves}
    assert ("low", None, "preempted") in moves and ("crit", "a", "preempt") in moves
    assert "low" in res.unplaced
    # a normal camera may not preempt a low one (gap of one level) ...
    res = plan([cam("low", priority="low"), cam("n", priority="normal")], [worker("a", capacity=1)], {"low": "a"},
               make_policy("hybrid"))
    assert res.moves == [] and "n" in res.unplaced
    # ... and a pinned low camera is never preempted
    res = plan([cam("low", priority="low", pin="a"), cam("crit", priority="critical")], [worker("a", capacity=1)],
               {"low": "a"}, make_policy("hybrid"))
    assert res.moves == [] and "crit" in res.unplaced


def test_round_robin_never_preempts():
    res = plan([cam("low", priority="low"), cam("crit", priority="critical")], [worker("a", capacity=1)],
               {"low": "a"}, make_policy("round_robin"))
    assert res.moves == [] and "crit" in res.unplaced


def test_site_affinity_prefers_same_site_then_group_then_anywhere():
    ws = [worker("far"), worker("grp", groups={"north"}), worker("home", site="north", capacity=1)]
    res = plan([cam("c1", site="north"), cam("c2", site="north"), cam("c3", site="north")], ws, {},
               make_policy("site"))
    got = targets(res)
    assert got["c1"] == "home"
    assert got["c2"] == "grp" and got["c3"] == "grp"


def test_hybrid_uses_site_to_break_ties_between_equally_loaded_workers():
    ws = [worker("a", cpu=30, running=1), worker("b", site="south", cpu=32, running=1)]
    res = plan([cam("c", site="south")], ws, {}, make_policy("hybrid"))
    assert targets(res) == {"c": "b"}
    ws = [worker("a", cpu=10, running=1), worker("b", site="south", cpu=90, running=1)]
    res = plan([cam("c", site="south")], ws, {}, make_policy("hybrid"))
    assert targets(res) == {"c": "a"}, "load outranks site"


def test_pinned_camera_goes_to_its_worker_and_pushes_an_auto_camera_out_when_full():
    ws = [worker("a", capacity=1), worker("b", capacity=2)]
    res = plan([cam("auto"), cam("pinned", pin="a")], ws, {"auto": "a"}, make_policy("hybrid"))
    got = [(m.camera_id, m.source, m.target) for m in res.moves]
    assert ("pinned", None, "a") in got
    assert ("auto", "a", None) in got and ("auto", None, "b") in got


def test_cameras_of_an_unusable_worker_are_placed_elsewhere():
    dead = worker("dead")
    dead.alive = False
    res = plan([cam("c")], [dead, worker("ok")], {"c": "dead"}, make_policy("hybrid"))
    assert [(m.camera_id, m.source, m.target, m.reason) for m in res.moves] == [("c", "dead", "ok", "failover")]


def test_blocked_pairs_are_skipped_and_reported():
    res = plan([cam("c")], [worker("a"), worker("b")], {}, make_policy("hybrid"), blocked=lambda c, w: w == "a")
    assert targets(res) == {"c": "b"}
    res = plan([cam("c")], [worker("a")], {}, make_policy("hybrid"), blocked=lambda c, w: True)
    assert "breakers" in res.unplaced["c"]


def test_unknown_policy_is_a_clear_error():
    try:
        make_policy("fastest")
    except ValueError as exc:
        assert "round_robin" in str(exc)
    else:
        raise AssertionError("expected ValueError")


@settings(max_examples=150, deadline=None)
@given(caps=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=5),
       prios=st.lists(st.sampled_from(["critical", "high", "normal", "low"]), min_size=0, max_size=14),
       policy=st.sampled_from(sorted(POLICIES)))
def test_no_policy_ever_exceeds_capacity_or_leaves_room_unused(caps, prios, policy):
    ws = [worker(f"w{i}", capacity=c) for i, c in enumerate(caps)]
    cams = [cam(f"c{i:02d}", priority=p) for i, p in enumerate(prios)]
    res = plan(cams, ws, {}, make_policy(policy))
    load: dict[str, int] = {}
    for target in targets(res).values():
        if target is not None:
            load[target] = load.get(target, 0) + 1
    for w in ws:
        assert load.get(w.worker_id, 0) <= w.capabilities.capacity
    placed = sum(load.values())
    assert placed == min(len(cams), sum(caps))
    if placed < len(cams) and POLICIES[policy]().preempts:
        # what runs is never of lower priority than what waits, by more than the preemption gap
        from campool_gui.pool.models import PRIORITY_RANK
        running = [PRIORITY_RANK[c.config.priority] for c in cams if targets(res).get(c.camera_id)]
        waiting = [PRIORITY_RANK[c.config.priority] for c in cams if c.camera_id in res.unplaced]
        if running and waiting:
            assert max(running) < min(waiting) + 2
