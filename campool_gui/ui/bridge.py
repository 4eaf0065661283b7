"""The one place where the Qt world meets the pool core.

`PoolBridge` subscribes to the Master (whose callbacks run on pool threads) and turns
what happens there into Qt signals on the UI thread:

* State: a pool event only sets a flag. A refresher thread (not the UI thread) takes
  `master.snapshot()` at most a few times a second, converts it into the UI's small
  view types (`ui/adapt.py`) and posts the finished `UiState` through a queued signal.
  The UI thread swaps one reference and repaints; it never holds the pool's lock,
  copies a snapshot or waits on a socket.
* Previews: JPEG bytes go straight from the pool thread to the decoder thread
  (`PreviewDecoder`), which posts ready QImages.
* Intents (adopt, pin, add camera, ...): run on a small thread pool, because some wait
  for a worker's reply; the result comes back to a callback on the UI thread.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from campool_gui.ui import adapt
from campool_gui.ui.preview_decoder import PreviewDecoder
from campool_gui.ui.state import AlertView, CameraView, Totals, WorkerView

log = logging.getLogger(__name__)

REFRESH_MIN_INTERVAL_S = 0.25  # at most 4 state refreshes a second reach the UI
REFRESH_IDLE_S = 1.0  # refresh at least this often (uptimes, "last seen" ages)


@dataclass
class UiState:
    workers: dict[str, WorkerView] = field(default_factory=dict)
    cameras: dict[str, CameraView] = field(default_factory=dict)
    alerts: dict[Any, AlertView] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    policy: str = ""
    policies: list[str] = field(default_factory=list)
    data_dir: str = ""
    throughput: list[tuple[float, float]] = field(default_factory=list)  # (ts, counts per minute)
    load: list[tuple[str, float]] = field(default_factory=list)  # (worker name, cameras/capacity)

    def worker_names(self) -> dict[str, str]:
        return {w.worker_id: w.name for w in self.workers.values()}


@dataclass
class StateDiff:
    workers: list[str]
    cameras: list[str]
    alerts_changed: bool
    new_alerts: list[AlertView]


class PoolBridge(QObject):
    stateChanged = Signal()  # any change; carries nothing, read `bridge.state`
    workersChanged = Signal(list)  # worker ids whose view changed (added, removed or updated)
    camerasChanged = Signal(list)  # camera ids
    alertsChanged = Signal()
    alertRaised = Signal(object)  # a new AlertView (tray notification for critical ones)
    previewFrame = Signal(str, QImage, object)  # camera id, decoded frame, PreviewOverlay
    intentFailed = Signal(str)  # one line for the status bar
    _stateReady = Signal(object, object)
    _callback = Signal(object, object)

    def __init__(self, master: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.master = master
        self.state = UiState()
        self.previews_received = 0
        self._adapter = adapt.Adapter()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="campool-intent")
        self.decoder = PreviewDecoder(self)
        self.decoder.decoded.connect(self.previewFrame, Qt.ConnectionType.QueuedConnection)
        self._stateReady.connect(self._apply_state, Qt.ConnectionType.QueuedConnection)
        self._callback.connect(self._run_callback, Qt.ConnectionType.QueuedConnection)
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._first = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_loop, name="campool-ui-refresh", daemon=True)
        self._unsubscribe = master.subscribe(self._on_event)
        self._refresher.start()

    # ------------------------------------------------------------------ pool thread side
    def _on_event(self, event: Any) -> None:
        """Runs on a pool thread: hand previews to the decoder, flag everything else."""
        preview = adapt.preview_of(event)
        if preview is not None:
            camera_id, jpeg, overlay = preview
            self.previews_received += 1
            self.decoder.submit(camera_id, jpeg, overlay)
            return
        self._dirty.set()

    def _refresh_loop(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self._dirty.wait(REFRESH_IDLE_S)
            if self._stop.is_set():
                return
            wait = REFRESH_MIN_INTERVAL_S - (time.monotonic() - last)
            if wait > 0 and self._stop.wait(wait):
                return
            self._dirty.clear()
            last = time.monotonic()
            try:
                snapshot = self.master.snapshot()
                state, diff = self._adapter.build(snapshot, time.time())
            except Exception:  # a bad snapshot must not kill the UI's only view of the pool
                log.exception("could not refresh the pool view; retrying in %.1f s", REFRESH_IDLE_S)
                continue
            try:
                self._stateReady.emit(state, diff)
            except RuntimeError:  # bridge deleted during shutdown
                return

    # ------------------------------------------------------------------ UI thread side
    @Slot(object, object)
    def _apply_state(self, state: UiState, diff: StateDiff) -> None:
        self.state = state
        if diff.workers:
            self.workersChanged.emit(diff.workers)
        if diff.cameras:
            self.camerasChanged.emit(diff.cameras)
        if diff.alerts_changed:
            self.alertsChanged.emit()
        for alert in diff.new_alerts:
            self.alertRaised.emit(alert)
        self.stateChanged.emit()
        self._first.set()

    def wait_first_state(self, timeout: float = 5.0) -> bool:
        return self._first.wait(timeout)

    def refresh_now(self) -> None:
        self._dirty.set()

    @Slot(object, object)
    def _run_callback(self, fn: Callable[[Any], None], value: Any) -> None:
        try:
            fn(value)
        except Exception:
            log.exception("a UI callback failed")

    # ------------------------------------------------------------------ intents
    def call(self, what: str, fn: Callable[[], Any], on_done: Callable[[str | None], None] | None = None,
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
            self._dirty.set()
            return value

        return self._executor.submit(job)

    def post(self, fn: Callable[[Any], None], value: Any) -> None:
        try:
            self._callback.emit(fn, value)
        except RuntimeError:
            pass

    def adopt(self, worker_id: str, code: str, on_done: Callable[[str | None], None]) -> None:
        self.call(f"adopting worker {worker_id}", lambda: self.master.adopt(worker_id, code), on_done)

    def pin_cameras(self, camera_ids: list[str], worker_id: str | None) -> None:
        """Pin each camera to `worker_id`, or hand them to the balancer when it is None."""
        target = worker_id or "auto"

        def run() -> None:
            for cid in camera_ids:
                self.master.pin_camera(cid, worker_id)

        self.call(f"moving {len(camera_ids)} camera(s) to {target}", run)

    def add_camera(self, config, on_done=None, pin: str | None = None) -> None:
        self.call(f"adding camera {config.camera_id}", lambda: self.master.add_camera(config, pin=pin), on_done)

    def update_camera(self, config, on_done=None) -> None:
        self.call(f"updating camera {config.camera_id}", lambda: self.master.update_camera(config), on_done)

    def remove_camera(self, camera_id: str, on_done=None) -> None:
        self.call(f"removing camera {camera_id}", lambda: self.master.remove_camera(camera_id), on_done)

    def drain(self, worker_id: str, on_done=None) -> None:
        self.call(f"draining worker {worker_id}", lambda: self.master.drain(worker_id), on_done)

    def ack_alert(self, alert_id, on_done=None) -> None:
        self.call(f"acknowledging alert {alert_id}", lambda: self.master.ack_alert(alert_id), on_done)

    def resolve_alert(self, alert_id, on_done=None) -> None:
        self.call(f"resolving alert {alert_id}", lambda: self.master.resolve_alert(alert_id), on_done)

    def set_policy(self, name: str, on_done=None) -> None:
        self.call(f"switching to the {name} policy", lambda: self.master.set_policy(name), on_done)

    def set_preview(self, camera_id: str, on: bool, width: int = 640, fps: float = 5.0) -> None:
        self.call(f"{'starting' if on else 'stopping'} the preview of {camera_id}",
                  lambda: adapt.set_preview(self.master, camera_id, on, width, fps))

    def query_history(self, query: adapt.HistoryQuery, on_result: Callable[[Any], None],
                      on_done: Callable[[str | None], None] | None = None) -> None:
        self.call("reading the count history", lambda: adapt.query_history(self.master, query), on_done, on_result)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._stop.set()
        self._dirty.set()
        if callable(self._unsubscribe):
            try:
                self._unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self._refresher.join(timeout=2.0)
        self.decoder.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _is_user_error(exc: BaseException) -> bool:
    from campool_worker.errors import CampoolError
    from campool_worker.camera import ConfigError
    return isinstance(exc, (CampoolError, ConfigError, ValueError, KeyError, TimeoutError))


def _error_text(what: str, exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        msg = f"{exc.args[0]} is not known (it may have been removed)" if exc.args else msg
    return f"Failed {what}: {msg}"
