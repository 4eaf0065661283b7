"""The pool core's actions reach their workers.

Each action goes to its worker's link (`WorkerLink.execute`). Two things happen around it:

* a camera whose model is a file on this machine (model_push.is_local_model) is copied to the
  worker first (`ModelDistributor`, off the pool thread; its progress goes to
  `PoolCore.assign_progress`), and the command then names the model by its ``sha256:`` hash;
* the camera's credentials are joined into its URL here, and only here, right before the
  command leaves inside the CURVE-encrypted session (credentials.py): the core and its
  records hold the URL masked, ``rtsp://admin:•••@host/…``, and never see the password;
* the outcome of an assignment goes back to `PoolCore.assign_result`, of a promotion to
  `PoolCore.promote_result`: ok, the worker's error,
  or the newer epoch a `Fenced` reply names. Other commands are idempotent and retried by the
  link; their failure is healed by the core's next heartbeat check, so it is only logged.

`send` runs on the pool thread; replies come back to it through ``post``.
"""
from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from typing import Protocol

from campool_worker.url_secrets import redact_text

from .actions import Action, SendAssign, SendPromote
from .commands import CameraAction, Outcome, camera_action, with_model, with_source
from .core import PoolCore
from .link import WorkerLink
from .links import Links
from .model_push import ModelDistributor, is_local_model

log = logging.getLogger(__name__)


class SourceJoiner(Protocol):
    """What dispatch needs of the credential store (credentials.CredentialStore)."""

    def join(self, camera_id: str, source: str) -> str: ...


class ActionDispatcher:
    def __init__(self, core: PoolCore, links: Links, models: ModelDistributor, credentials: SourceJoiner, *,
                 post: Callable[[Callable[[], None]], None]) -> None:
        self._core = core
        self._links = links
        self._models = models
        self._credentials = credentials
        self._post = post

    def send(self, action: Action) -> None:
        link = self._links.get(action.worker_id)
        if link is None:
            log.warning("no link to worker %s for %s", action.worker_id, type(action).__name__)
            self._done(action, Outcome.failed("no link to the worker"))
            return
        carrier = camera_action(action)
        if carrier is not None and is_local_model(carrier.camera.model):
            self._push_model(link, carrier)
            return
        outgoing: Action = action
        if carrier is not None:
            try:
                outgoing = with_source(carrier, self._credentials.join(carrier.camera.camera_id,
                                                                       carrier.camera.source))
            except ValueError as exc:
                self._done(action, Outcome.failed(str(exc)))
                return
        link.execute(outgoing).add_done_callback(lambda f: self._post(lambda: self._done(action, f.result())))

    def _push_model(self, link: WorkerLink, action: CameraAction) -> None:
        """The worker gets the model file by content first; then the command goes out naming it by hash."""
        cid, wid, epoch = action.camera.camera_id, action.worker_id, action.epoch

        def progress(held: int, total: int) -> None:
            note = f"copying the model to the worker: {100 * held // max(total, 1)}%"
            self._post(lambda: self._core.assign_progress(cid, wid, epoch, note))

        fut = self._models.ensure(link, action.camera.model or "", progress)
        fut.add_done_callback(lambda f: self._post(lambda: self._model_ready(action, f)))

    def _model_ready(self, action: CameraAction, fut: concurrent.futures.Future[str]) -> None:
        exc = fut.exception()
        if exc is None:
            self.send(with_model(action, fut.result()))
            return
        log.error("camera %s, worker %s: %s", action.camera.camera_id, action.worker_id, exc)
        self._done(action, Outcome.failed(f"model: {exc}"))

    def _done(self, action: Action, outcome: Outcome) -> None:
        # the worker's text reaches the operator, the alerts and the history: never with a password
        outcome = Outcome(outcome.ok, redact_text(outcome.error), outcome.current_epoch)
        if isinstance(action, SendAssign):
            self._core.assign_result(action.camera.camera_id, action.worker_id, action.epoch, outcome.ok,
                                     outcome.error, current_epoch=outcome.current_epoch)
        elif isinstance(action, SendPromote):
            self._core.promote_result(action.camera_id, action.worker_id, action.epoch, outcome.ok, outcome.error)
        elif not outcome.ok:
            log.debug("worker %s: %s not applied: %s", action.worker_id, type(action).__name__, outcome.error)
