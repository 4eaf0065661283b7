"""The masters a worker serves, as the pool core shows them, and the alert when another master
adopts one of this master's workers."""
from __future__ import annotations

from campool_gui.pool.actions import SettingSaved
from campool_gui.pool.clock import FakeClock
from campool_gui.pool.core import PoolCore
from campool_gui.pool.models import Worker
from campool_worker import protocol as p
from tests.helpers import wire

ME = "M" * 40
OTHER = "O" * 40
THIRD = "T" * 40


def core_with_worker(**restore) -> PoolCore:
    core = PoolCore(FakeClock(), own_key=ME)
    worker = Worker("w1", "edge-1", address="10.0.0.5", public_key="K" * 40, adopted=True)
    if restore:
        core.restore(workers=[worker], cameras=[], leases=[], epochs={}, cuts=[], last_frames={}, counts={},
                     **restore)
    else:
        core.upsert_worker(worker)
    return core


def beat(core: PoolCore, *masters: p.MasterInfo) -> None:
    core.heartbeat("w1", wire.status("w1", masters=masters))
    core.tick()


def mine() -> p.MasterInfo:
    return p.MasterInfo(ME, "desk", 1_700_000_000.0)


def other_master_alerts(core: PoolCore):
    return [a for a in core.alerts.open_alerts() if a.kind == "other_master"]


def test_a_master_that_appears_on_a_worker_raises_a_warning_here():
    core = core_with_worker()
    beat(core, mine())
    beat(core, mine())
    assert other_master_alerts(core) == []
    beat(core, mine(), p.MasterInfo(OTHER, "mallory-laptop", 1_700_000_100.0))
    [alert] = other_master_alerts(core)
    assert alert.severity == "warning" and alert.subject == "w1"
    assert "edge-1 was adopted by another master 'mallory-laptop' (key OOOOOOOO" in alert.message
    assert "campool-worker masters --remove OOOOOOOO" in alert.message
    beat(core, mine(), p.MasterInfo(OTHER, "mallory-laptop", 1_700_000_100.0))
    assert len(other_master_alerts(core)) == 1 and other_master_alerts(core)[0].count == 1, "told once"


def test_the_masters_already_there_at_the_first_status_are_the_baseline():
    core = core_with_worker()
    beat(core, p.MasterInfo(OTHER, "ops-room", 1_600_000_000.0), mine())
    assert other_master_alerts(core) == []
    [w] = core.snapshot().workers
    assert any("also serves master 'ops-room' (key OOOOOOOO" in text for _, text in w.events), "said, not alerted"
    records = [r for r in core.take_records() if isinstance(r, SettingSaved)]
    assert records[-1].key == "masters_seen.w1" and OTHER in records[-1].value and ME in records[-1].value


def test_a_master_that_adopted_while_this_one_was_down_is_alerted_after_the_restart():
    core = core_with_worker(settings={"masters_seen.w1": f'["{ME}"]'})
    beat(core, mine(), p.MasterInfo(THIRD, "", None))   # the baseline came from the store
    [alert] = other_master_alerts(core)
    assert "(a key from its settings)" in alert.message


def test_the_views_list_the_masters_with_this_one_marked():
    core = core_with_worker()
    beat(core, mine(), p.MasterInfo(OTHER, "ops-room", 1_700_000_100.0))
    [w] = core.snapshot().workers
    assert [(m.name, m.fingerprint, m.this_master) for m in w.masters] == [
        ("desk", "MMMMMMMM", True), ("ops-room", "OOOOOOOO", False)]
    changed = [e for e in core.take_events() if hasattr(e, "worker")]
    assert changed and changed[-1].worker.masters == w.masters


def test_a_master_that_leaves_is_a_journal_line_not_an_alert():
    core = core_with_worker()
    beat(core, mine(), p.MasterInfo(OTHER, "ops-room", 1_700_000_100.0))
    beat(core, mine())
    assert other_master_alerts(core) == []
    [w] = core.snapshot().workers
    assert any("no longer serves master key OOOOOOOO" in text for _, text in w.events)


def test_re_registering_a_worker_keeps_its_baseline():
    core = core_with_worker()
    beat(core, mine())
    core.upsert_worker(Worker("w1", "edge-1", address="10.0.0.6", public_key="K" * 40, adopted=True))  # it moved
    beat(core, mine(), p.MasterInfo(OTHER, "x", 1.0))
    assert len(other_master_alerts(core)) == 1
