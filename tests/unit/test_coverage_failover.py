"""Coverage of a live camera through a real failover of the pool core (fake clock): the records the
core persists (leases, cuts) go to a real SQLite store with the spans each simulated worker watched,
and the history shows exactly the time nobody watched, and why."""
from __future__ import annotations

import pytest

from campool_gui.pool.store import Store
from campool_worker import protocol as p
from tests.helpers.pool_sim import SimPool

LIVE = "rtsp://10.0.0.5/stream"


class Watching:
    """Per (worker, camera, epoch) the span its worker watched so far, in the worker's clock; a new
    assignment needs ``connect_s`` to its first frame (the RTSP connect and the first decoded frame)."""

    def __init__(self, sim: SimPool, connect_s: float = 2.0) -> None:
        self.sim = sim
        self.connect_s = connect_s
        self.assigned: dict[tuple[str, str, int], float] = {}
        self.spans: dict[tuple[str, str, int], list[float]] = {}

    def step(self, dt: float, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.sim.step(dt)
            for w in self.sim.workers.values():
                if w.frozen:
                    continue    # killed (SIGKILL): frames no longer processed
                for cam in w.cameras.values():
                    if cam.state != "running":
                        continue
                    ts = self.sim.clock.wall() + w.clock_skew
                    key = (w.worker_id, cam.camera_id, cam.epoch)
                    if ts - self.assigned.setdefault(key, ts) < self.connect_s:
                        continue
                    self.spans.setdefault((w.worker_id, cam.camera_id, cam.epoch), [ts, ts])[1] = ts

    def store_all(self, store: Store) -> None:
        store.save_records(self.sim.records).result()
        for (wid, cid, epoch), (a, b) in self.spans.items():
            offset = self.sim.core.workers[wid].clock_offset
            store.add_spans([p.CoverageSpan(cid, epoch, 1, a, b, "primary", True)], wid, offset).result()


@pytest.fixture
def pool(tmp_path):
    sim = SimPool()
    sim.add_worker("w1")
    sim.add_camera("gate", source=LIVE, pin="w1")
    watch = Watching(sim)
    watch.step(1.0, ticks=8)                                  # past the startup grace: gate on w1
    assert sim.where() == {"gate": "w1"}
    sim.add_worker("w2", clock_skew=1.5)                      # its clock 1.5 s ahead of the master's
    watch.step(1.0, ticks=3)
    store = Store(tmp_path / "history.db")
    yield sim, watch, store
    store.close()


def test_a_killed_primary_leaves_the_outage_until_the_next_worker_watches(pool):
    sim, watch, store = pool
    killed = sim.clock.wall()
    sim.workers["w1"].kill()
    watch.step(1.0, ticks=10)
    assert sim.where() == {"gate": "w2"}
    watch.store_all(store)
    start = killed - 60
    c = store.coverage(start, killed + 60, "minute", "gate", now=sim.clock.wall())
    (gap,) = c.gaps
    first_w2 = min(a for (wid, _, _), (a, _) in watch.spans.items() if wid == "w2") - 1.5
    assert gap == (pytest.approx(killed), pytest.approx(first_w2))
    # declared dead after 3 heartbeats of 1 s (seen at the 4th tick), then 2 s to w2's first frame
    assert gap[1] - gap[0] == pytest.approx(6.0)
    assert store.gap_reasons("gate", c.gaps) == ["worker w1 lost before the takeover"]


def test_a_partitioned_primary_that_kept_watching_counts_only_until_its_cut(pool):
    sim, watch, store = pool
    cut_off = sim.clock.wall()
    sim.workers["w1"].alive = False                           # no heartbeats, but it keeps processing frames
    watch.step(1.0, ticks=10)
    assert sim.where() == {"gate": "w2"}
    watch.store_all(store)
    w1_end = max(b for (wid, _, _), (_, b) in watch.spans.items() if wid == "w1")
    assert w1_end == pytest.approx(sim.clock.wall())          # it watched all along (its spans arrive later)
    c = store.coverage(cut_off - 60, cut_off + 60, "minute", "gate", now=sim.clock.wall())
    (gap,) = c.gaps
    cut = next(r.cut for r in sim.records if type(r).__name__ == "LeaseEnded")
    assert gap[0] == pytest.approx(cut.wall) and gap[0] > cut_off    # counted up to the cut, not after
    assert gap[1] - gap[0] == pytest.approx(2.0)                     # until w2's first frame
    assert store.gap_reasons("gate", c.gaps) == ["fenced: worker w1 was cut off (its later watching does not count)"]
