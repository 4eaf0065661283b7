"""The core's actions reach workers (pool/dispatch.py) in the order that keeps the pool safe
(pool/flush.py): records committed first, then the commands, then the events."""
from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

from keyring.backends import fail

from campool_gui.pool.actions import LeaseStarted, SendAssign, SendFence, SendUpdate
from campool_gui.pool.commands import Outcome
from campool_gui.pool.credentials import CredentialStore
from campool_gui.pool.dispatch import ActionDispatcher
from campool_gui.pool.flush import EffectsFlush
from campool_gui.pool.model_push import ModelPushError
from campool_gui.pool.subscribers import Subscribers
from campool_worker.camera import CameraConfig

SHA = "sha256:" + "ab" * 32


def done(value: object = None, exc: BaseException | None = None) -> concurrent.futures.Future:
    fut: concurrent.futures.Future = concurrent.futures.Future()
    if exc is None:
        fut.set_result(value)
    else:
        fut.set_exception(exc)
    return fut


class Core:
    """Records what the dispatcher tells the pool core."""

    def __init__(self) -> None:
        self.results: list[tuple] = []
        self.progress: list[tuple] = []

    def assign_result(self, camera_id, worker_id, epoch, ok, error="", current_epoch=None) -> None:
        self.results.append((camera_id, worker_id, epoch, ok, error, current_epoch))

    def assign_progress(self, camera_id, worker_id, epoch, note) -> None:
        self.progress.append((camera_id, worker_id, epoch, note))


class Link:
    worker_id = "w1"

    def __init__(self, outcome: Outcome | None = None) -> None:
        self.outcome = outcome or Outcome(True)
        self.executed: list[object] = []

    def execute(self, action: object) -> concurrent.futures.Future:
        self.executed.append(action)
        return done(self.outcome)


class Links:
    def __init__(self, **links: Link) -> None:
        self.links = links

    def get(self, worker_id: str) -> Link | None:
        return self.links.get(worker_id)


class Models:
    def __init__(self, result: concurrent.futures.Future) -> None:
        self.result = result
        self.asked: list[str] = []

    def ensure(self, link: Link, model: str, progress: Callable[[int, int], None]) -> concurrent.futures.Future:
        self.asked.append(model)
        progress(0, 200)
        progress(100, 200)
        return self.result


class NoSecrets:
    """The cameras of these tests have no credentials."""

    def join(self, camera_id: str, source: str) -> str:
        return source


def dispatcher(core: Core, links: Links, models: Models | None = None, credentials=None) -> ActionDispatcher:
    # post: run at once (the pool thread's queue is pool_thread.py's business)
    return ActionDispatcher(core, links, models or Models(done(SHA)), credentials or NoSecrets(),  # type: ignore[arg-type]
                            post=lambda fn: fn())


def test_the_camera_url_leaves_with_its_password_while_the_core_keeps_it_masked(tmp_path):
    store = CredentialStore(tmp_path, "m1", keyring_backend=fail.Keyring())   # the 0600 fallback file
    masked, secrets = store.prepare("gate", "rtsp://admin:Gr@b:it@10.0.0.5/s?pwd=x1&user=admin")
    assert masked == "rtsp://admin:•••@10.0.0.5/s?pwd=•••&user=admin"
    store.remember("gate", secrets)
    core, link = Core(), Link()
    action = SendAssign("w1", CameraConfig("gate", masked), 4, None, None)
    dispatcher(core, Links(w1=link), credentials=store).send(action)
    assert [a.camera.source for a in link.executed] == ["rtsp://admin:Gr@b:it@10.0.0.5/s?pwd=x1&user=admin"]
    assert action.camera.source == masked, "the core's own action is not changed"


def test_an_assignment_whose_password_is_unknown_fails_with_what_to_do(tmp_path):
    store = CredentialStore(tmp_path, "m1", keyring_backend=fail.Keyring())
    core, link = Core(), Link()
    dispatcher(core, Links(w1=link), credentials=store).send(
        SendAssign("w1", CameraConfig("gate", "rtsp://admin:•••@10.0.0.5/s"), 4, None, None))
    assert link.executed == []
    assert core.results and "password of this URL is not known" in core.results[0][4]
    assert "edit the camera and type it" in core.results[0][4]


def test_an_assignment_to_a_worker_without_a_link_fails_at_once():
    core = Core()
    dispatcher(core, Links()).send(SendAssign("gone", CameraConfig("gate", "/v.mp4"), 4, None, None))
    assert core.results == [("gate", "gone", 4, False, "no link to the worker", None)]


def test_the_outcome_of_an_assignment_goes_back_to_the_core():
    core = Core()
    link = Link(Outcome(False, "fenced", current_epoch=6))
    dispatcher(core, Links(w1=link)).send(SendAssign("w1", CameraConfig("gate", "/v.mp4"), 4, None, None))
    assert core.results == [("gate", "w1", 4, False, "fenced", 6)]


def test_other_commands_do_not_report_to_the_core():
    core = Core()
    link = Link(Outcome(False, "no answer"))
    dispatcher(core, Links(w1=link)).send(SendFence("w1", "gate", 3, 4))
    assert link.executed == [SendFence("w1", "gate", 3, 4)] and core.results == []


def test_a_model_file_on_the_master_is_copied_first_and_the_command_names_it_by_hash(tmp_path):
    model = tmp_path / "custom.onnx"
    model.write_bytes(b"onnx")
    core, link = Core(), Link()
    models = Models(done(SHA))
    act = SendAssign("w1", CameraConfig("gate", "/v.mp4", model=str(model)), 2, None, None)
    dispatcher(core, Links(w1=link), models).send(act)
    assert models.asked == [str(model)]
    assert [a.camera.model for a in link.executed] == [SHA]
    assert [n for *_, n in core.progress] == ["copying the model to the worker: 0%",
                                              "copying the model to the worker: 50%"]
    assert core.results == [("gate", "w1", 2, True, "", None)]


def test_a_model_that_cannot_be_copied_fails_the_assignment_with_the_reason(tmp_path):
    model = tmp_path / "custom.onnx"
    model.write_bytes(b"onnx")
    core, link = Core(), Link()
    models = Models(done(exc=ModelPushError("worker w1 refused the model: disk full")))
    d = dispatcher(core, Links(w1=link), models)
    d.send(SendAssign("w1", CameraConfig("gate", "/v.mp4", model=str(model)), 2, None, None))
    d.send(SendUpdate("w1", CameraConfig("gate", "/v.mp4", model=str(model)), 2))
    assert link.executed == []
    assert core.results == [("gate", "w1", 2, False, "model: worker w1 refused the model: disk full", None)]


def test_a_model_that_is_not_a_file_here_is_passed_through():
    core, link = Core(), Link()
    models = Models(done(SHA))
    dispatcher(core, Links(w1=link), models).send(SendUpdate("w1", CameraConfig("gate", "/v.mp4",
                                                                                model="/opt/models/y.onnx"), 2))
    assert models.asked == [] and [a.camera.model for a in link.executed] == ["/opt/models/y.onnx"]


def test_records_are_committed_before_any_worker_hears_and_events_come_last():
    order: list[str] = []

    class EffectsCore:
        def take_records(self):
            return [LeaseStarted(None, "placed")]  # type: ignore[arg-type]

        def take_actions(self):
            order.append("actions taken")
            return [SendFence("w1", "gate", 1, 2)]

        def take_events(self):
            return ["camera changed"]

    class Store:
        def save_records(self, records):
            fut: concurrent.futures.Future = concurrent.futures.Future()
            order.append("records queued")

            def commit() -> None:
                order.append("records committed")
                fut.set_result(None)
            threading.Timer(0.05, commit).start()
            return fut

    class Dispatcher:
        def send(self, action) -> None:
            order.append(f"sent {type(action).__name__}")

    subs = Subscribers()
    subs.subscribe(lambda ev: order.append(f"event {ev}"))
    EffectsFlush(EffectsCore(), Store(), Dispatcher(), subs).flush()  # type: ignore[arg-type]
    assert order == ["records queued", "records committed", "actions taken", "sent SendFence",
                     "event camera changed"]


def test_a_failing_subscriber_does_not_keep_the_event_from_the_others(caplog):
    subs = Subscribers()
    got: list[object] = []

    def broken(ev: object) -> None:
        raise RuntimeError("a widget bug")
    subs.subscribe(broken)
    unsubscribe = subs.subscribe(got.append)
    subs.emit(["a", "b"])
    unsubscribe()
    subs.emit(["c"])
    assert got == ["a", "b"]
    assert "subscriber failed" in caplog.text
