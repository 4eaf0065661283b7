"""How the pool core's actions become wire commands, and replies become outcomes (pool/commands.py)."""
from __future__ import annotations

import concurrent.futures
import typing

import pytest

from campool_gui.pool.actions import (
    Action,
    SendAssign,
    SendDrain,
    SendFence,
    SendPreview,
    SendPromote,
    SendResend,
    SendUnassign,
    SendUpdate,
)
from campool_gui.pool.commands import (
    COMMANDS,
    Outcome,
    camera_action,
    command_for,
    with_model,
)
from campool_gui.pool.wire_client import RequestTimeout
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig

CAM = CameraConfig("gate", "rtsp://10.0.0.5/stream", model="/models/custom.onnx")


def test_a_live_handover_cut_reaches_the_worker_as_count_from_ts():
    cmd = command_for(SendAssign("w2", CAM, epoch=8, start_frame=None, count_from_frame=None,
                                 count_from_ts=1_700_000_123.25))
    assert isinstance(cmd.message, p.AssignCamera)
    assert cmd.message.count_from_ts == 1_700_000_123.25
    assert (cmd.message.camera, cmd.message.epoch) == (CAM, 8)
    # and it survives the wire
    decoded = p.decode(p.encode(cmd.message, "r-1"), kinds=("command",)).message
    assert decoded.count_from_ts == 1_700_000_123.25


def test_a_standby_assignment_and_its_promotion_reach_the_worker_through_the_wire():
    cmd = command_for(SendAssign("w2", CAM, 9, None, None, role="standby", standby="warm", buffer_s=12.0))
    decoded = p.decode(p.encode(cmd.message, "r-1"), kinds=("command",)).message
    assert isinstance(decoded, p.AssignCamera)
    assert (decoded.role, decoded.standby, decoded.buffer_s, decoded.epoch) == ("standby", "warm", 12.0, 9)
    promote = p.decode(p.encode(command_for(SendPromote("w2", "gate", 9, 1_700_000_050.5)).message, "r-2"),
                       kinds=("command",)).message
    assert promote == p.PromoteCamera("gate", 9, 1_700_000_050.5)
    plain = command_for(SendAssign("w1", CAM, 8, None, None)).message
    assert isinstance(plain, p.AssignCamera) and plain.role == "primary"


def test_a_file_handover_cut_reaches_the_worker_as_frames():
    msg = command_for(SendAssign("w2", CAM, 3, start_frame=940, count_from_frame=1000)).message
    assert (msg.start_frame, msg.count_from_frame, msg.count_from_ts) == (940, 1000, None)


def test_every_pool_action_has_a_command():
    assert set(typing.get_args(Action)) == set(COMMANDS)


@pytest.mark.parametrize(("action", "message", "retries"), [
    (SendAssign("w", CAM, 1, None, None), p.AssignCamera, 0),      # the core retries, with a new epoch
    (SendUnassign("w", "gate", 1), p.UnassignCamera, 3),
    (SendFence("w", "gate", 1, 2), p.FenceCamera, 3),
    (SendUpdate("w", CAM, 1), p.UpdateCamera, 2),
    (SendDrain("w", True), p.Drain, 3),
    (SendPreview("w", "gate", True, 320, 2.0), p.SetPreview, 2),
    (SendPromote("w", "gate", 3, 1_700_000_000.0), p.PromoteCamera, 3),
    (SendResend("w", "gate"), p.ResendCounts, 2),
])
def test_idempotent_commands_are_retried_and_assignments_are_not(action, message, retries):
    cmd = command_for(action)
    assert isinstance(cmd.message, message)
    assert cmd.retries == retries


def test_stopping_a_camera_drops_its_preview_and_turning_preview_on_subscribes_it():
    assert command_for(SendUnassign("w", "gate", 4)).preview == ("gate", False)
    assert command_for(SendPreview("w", "gate", True, 320, 2.0)).preview == ("gate", True)
    assert command_for(SendPreview("w", "gate", False, 320, 2.0)).preview == ("gate", False)
    assert command_for(SendFence("w", "gate", 4, 5)).preview is None


def test_an_unknown_action_says_where_to_add_it():
    with pytest.raises(TypeError, match=r"commands\.COMMANDS"):
        command_for(object())  # type: ignore[arg-type]


def _done(result: object = None, exc: BaseException | None = None) -> concurrent.futures.Future:
    fut: concurrent.futures.Future = concurrent.futures.Future()
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
    return fut


def test_a_reply_becomes_the_outcome_the_core_needs():
    assert Outcome.of_future(_done(p.Ok())) == Outcome(True)
    assert Outcome.of_future(_done(p.Fenced("gate", 3, 5))) == Outcome(False, "fenced", current_epoch=5)
    assert Outcome.of_future(_done(p.Error("capacity", "at capacity (4 cameras)"))) == Outcome(
        False, "capacity: at capacity (4 cameras)")
    assert Outcome.of_future(_done(p.ModelStatus("ab" * 32, 0, False, ""))).error == "unexpected reply model_status"
    lost = Outcome.of_future(_done(exc=RequestTimeout("assign to worker 10.0.0.5:7700: no answer")))
    assert lost == Outcome(False, "assign to worker 10.0.0.5:7700: no answer")


def test_only_assignments_and_updates_carry_a_camera_whose_model_may_be_copied():
    assign = SendAssign("w", CAM, 1, None, None)
    assert camera_action(assign) is assign
    assert camera_action(SendUpdate("w", CAM, 1)) is not None
    assert camera_action(SendUnassign("w", "gate", 1)) is None
    ref = with_model(assign, "sha256:" + "0" * 64)
    assert ref.camera.model == "sha256:" + "0" * 64 and ref.camera.camera_id == "gate" and ref.epoch == 1
    assert assign.camera.model == "/models/custom.onnx"     # the operator's path stays in the core
