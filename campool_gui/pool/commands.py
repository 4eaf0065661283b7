"""How the pool core's actions become commands on the wire, and how a worker's reply becomes an outcome.

One table, `COMMANDS`, says per action type (actions.py) which protocol message carries it, how
often it is retried after a timeout, and what it does to the link's preview subscriptions:

* idempotent commands (unassign, fence, update, drain, preview, promote, resend) are retried by the link; an
  assignment is not: the pool core decides a retry, with a fresh epoch;
* stopping a camera (unassign, preview off) drops its preview topic; preview on subscribes it.

A reply, or the error that came instead of one, becomes an `Outcome`: ok, the error text the
operator sees, or the newer epoch a worker holds (a `Fenced` reply) for the core's
`assign_result`.
"""
from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from campool_worker import protocol as p

from .actions import (
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


@dataclass(frozen=True)
class Command:
    """One action, ready for a link."""

    message: p.Message
    retries: int = 0                          # resends after a timeout (idempotent commands only)
    preview: tuple[str, bool] | None = None   # (camera_id, on): the preview topic to (un)subscribe first


@dataclass(frozen=True)
class Outcome:
    """What came of a command: the core's `assign_result(ok, error, current_epoch)` arguments."""

    ok: bool
    error: str = ""
    current_epoch: int | None = None          # a Fenced reply: the newer epoch the worker holds

    @classmethod
    def failed(cls, error: str) -> Outcome:
        return cls(False, error)

    @classmethod
    def of_reply(cls, reply: p.Message) -> Outcome:
        read = _REPLIES.get(type(reply))
        return read(reply) if read is not None else cls(False, f"unexpected reply {reply.TYPE}")

    @classmethod
    def of_future(cls, fut: concurrent.futures.Future[p.Message]) -> Outcome:
        """The outcome of a finished request future (a timeout or a closed link is an error)."""
        exc = fut.exception()
        if exc is not None:
            return cls.failed(str(exc))
        return cls.of_reply(fut.result())


_REPLIES: dict[type[Any], Callable[[Any], Outcome]] = {
    p.Ok: lambda reply: Outcome(True),
    p.Fenced: lambda reply: Outcome(False, "fenced", current_epoch=reply.current_epoch),
    p.Error: lambda reply: Outcome(False, f"{reply.code}: {reply.message}"),
}


def _assign(a: SendAssign) -> Command:
    role: Literal["primary", "standby"] = "standby" if a.role == "standby" else "primary"
    mode: Literal["hot", "warm"] = "warm" if a.standby == "warm" else "hot"
    return Command(p.AssignCamera(a.camera, a.epoch, a.start_frame, a.count_from_frame, a.count_from_ts,
                                  role=role, standby=mode, buffer_s=a.buffer_s))


def _promote(a: SendPromote) -> Command:
    # idempotent on the worker (a repeat is answered Ok and changes nothing), so retried
    return Command(p.PromoteCamera(a.camera_id, a.epoch, a.count_from_ts), retries=3)


def _resend(a: SendResend) -> Command:
    return Command(p.ResendCounts(a.camera_id), retries=2)


def _unassign(a: SendUnassign) -> Command:
    return Command(p.UnassignCamera(a.camera_id, a.epoch), retries=3, preview=(a.camera_id, False))


def _fence(a: SendFence) -> Command:
    return Command(p.FenceCamera(a.camera_id, a.epoch, a.current_epoch), retries=3)


def _update(a: SendUpdate) -> Command:
    return Command(p.UpdateCamera(a.camera, a.epoch), retries=2)


def _drain(a: SendDrain) -> Command:
    return Command(p.Drain(a.enabled), retries=3)


def _preview(a: SendPreview) -> Command:
    return Command(p.SetPreview(a.camera_id, a.enabled, a.width, a.fps), retries=2,
                   preview=(a.camera_id, a.enabled))


COMMANDS: dict[type[Any], Callable[[Any], Command]] = {
    SendAssign: _assign,
    SendUnassign: _unassign,
    SendFence: _fence,
    SendUpdate: _update,
    SendDrain: _drain,
    SendPreview: _preview,
    SendPromote: _promote,
    SendResend: _resend,
}


def command_for(action: Action) -> Command:
    try:
        build = COMMANDS[type(action)]
    except KeyError:
        raise TypeError(f"no command for the pool action {type(action).__name__}; "
                        "add it to commands.COMMANDS") from None
    return build(action)


# Actions that carry a camera config: its model may be a file on this machine to copy first.
CameraAction = SendAssign | SendUpdate


def camera_action(action: Action) -> CameraAction | None:
    """The action itself when it sends a camera config to the worker, else None."""
    return action if isinstance(action, (SendAssign, SendUpdate)) else None


def with_model(action: CameraAction, model: str) -> CameraAction:
    """The same action naming its camera's model by ``model`` (the ``sha256:`` reference on the wire)."""
    return replace(action, camera=replace(action.camera, model=model))


def with_source(action: CameraAction, source: str) -> CameraAction:
    """The same action with its camera's URL replaced (the URL with its credentials, for the wire)."""
    return replace(action, camera=replace(action.camera, source=source))
