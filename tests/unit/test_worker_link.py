"""A worker link without sockets: what it sends for an action, what it retries, when it says hello
(pool/link.py). The wire client is replaced by one that answers from a script; time is a fake clock."""
from __future__ import annotations

import concurrent.futures

import pytest

from campool_gui.pool.actions import SendAssign, SendPreview, SendUnassign
from campool_gui.pool.commands import Outcome
from campool_gui.pool.link import HELLO_RETRY_MAX_S, WorkerLink
from campool_gui.pool.wire_client import RequestTimeout, WorkerAddress
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig
from tests.helpers import wire

CAM = CameraConfig("gate", "rtsp://10.0.0.5/stream")
HELLO = p.Hello("m1", "control-center", "test")


class ScriptedClient:
    """Answers each request with the next scripted reply (a message, or an exception to raise)."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.sent: list[p.Message] = []
        self.topics: list[tuple[str, bytes]] = []
        self.on_telemetry = None
        self.closed = False

    def request(self, msg: p.Message, timeout: float = 5.0) -> concurrent.futures.Future:
        self.sent.append(msg)
        fut: concurrent.futures.Future = concurrent.futures.Future()
        reply = self.replies.pop(0) if self.replies else p.Ok()
        if isinstance(reply, BaseException):
            fut.set_exception(reply)
        else:
            fut.set_result(reply)
        return fut

    def subscribe(self, topic: bytes) -> None:
        self.topics.append(("sub", topic))

    def unsubscribe(self, topic: bytes) -> None:
        self.topics.append(("unsub", topic))

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make_link(client: ScriptedClient, clock: Clock | None = None) -> WorkerLink:
    return WorkerLink("w1", WorkerAddress("10.0.0.7", 7700, 7701, 7702, "K" * 40), keys=None,  # type: ignore[arg-type]
                      on_telemetry=lambda wid, env: None, client=client, clock=clock or Clock())


def test_an_assignment_goes_out_with_its_live_cut_and_a_fenced_reply_names_the_newer_epoch():
    client = ScriptedClient(p.Fenced("gate", 7, 9))
    link = make_link(client)
    outcome = link.execute(SendAssign("w1", CAM, 7, None, None, count_from_ts=1_700_000_050.5)).result(5)
    assert outcome == Outcome(False, "fenced", current_epoch=9)
    (sent,) = client.sent
    assert isinstance(sent, p.AssignCamera) and sent.count_from_ts == 1_700_000_050.5 and sent.epoch == 7


def test_an_assignment_that_times_out_is_not_resent():
    client = ScriptedClient(RequestTimeout("assign to worker 10.0.0.7:7700: no answer"))
    outcome = make_link(client).execute(SendAssign("w1", CAM, 2, None, None)).result(5)
    assert not outcome.ok and "no answer" in outcome.error
    assert len(client.sent) == 1


def test_an_idempotent_command_is_resent_after_a_timeout():
    client = ScriptedClient(RequestTimeout("unassign: no answer"), p.Ok())
    link = make_link(client)
    try:
        assert link.execute(SendUnassign("w1", "gate", 3)).result(10) == Outcome(True)
        assert [type(m) for m in client.sent] == [p.UnassignCamera, p.UnassignCamera]
    finally:
        link.close()


def test_a_closed_link_fails_what_it_is_asked_instead_of_hanging():
    client = ScriptedClient()
    link = make_link(client)
    link.close()
    assert client.closed
    with pytest.raises(RequestTimeout, match="closed"):
        link.send(p.GetStatus()).result(5)


def test_the_preview_topic_follows_the_preview_and_the_camera():
    client = ScriptedClient()
    link = make_link(client)
    topic = p.TOPIC_PREVIEW + b"gate"
    link.execute(SendPreview("w1", "gate", True, 320, 2.0)).result(5)
    link.execute(SendPreview("w1", "gate", True, 640, 5.0)).result(5)     # already subscribed
    link.execute(SendUnassign("w1", "gate", 1)).result(5)
    link.execute(SendUnassign("w1", "gate", 1)).result(5)                 # already dropped
    assert client.topics == [("sub", topic), ("unsub", topic)]


def test_acks_go_out_only_when_they_advance():
    client = ScriptedClient()
    link = make_link(client)
    for seq in (5, 5, 3, 9):
        link.ack("gate", 2, seq)
    assert [(m.camera_id, m.epoch, m.up_to_seq) for m in client.sent] == [("gate", 2, 5), ("gate", 2, 9)]


def test_one_ack_carries_the_events_and_the_closed_spans_stored_and_goes_out_when_either_advances():
    client = ScriptedClient()
    link = make_link(client)
    link.ack("gate", 2, 5)
    link.ack("gate", 2, spans_up_to=3)       # spans news: the events' ack rides along as last sent
    link.ack("gate", 2, spans_up_to=3)       # nothing new
    link.ack("gate", 2, 4, spans_up_to=2)    # older on both counts
    link.ack("gate", 2, 7)
    assert [(m.up_to_seq, m.spans_up_to) for m in client.sent] == [(5, 0), (5, 3), (7, 3)]


def test_hello_is_due_at_once_and_retried_with_a_doubling_backoff_up_to_30_s():
    clock = Clock()
    client = ScriptedClient(*[RequestTimeout("hello: could not connect")] * 8)
    link = make_link(client, clock)
    delays = []
    for _ in range(7):
        assert link.hello_due()
        fut = link.say_hello(HELLO)
        assert not link.hello_due()            # one hello in flight at a time
        assert link.hello_answered(fut) is None
        start = clock.t
        while not link.hello_due():
            clock.t += 0.5
        delays.append(clock.t - start)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, HELLO_RETRY_MAX_S, HELLO_RETRY_MAX_S]


def test_an_answered_hello_resets_the_backoff_and_gives_the_status():
    clock = Clock()
    status = wire.status("w1", boot_id="b1")
    client = ScriptedClient(RequestTimeout("hello: no answer"), RequestTimeout("hello: no answer"),
                            p.HelloReply(p.PROTOCOL_VERSION, 7701, status))
    link = make_link(client, clock)
    link.hello_answered(link.say_hello(HELLO))
    clock.t += 1.0
    link.hello_answered(link.say_hello(HELLO))
    clock.t += 2.0
    assert link.hello_answered(link.say_hello(HELLO)) == status
    assert not link.hello_due()
    link.heard(wire.status("w1", boot_id="b2"), was_alive=True)        # it restarted
    assert link.hello_due()
    client.replies = [RequestTimeout("hello: no answer")]
    link.hello_answered(link.say_hello(HELLO))
    clock.t += 1.0                                                      # back to the first delay
    assert link.hello_due()


def test_a_restarted_or_silent_worker_gets_a_hello_again_and_its_acks_start_over():
    client = ScriptedClient()
    link = make_link(client)
    link.hello_done("b1")
    link.heard(wire.status("w1", boot_id="b1"), was_alive=True)
    assert not link.hello_due()
    link.ack("gate", 1, 10)
    link.heard(wire.status("w1", boot_id="b1"), was_alive=False)       # it was silent
    assert link.hello_due()
    link.hello_done("b1")
    link.ack("gate", 1, 10)                                            # its backlog comes again: acked again
    link.heard(wire.status("w1", boot_id="b2"), was_alive=True)        # it restarted
    assert link.hello_due()
    link.ack("gate", 1, 10)
    assert [m.up_to_seq for m in client.sent if isinstance(m, p.AckCounts)] == [10, 10, 10]
