"""The one place where the Qt world meets the pool core.

`PoolBridge` subscribes to the Master (whose callbacks run on pool threads) and turns
what happens there into Qt signals on the UI thread:

* State, as one change stream: the pool's callbacks only drop each change into a
  `ChangeBuffer` (the latest `WorkerChanged` / `CameraChanged` per id, removals,
  `AlertChanged`s, `CountsChanged`). A merge thread (not the UI thread) applies them at most
  a few times a second to the previous `UiState` (`ui/state.py`) and posts the new state
  with the ids that changed through a queued signal. The UI thread swaps one reference and
  repaints what changed; it never holds the pool's lock, copies a snapshot or waits on a socket.
* Previews: the wire's `PreviewFrame` goes straight from the pool thread to the decoder
  thread (`PreviewDecoder`), which posts the ready QImage with the message it came in.
* Intents (adopt, pin, add camera, ...): run on a small thread pool, because some wait
  for a worker's reply; the result comes back to a callback on the UI thread.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from campool_gui.pool.job_service import JobsChanged
from campool_gui.pool.scheduler import POLICIES
from campool_gui.ui.history_query import HistoryQuery, query_history
from campool_gui.ui.preview_decoder import PreviewDecoder
from campool_gui.ui.state import ChangeBuffer, StateDiff, StateMerger, UiState
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig

log = logging.getLogger(__name__)

REFRESH_MIN_INTERVAL_S = 0.25  # at most 4 state refreshes a second reach the UI
REFRESH_IDLE_S = 1.0  # refresh at least this often (uptimes, "last seen" ages, the throughput)

DoneCallback = Callable[[str | None], None]  # error text for the operator, or None when it worked


class PoolBridge(QObject):
    """The pool as Qt signals. State: `state` (a `UiState`) is replaced on the UI thread, then
    `workersChanged` / `camerasChanged` (ids), `alertsChanged`, `alertRaised` (each newly raised
    `Alert`) and `stateChanged` are emitted.

    The first state comes from one `master.snapshot()`, taken on the merge thread after
    subscribing; from then on only the pool's changes are applied. A fresh snapshot is taken
    again only when the bridge is reset: when applying a batch failed (the state may have
    missed it) or `resync()` is called. It cannot fall behind otherwise: the buffer keeps one
    entry per worker, camera and alert, and a new state is built only once the UI thread has
    taken the previous one, so states never queue up in the event loop.
    """

    stateChanged = Signal()  # any change; carries nothing, read `bridge.state`
    workersChanged = Signal(list)  # worker ids whose view changed (added, removed or updated)
    camerasChanged = Signal(list)  # camera ids
    alertsChanged = Signal()
    alertRaised = Signal(object)  # a newly raised pool Alert (tray notification for critical ones)
    previewFrame = Signal(str, QImage, object)  # camera id, decoded frame, the wire PreviewFrame
    intentFailed = Signal(str)  # one line for the status bar
    jobsChanged = Signal(object)  # a pool.job_service.JobsChanged: the jobs that moved (queued to the UI thread)
    _stateReady = Signal(object, object)
    _callback = Signal(object, object)

    def __init__(self, master: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.master = master
        self.state = UiState(policies=tuple(POLICIES))
        self.previews_received = 0
        self._changes = ChangeBuffer()
        self._merger = StateMerger(policies=POLICIES)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="campool-intent")
        self.decoder = PreviewDecoder(self)
        self.decoder.decoded.connect(self.previewFrame, Qt.ConnectionType.QueuedConnection)
        self._stateReady.connect(self._apply_state, Qt.ConnectionType.QueuedConnection)
        self._callback.connect(self._run_callback, Qt.ConnectionType.QueuedConnection)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._first = threading.Event()
        self._resync = threading.Event()
        self._resync.set()  # the first state is a snapshot
        self._delivered = threading.Event()  # the UI thread has the last state posted
        self._delivered.set()
        self._unsubscribe = master.subscribe(self._on_event)
        self._merge_thread = threading.Thread(target=self._merge_loop, name="campool-ui-merge", daemon=True)
        self._merge_thread.start()

    # ------------------------------------------------------------------ pool thread side
    def _on_event(self, event: object) -> None:
        """Runs on a pool thread: hand previews to the decoder, buffer state changes."""
        if isinstance(event, p.PreviewFrame):
            self.previews_received += 1
            self.decoder.submit(event.camera_id, event.jpeg, event)
        elif isinstance(event, JobsChanged):
            self.jobsChanged.emit(event)  # the bridge lives on the UI thread: Qt queues this there
        elif self._changes.add(event):
            self._wake.set()

    # ------------------------------------------------------------------ merge thread side
    def _merge_loop(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            if not self._resync.is_set():
                self._wake.wait(REFRESH_IDLE_S)
                if self._stop.is_set():
                    return
                wait = REFRESH_MIN_INTERVAL_S - (time.monotonic() - last)
                if wait > 0 and self._stop.wait(wait):
                    return
            # One state in flight at a time: the next one waits (and merges more) until the UI has it.
            while not self._delivered.wait(REFRESH_MIN_INTERVAL_S):
                if self._stop.is_set():
                    return
            self._wake.clear()
            last = time.monotonic()
            resyncing = self._resync.is_set()
            try:
                state, diff = self._next_state()
            except Exception:  # a bad batch or snapshot must not kill the UI's only view of the pool
                log.exception("%s; taking a fresh snapshot in %.1f s", "could not take the pool's snapshot" if resyncing
                              else "could not apply the pool's changes to the UI state", REFRESH_IDLE_S)
                self._resync.set()
                if self._stop.wait(REFRESH_IDLE_S):
                    return
                continue
            self._delivered.clear()
            try:
                self._stateReady.emit(state, diff)
            except RuntimeError:  # bridge deleted during shutdown
                return

    def _next_state(self) -> tuple[UiState, StateDiff]:
        now, wall = time.monotonic(), time.time()
        if self._resync.is_set():
            # Changes buffered before the snapshot are in it; any reported while it is taken are
            # applied on top next time (each is as new as the snapshot or newer).
            self._changes.clear()
            snap = self.master.snapshot()
            self._resync.clear()
            return self._merger.reset(snap, now, wall)
        return self._merger.apply(self._changes.take(), now, wall)

    def resync(self) -> None:
        """Start over from a fresh snapshot (e.g. after the master was restarted)."""
        self._resync.set()
        self._wake.set()

    # ------------------------------------------------------------------ UI thread side
    @Slot(object, object)
    def _apply_state(self, state: UiState, diff: StateDiff) -> None:
        self.state = state
        self._delivered.set()
        if diff.workers:
            self.workersChanged.emit(list(diff.workers))
        if diff.cameras:
            self.camerasChanged.emit(list(diff.cameras))
        if diff.alerts_changed:
            self.alertsChanged.emit()
        for alert in diff.new_alerts:
            self.alertRaised.emit(alert)
        self.stateChanged.emit()
        self._first.set()

    def wait_first_state(self, timeout: float = 5.0) -> bool:
        return self._first.wait(timeout)

    def refresh_now(self) -> None:
        """Apply what the pool reported without waiting for the next idle refresh."""
        self._wake.set()

    @Slot(object, object)
    def _run_callback(self, fn: Callable[[Any], None], value: Any) -> None:
        try:
            fn(value)
        except Exception:
            log.exception("a UI callback failed")

    # ------------------------------------------------------------------ intents
    def call(self, what: str, fn: Callable[[], Any], on_done: DoneCallback | None = None,
             on_result: Callable[[Any], None] | None = None) -> Future:
        """Run `fn` off the UI thread. `on_done(error_text_or_None)` / `on_result(value)` come back on the UI thread."""

        def job() -> Any:
            try:
                value = fn()
            except Exception as exc:  # shown to the operator as one line, logged in full
                text = _error_text(what, exc)
                log.warning("%s", text, exc_info=not _is_user_error(exc))
                self.post(lambda _v: self.intentFailed.emit(text), None)
                if on_done:
                    self.post(on_done, text)
                return None
            if on_done:
                self.post(on_done, None)
            if on_result:
                self.post(on_result, value)
            self._wake.set()  # its effects are in the change stream: show them promptly
            return value

        return self._executor.submit(job)

    def post(self, fn: Callable[[Any], None], value: Any) -> None:
        try:
            self._callback.emit(fn, value)
        except RuntimeError:
            pass

    def adopt(self, worker_id: str, code: str, on_done: DoneCallback) -> None:
        self.call(self.tr("adopting worker {id}").format(id=worker_id),
                  lambda: self.master.adopt(worker_id, code), on_done)

    def pin_cameras(self, camera_ids: list[str], worker_id: str | None) -> None:
        """Pin each camera to `worker_id`, or hand them to the balancer when it is None."""
        target = worker_id or self.tr("auto")

        def run() -> None:
            for cid in camera_ids:
                self.master.pin_camera(cid, worker_id)

        self.call(self.tr("moving {n} camera(s) to {target}").format(n=len(camera_ids), target=target), run)

    def set_standby(self, camera_ids: list[str], worker_id: str | None) -> None:
        """Have `worker_id` hold each camera's standby, or let the balancer choose when it is None."""
        target = worker_id or self.tr("auto")

        def run() -> None:
            for cid in camera_ids:
                self.master.set_standby(cid, worker_id)

        self.call(self.tr("setting the standby of {n} camera(s) to {target}").format(n=len(camera_ids), target=target),
                  run)

    def add_camera(self, config: CameraConfig, on_done: DoneCallback | None = None, pin: str | None = None) -> None:
        self.call(self.tr("adding camera {id}").format(id=config.camera_id),
                  lambda: self.master.add_camera(config, pin=pin), on_done)

    def update_camera(self, config: CameraConfig, on_done: DoneCallback | None = None) -> None:
        self.call(self.tr("updating camera {id}").format(id=config.camera_id),
                  lambda: self.master.update_camera(config), on_done)

    def remove_camera(self, camera_id: str, on_done: DoneCallback | None = None) -> None:
        self.call(self.tr("removing camera {id}").format(id=camera_id),
                  lambda: self.master.remove_camera(camera_id), on_done)

    def drain(self, worker_id: str, on_done: DoneCallback | None = None) -> None:
        self.call(self.tr("draining worker {id}").format(id=worker_id), lambda: self.master.drain(worker_id), on_done)

    def ack_alert(self, alert_id: int, on_done: DoneCallback | None = None) -> None:
        self.call(self.tr("acknowledging alert {id}").format(id=alert_id),
                  lambda: self.master.ack_alert(alert_id), on_done)

    def resolve_alert(self, alert_id: int, on_done: DoneCallback | None = None) -> None:
        self.call(self.tr("resolving alert {id}").format(id=alert_id),
                  lambda: self.master.resolve_alert(alert_id), on_done)

    def set_policy(self, name: str, on_done: DoneCallback | None = None) -> None:
        def run() -> None:
            self.master.set_policy(name)
            self._changes.set_policy(name)  # the pool sends no event for it

        self.call(self.tr("switching to the {name} policy").format(name=name), run, on_done)

    def set_preview(self, camera_id: str, on: bool, width: int = 640, fps: float = 5.0) -> None:
        self.call((self.tr("starting the preview of {id}") if on else self.tr("stopping the preview of {id}")).format(
                  id=camera_id),
                  lambda: self.master.set_preview(camera_id, on, width, fps))

    def query_history(self, query: HistoryQuery, on_result: Callable[[Any], None],
                      on_done: DoneCallback | None = None) -> None:
        self.call(self.tr("reading the count history"), lambda: query_history(self.master, query), on_done, on_result)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if callable(self._unsubscribe):
            try:
                self._unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self._merge_thread.join(timeout=2.0)
        self.decoder.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _is_user_error(exc: BaseException) -> bool:
    from campool_worker.camera import ConfigError
    from campool_worker.errors import CampoolError
    return isinstance(exc, (CampoolError, ConfigError, ValueError, KeyError, TimeoutError))


def _error_text(what: str, exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        msg = QCoreApplication.translate("PoolBridge", "{what} is not known (it may have been removed)").format(
            what=exc.args[0]) if exc.args else msg
    return QCoreApplication.translate("PoolBridge", "Failed {what}: {error}").format(what=what, error=msg)
