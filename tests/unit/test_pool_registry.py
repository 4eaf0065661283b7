"""Worker records from mDNS and adoption: keys are pinned, impostors are flagged, never trusted."""
from __future__ import annotations

from campool_gui.pool.registry import Registry
from campool_worker import protocol as p
from campool_worker.discovery import DiscoveredWorker

KEY_A = "A" * 40
KEY_B = "B" * 40


def rec(instance: str = "gate-box", wid: str = "id1", key: str = KEY_A, host: str = "10.0.0.5",
        port: int = 7761, protocol: int = p.PROTOCOL_VERSION) -> DiscoveredWorker:
    return DiscoveredWorker(instance, wid, host, (host,), port, port + 1, port + 2, key, "0.1.0", protocol, "", 4)


def test_unknown_record_is_shown_as_discovered():
    r = Registry()
    ch = r.seen("gate-box", rec())
    [w] = ch.upsert
    assert (w.worker_id, w.adopted, w.key_conflict) == ("id1", False, "")
    assert r.find("id1").host == "10.0.0.5"


def test_a_record_of_another_protocol_version_says_before_adoption_which_end_to_upgrade():
    [old] = Registry().seen("old-box", rec("old-box", protocol=p.PROTOCOL_VERSION - 1)).upsert
    assert "upgrade the worker" in old.incompatible and old.last_error == old.incompatible
    [new] = Registry().seen("new-box", rec("new-box", wid="id2", protocol=p.PROTOCOL_VERSION + 1)).upsert
    assert "upgrade this control center" in new.incompatible
    [same] = Registry().seen("gate-box", rec()).upsert
    assert same.incompatible == "" and same.last_error == ""


def test_adopted_worker_may_move_address_when_the_key_matches():
    r = Registry()
    r.pin("id1", "gate-box", KEY_A)
    [w] = r.seen("gate-box", rec(host="10.0.0.9", port=9000)).upsert
    assert w.adopted and w.address == "10.0.0.9" and w.cmd_port == 9000 and w.public_key == KEY_A


def test_same_id_with_another_key_is_flagged_and_not_adopted():
    r = Registry()
    r.pin("id1", "gate-box", KEY_A)
    [w] = r.seen("gate-box", rec(key=KEY_B, host="10.6.6.6")).upsert
    assert not w.adopted
    assert w.worker_id != "id1", "the impostor must not replace the pinned worker's record"
    assert "different key" in w.key_conflict and "not trusted" in w.key_conflict
    assert not w.usable


def test_same_name_with_another_key_and_id_is_flagged():
    r = Registry()
    r.pin("id1", "gate-box", KEY_A)
    [w] = r.seen("gate-box-2", rec(instance="gate-box", wid="other", key=KEY_B)).upsert
    assert w.key_conflict and not w.adopted


def test_pinned_key_under_a_new_id_is_the_same_worker():
    r = Registry()
    r.pin("id1", "gate-box", KEY_A)
    [w] = r.seen("gate-box", rec(wid="renamed")).upsert
    assert w.worker_id == "id1" and w.adopted


def test_record_removal_drops_only_non_adopted_workers():
    r = Registry()
    r.seen("x", rec(instance="x", wid="x1", key=KEY_B))
    assert r.seen("x", None).remove == ["x1"]
    r.pin("id1", "gate-box", KEY_A)
    r.seen("gate-box", rec())
    assert r.seen("gate-box", None).remove == []


def test_flagged_record_raises_a_key_conflict_alert_in_the_core():
    from campool_gui.pool.clock import FakeClock
    from campool_gui.pool.core import PoolCore
    core = PoolCore(FakeClock())
    r = Registry()
    r.pin("id1", "gate-box", KEY_A)
    for w in r.seen("gate-box", rec(key=KEY_B)).upsert:
        core.upsert_worker(w)
    core.tick()
    assert any(a.kind == "key_conflict" for a in core.alerts.open_alerts())
