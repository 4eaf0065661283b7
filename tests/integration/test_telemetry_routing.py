"""Telemetry from a worker through the master's router (pool/telemetry.py) into a real pool core and a
real SQLite store: counts are acked only once committed, previews reach subscribers and history,
heartbeats feed the metrics, and a forgotten worker is not heard."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from campool_gui.pool.store import Store
from campool_gui.pool.subscribers import Subscribers
from campool_gui.pool.telemetry import TelemetryRouter
from campool_worker import protocol as p
from campool_worker.camera import CountEvent
from tests.helpers import wire
from tests.helpers.pool_sim import SimPool


class Link:
    """A worker link that records acks and what it heard."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, int, int]] = []
        self.span_acks: list[tuple[str, int, int]] = []
        self.heard_calls: list[tuple[str, bool]] = []

    def ack(self, camera_id: str, epoch: int, up_to_seq: int | None = None, spans_up_to: int | None = None) -> None:
        if up_to_seq is not None:
            self.acks.append((camera_id, epoch, up_to_seq))
        if spans_up_to is not None:
            self.span_acks.append((camera_id, epoch, spans_up_to))

    def heard(self, status: p.WorkerStatus, was_alive: bool) -> None:
        self.heard_calls.append((status.boot_id, was_alive))


class Links:
    def __init__(self) -> None:
        self.links: dict[str, object] = {}

    def get(self, worker_id: str):
        return self.links.get(worker_id)


class Posted:
    """The pool thread's inbox, run by the test when it chooses."""

    def __init__(self) -> None:
        self.items: list[Callable[[], None]] = []

    def __call__(self, fn: Callable[[], None]) -> None:
        self.items.append(fn)

    def run(self) -> None:
        items, self.items = self.items, []
        for fn in items:
            fn()


@pytest.fixture
def setup(tmp_path):
    sim = SimPool()
    sim.add_worker("w1")
    sim.add_camera("gate")
    sim.step(1.0, ticks=8)                  # past the startup grace: gate runs on w1 under epoch 1
    assert sim.where() == {"gate": "w1"}
    store = Store(tmp_path / "history.db")
    link = Link()
    links = Links()
    links.links["w1"] = link
    subs = Subscribers()
    posted = Posted()
    router = TelemetryRouter(sim.core, store, links, subs, post=posted)  # type: ignore[arg-type]
    yield sim, store, link, links, subs, posted, router
    store.close()


def events(epoch: int, seqs: range) -> list[CountEvent]:
    return [CountEvent("gate", epoch, s, "mid", "in", "car", s, 1_700_000_000.0 + s, 100 + s) for s in seqs]


def env(msg: p.Message) -> p.Envelope:
    return p.Envelope(msg, "")


def test_count_events_are_acked_only_after_they_are_committed(setup):
    sim, store, link, _, _, posted, router = setup
    router.route("w1", env(p.CountBatch("w1", events(1, range(1, 6)))))
    assert link.acks == []                  # nothing acked before the commit
    store.flush()
    posted.run()                            # the commit's news comes back on the pool thread
    assert link.acks == [("gate", 1, 5)]
    assert [e.seq for e in store.stored_events("gate")] == [1, 2, 3, 4, 5]
    assert sim.core.snapshot().totals.events_stored >= 5


def test_a_resent_batch_is_stored_once_and_acked_again(setup):
    _, store, link, _, _, posted, router = setup
    for _ in range(2):
        router.route("w1", env(p.CountBatch("w1", events(1, range(1, 4)))))
        store.flush()
        posted.run()
    assert [e.seq for e in store.stored_events("gate")] == [1, 2, 3]
    assert link.acks == [("gate", 1, 3), ("gate", 1, 3)]     # the link sends only what advances


def test_coverage_spans_of_a_batch_are_stored_in_master_time_and_their_closed_prefix_acked(setup):
    sim, store, link, _, _, posted, router = setup
    sim.core.workers["w1"].clock_offset = 1.5     # the worker's clock runs 1.5 s ahead of the master's
    t0 = 1_700_000_000.0
    batch = p.CountBatch("w1", events(1, range(1, 3)), [
        p.CoverageSpan("gate", 1, 1, t0, t0 + 60, "primary", True),
        p.CoverageSpan("gate", 1, 2, t0 + 60, t0 + 90, "primary", False)])
    # through the real codec, as the SUB socket hands it over
    router.route("w1", p.decode_telemetry(p.encode_telemetry(batch)))
    store.flush()
    posted.run()
    assert link.span_acks == [("gate", 1, 1)]              # the open span is not acked: it still grows
    assert link.acks == [("gate", 1, 2)]
    c = store.coverage(t0 - 60, t0 + 240, "minute", "gate", now=t0 + 240)
    assert c.gaps == ((t0 + 88.5, t0 + 240),) and c.since == t0 - 1.5
    # a batch of spans only (no events): the open span closed
    router.route("w1", env(p.CountBatch("w1", [], [p.CoverageSpan("gate", 1, 2, t0 + 60, t0 + 95, "primary", True)])))
    store.flush()
    posted.run()
    assert link.span_acks[-1] == ("gate", 1, 2)
    assert store.coverage(t0 - 60, t0 + 240, "minute", "gate", now=t0 + 240).gaps == ((t0 + 93.5, t0 + 240),)


def test_a_heartbeat_is_heard_by_the_link_and_the_core_and_its_metrics_are_kept(setup):
    sim, store, link, _, _, _, router = setup
    status = wire.status("w1", cpu=55.0, boot_id="b7")
    router.route("w1", env(p.Heartbeat(status)))
    assert link.heard_calls == [("b7", True)]
    assert sim.core.workers["w1"].metrics.cpu_pct == pytest.approx(55.0)
    store.flush()
    rows = store.worker_metrics("w1", 0, 4_000_000_000)
    assert rows and rows[-1]["cpu"] == pytest.approx(55.0)


def test_a_preview_reaches_the_subscribers_and_its_zones_the_history(setup):
    _, store, _, _, subs, _, router = setup
    got: list[object] = []
    subs.subscribe(got.append)
    frame = p.PreviewFrame("w1", "gate", 1, 240, 1_700_000_100.0, 320, 180,
                           [p.PreviewTrack(3, "car", 0.9, [1.0, 2.0, 30.0, 40.0])],
                           {"mid": p.LineCounts(4, 1)}, {"dock": {"car": 2, "person": 1}}, b"\xff\xd8jpeg",
                           source_width=1280, source_height=720)
    router.route("w1", env(frame))
    (view,) = got
    assert isinstance(view, p.PreviewFrame) and view.worker_id == "w1"
    assert view.tracks == [p.PreviewTrack(3, "car", 0.9, [1.0, 2.0, 30.0, 40.0])]
    assert view.counts == {"mid": p.LineCounts(4, 1)} and view.source_width == 1280
    store.flush()
    assert [r["count"] for r in store.zone_series("gate", 1_700_000_000.0, 1_700_000_200.0)] == [3]


def test_telemetry_of_a_forgotten_worker_is_not_heard(setup):
    _, store, link, links, _, posted, router = setup
    links.links.clear()
    router.route("w1", env(p.CountBatch("w1", events(1, range(1, 3)))))
    store.flush()
    posted.run()
    assert store.stored_events("gate") == [] and link.acks == []


def test_a_standbys_events_are_held_or_shadowed_until_its_promotion_takes_them_from_the_cut(tmp_path):
    """Through the router and a real store: while the primary counts, its standby's events of time it
    covered are acked as shadowed (kept flagged, never counted) and the later ones are neither stored
    nor acked; when the primary dies the standby is promoted and its held events from the cut on are
    stored, each object counted once."""
    from campool_gui.pool.actions import SendPromote
    from campool_gui.pool.clock import FakeClock
    from campool_gui.pool.core import PoolCore
    from campool_gui.pool.models import Worker
    from campool_worker.camera import CameraConfig

    clock = FakeClock()
    core = PoolCore(clock)
    for wid in ("w1", "w2"):
        core.upsert_worker(Worker(wid, wid, adopted=True, public_key="K" * 40))
    core.add_camera(CameraConfig("gate", "rtsp://10.0.0.5/s", priority="critical"))
    store = Store(tmp_path / "history.db")
    links = Links()
    links.links["w1"], links.links["w2"] = Link(), Link()
    posted = Posted()
    router = TelemetryRouter(core, store, links, Subscribers(), post=posted)  # type: ignore[arg-type]

    def beat(primary: bool = True, frame_ts: float = 0.0, last_seq: int = 0) -> None:
        if primary:
            core.heartbeat("w1", wire.status("w1", [wire.camera("gate", 1, frame_ts=frame_ts, last_seq=last_seq)],
                                             clock=clock.wall()))
        core.heartbeat("w2", wire.status("w2", [wire.camera("gate", 2, role="standby", frame_ts=frame_ts)],
                                         clock=clock.wall()))

    def crossing(epoch: int, seq: int, ts: float) -> CountEvent:
        return CountEvent("gate", epoch, seq, "mid", "in", "car", seq, ts, seq)

    try:
        for _ in range(7):                       # past the startup grace: primary on w1, standby on w2
            clock.advance(1.0)
            core.heartbeat("w1", wire.status("w1", clock=clock.wall()))
            core.heartbeat("w2", wire.status("w2", clock=clock.wall()))
            core.tick()
        assigns = {(a.worker_id, a.role, a.epoch) for a in core.take_actions() if hasattr(a, "role")}
        assert assigns == {("w1", "primary", 1), ("w2", "standby", 2)}
        t0 = clock.wall()
        # the primary counted objects at t0+1 .. t0+5, and its heartbeat at t0+5 is all stored
        router.route("w1", env(p.CountBatch("w1", [crossing(1, s, t0 + s) for s in range(1, 6)])))
        store.flush()
        posted.run()
        beat(frame_ts=t0 + 5.0, last_seq=5)
        assert core.shadows.watermark("gate") == t0 + 5.0
        # the standby saw the same objects 0.1 s later, and one more at t0+6
        router.route("w2", env(p.CountBatch("w2", [crossing(2, s, t0 + s + 0.1) for s in range(1, 7)])))
        store.flush()
        posted.run()
        assert links.links["w2"].acks == [("gate", 2, 4)]       # t0+1..t0+4 are shadowed; t0+5.1, t0+6.1 held
        assert [e.seq for e in store.stored_events("gate", include_fenced=True) if e.epoch == 2] == [1, 2, 3, 4]
        assert [e.seq for e in store.stored_events("gate")] == [1, 2, 3, 4, 5]    # counted: the primary's only
        # the primary's next heartbeat (frames up to t0+5.7, nothing new) passes t0+5.1: the master
        # releases it from memory as shadowed and acks it, without waiting for the worker's resend
        beat(frame_ts=t0 + 5.7, last_seq=5)
        for wid, released in core.take_replay():
            router.replay(wid, released)
        store.flush()
        posted.run()
        assert links.links["w2"].acks[-1] == ("gate", 2, 5) and core.shadows.held("gate") == 1
        # the primary dies: the standby, watching, is promoted at the cut C = t0+5
        for _ in range(5):
            clock.advance(1.0)
            beat(primary=False, frame_ts=clock.wall())
            core.tick()
        [promote] = [a for a in core.take_actions() if isinstance(a, SendPromote)]
        assert (promote.worker_id, promote.epoch) == ("w2", 2)
        for wid, held in core.take_replay():
            router.replay(wid, held)
        store.flush()
        posted.run()
        # its t0+6.1 is new: counted once (its t0+5.1, the primary's t0+5 seen again, was shadowed)
        counted = [(e.epoch, round(e.ts - t0, 1)) for e in store.stored_events("gate")]
        assert sorted(counted) == [(1, 1.0), (1, 2.0), (1, 3.0), (1, 4.0), (1, 5.0), (2, 6.1)]
        assert links.links["w2"].acks[-1] == ("gate", 2, 6)
        assert sum(r["count"] for r in store.counts_series(t0, t0 + 60, "minute")) == 6
    finally:
        store.close()
