"""The integrations of one master, on their own thread, fed by its change stream.

    hub = Integrations(master, IntegrationSettings(mqtt=MqttSettings(...), metrics=MetricsSettings()))
    hub.start()                # after master.start(); returns at once
    hub.status()               # IntegrationStatus: each part's state and one line for the operator
    hub.reconfigure(settings)  # from the Settings view (any thread but the UI's: it waits for the swap)
    hub.stop()                 # before master.stop(): says offline on MQTT, closes the endpoint

The master's callback (on the pool thread) only puts the event into a queue; the hub's thread
applies it to the `PoolMirror` and, every `PUMP_S`, brings MQTT up to date. A broker that is away
or slow never holds up the pool: what MQTT cannot send waits in its own structures. Each part's
problem goes to the master as an input (`Master.report_integration`), which raises an
``integration_down`` alert when it lasts.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from campool_gui import __version__
from campool_worker import protocol as p

from .ha_discovery import Discovery
from .localday import Key, day_bounds
from .metrics import MetricsEndpoint, MetricsStatus, PoolCollector
from .mirror import SKIP_KEYS_FOR_S, PoolMirror
from .mqtt_publisher import MqttPublisher, MqttStatus
from .outbox import MqttOutbox
from .settings import IntegrationSettings
from .topics import Topics, alert_payload, default_prefix, state_messages

if TYPE_CHECKING:
    from campool_gui.pool.master import Master

log = logging.getLogger(__name__)

PUMP_S = 0.25
OUTBOX_FILE = "mqtt-outbox.db"


@dataclass(frozen=True)
class IntegrationStatus:
    mqtt: MqttStatus | None          # None: off
    metrics: MetricsStatus | None    # None: off


StatusListener = Callable[[IntegrationStatus], None]


class Integrations:
    def __init__(self, master: Master, settings: IntegrationSettings, *, tz: tzinfo | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.master = master
        self.settings = settings
        self.tz = tz
        self.clock = clock
        self.lock = threading.Lock()                  # held while the mirror changes (the endpoint reads it)
        self.mirror = PoolMirror(clock(), tz)
        self.publisher: MqttPublisher | None = None
        self.endpoint: MetricsEndpoint | None = None
        self._outbox: MqttOutbox | None = None
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._requests: queue.SimpleQueue[tuple[IntegrationSettings, threading.Event]] = queue.SimpleQueue()
        self._listeners: list[StatusListener] = []
        self._listeners_lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="campool-integrations", daemon=True)
        self._reported: dict[str, str] = {}           # part -> the problem last told to the master
        self._report_lock = threading.Lock()
        self._start_problem = ""                      # MQTT configured but its client could not even be made

    # ------------------------------------------------------------- any thread

    def start(self) -> None:
        self._unsubscribe = self.master.subscribe(self._on_event)
        self._thread.start()

    def wait_ready(self, timeout: float = 15.0) -> bool:
        """True once the mirror is loaded and the configured parts started (tests, the CLI)."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._stop_parts()
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def reconfigure(self, settings: IntegrationSettings, timeout: float = 15.0) -> IntegrationStatus:
        """Apply new settings (parts restarted as needed); returns the status once they are in place."""
        done = threading.Event()
        self._requests.put((settings, done))
        done.wait(timeout)
        return self.status()

    def status(self) -> IntegrationStatus:
        pub, ep = self.publisher, self.endpoint
        return IntegrationStatus(pub.status() if pub is not None else None, ep.status() if ep is not None else None)

    def add_listener(self, callback: StatusListener) -> Callable[[], None]:
        """``callback(IntegrationStatus)`` whenever a part's state or message changes (any thread)."""
        with self._listeners_lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._listeners_lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)
        return remove

    @property
    def metrics_port(self) -> int | None:
        return self.endpoint.port if self.endpoint is not None else None

    def _on_event(self, event: object) -> None:
        """The pool thread: keep it short. Previews (JPEG bytes) are not the integrations' business."""
        if not isinstance(event, p.PreviewFrame):
            self._events.put(event)

    # ------------------------------------------------------------- the integrations' thread

    def _run(self) -> None:
        try:
            self._load()
        except Exception:
            log.exception("integrations: could not read the pool's state; MQTT and metrics are off until a restart")
            self._ready.set()
            return
        self._apply(self.settings)
        self._ready.set()
        next_pump = 0.0
        while not self._stop.is_set():
            try:
                self._serve_requests()
                self._drain(max(0.0, next_pump - time.monotonic()))
                if time.monotonic() >= next_pump:
                    next_pump = time.monotonic() + PUMP_S
                    self._pump()
            except Exception:  # one bad event or a full disk must not end MQTT and the metrics for good
                log.exception("integrations: an update failed; carrying on")
                self._stop.wait(PUMP_S)

    def _load(self) -> None:
        """The mirror's start: a snapshot, and today's counts from the history (see mirror.py)."""
        snap = self.master.snapshot()
        now = self.clock()
        start, end = day_bounds(now, self.tz)
        today: dict[Key, int] = {}
        store = self.master.store
        for r in store.counts_series(start, end, "minute", by_class=True):
            key = (r["camera_id"], r["line"], r["direction"], r["class_name"])
            today[key] = today.get(key, 0) + int(r["count"])
        seen = store.recent_event_keys([c.camera_id for c in snap.cameras], now - SKIP_KEYS_FOR_S, start)
        with self.lock:
            self.mirror.load(snap, today, seen, now)

    def _drain(self, wait_s: float) -> None:
        try:
            first = self._events.get(timeout=wait_s) if wait_s > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        batch = [first]
        while len(batch) < 5000:
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                break
        now = self.clock()
        with self.lock:
            transitions = [t for ev in batch for t in self.mirror.apply(ev, now)]
        pub = self.publisher
        if pub is not None:
            for t in transitions:
                pub.event(pub.topics.alert, alert_payload(t))

    def _pump(self) -> None:
        now = self.clock()
        with self.lock:
            if self.mirror.tick(now):
                log.info("integrations: a new day; today's totals start again from 0")
        pub = self.publisher
        if pub is None:
            return
        try:
            state = state_messages(self.mirror, pub.topics, now)
            configs = pub.discovery.configs(self.mirror) if pub.discovery is not None else None
            pub.pump(state, configs)
        except Exception:
            log.exception("MQTT: publishing failed; trying again in %.2f s", PUMP_S)

    def _serve_requests(self) -> None:
        while True:
            try:
                settings, done = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                self._apply(settings)
            finally:
                done.set()

    # ------------------------------------------------------------- parts

    def _apply(self, settings: IntegrationSettings) -> None:
        old = self.settings
        self.settings = settings
        if self.publisher is not None and settings.mqtt != old.mqtt:
            self.publisher.stop()
            self.publisher = None
        if self.endpoint is not None and settings.metrics != old.metrics:
            self.endpoint.stop()
            self.endpoint = None
        self._start_problem = ""
        if settings.mqtt is not None and self.publisher is None:
            try:
                self.publisher = self._make_publisher(settings)
                self.publisher.start()
            except Exception as exc:  # e.g. its queue file cannot be opened: said, and the rest goes on
                log.exception("MQTT could not start")
                self.publisher = None
                self._start_problem = f"MQTT could not start: {exc}"
        if settings.metrics is not None and self.endpoint is None:
            collector = PoolCollector(self.mirror, self.lock, version=__version__, mqtt=self._mqtt_gauge)
            self.endpoint = MetricsEndpoint(settings.metrics, collector)
            self.endpoint.start()
        self._status_changed()

    def _make_publisher(self, settings: IntegrationSettings) -> MqttPublisher:
        s = settings.mqtt
        assert s is not None
        site = self.master.settings.name
        prefix = s.prefix or default_prefix(site)
        if self._outbox is None:
            self._outbox = MqttOutbox(Path(self.master.data_dir) / OUTBOX_FILE, s.queue_max)
        self._outbox.max_messages = s.queue_max
        discovery = None
        if s.discovery:
            discovery = Discovery(Topics(prefix), master_id=self.master.master_id, site=site, version=__version__,
                                  discovery_prefix=s.discovery_prefix)
        return MqttPublisher(s, client_id=f"campool-{self.master.master_id}", prefix=prefix, outbox=self._outbox,
                             discovery=discovery, on_status=lambda _st: self._status_changed())

    def _stop_parts(self) -> None:
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None

    def _mqtt_gauge(self) -> tuple[bool, int] | None:
        pub = self.publisher
        if pub is None:
            return None
        st = pub.status()
        return st.state == "connected", st.queued

    def _status_changed(self) -> None:
        with self._report_lock:
            st = self.status()
            for name, part in (("mqtt", st.mqtt), ("metrics", st.metrics)):
                problem = part.problem if part is not None else (self._start_problem if name == "mqtt" else "")
                if self._reported.get(name, "") != problem:
                    self._reported[name] = problem
                    self.master.report_integration(name, problem)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(st)
            except Exception:
                log.exception("an integration status listener failed")
