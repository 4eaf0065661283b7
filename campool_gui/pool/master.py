"""The master: the pool core, its links to workers, discovery and the history store, wired up.

Master API (for the Qt layer and campool-gui --headless; no Qt in here)
========================================================================
Construction and life cycle::

    m = Master(MasterSettings(data_dir=Path(...)))   # opens data_dir/history.db, keys in data_dir/keys
    m.start()            # pool thread, store writer, links to stored workers, mDNS browse (if enabled)
    ...
    m.stop()             # closes links and the store; safe to call twice

Intents: callable from any thread; they run on the pool thread and return when applied
(a few ms), raising ValueError with a one-line, operator-readable message on bad input.
    add_camera(config: CameraConfig, pin: str | None = None, *, pin_return=True, target_fps=None)
    update_camera(config: CameraConfig, *, target_fps=None)   # same camera_id; lines/zones/model...
    remove_camera(camera_id)
    pin_camera(camera_id, worker_id | None, *, pin_return=True)   # None = back to auto placement
    retry_camera(camera_id)                                  # clear its failures / dead letter
    set_preview(camera_id, on: bool, width=320, fps=2.0)     # frames arrive as PreviewFrame events
    set_policy(name)                                         # one of scheduler.POLICIES
    drain(worker_id, on=True)
    ack_alert(alert_id) / resolve_alert(alert_id)
    set_alert_rule(rule: alerts.AlertRule)                   # thresholds, for_s, overrides, enabled
Intents that talk to a worker (they block the caller up to ~10 s; call them off the UI thread):
    adopt(worker_id, pairing_code) -> worker_id              # a discovered worker; pins its key
    add_worker(host, cmd_port, pub_port, pair_port, key, *, code=None) -> worker_id
        # by address (static config): pairs when `code` is given, else the worker must already
        # accept this master's key (campool-worker serve --accept-master=<master_public_key>)
    forget_worker(worker_id)                                 # unpin and drop it (its cameras move)
    set_worker_site(worker_id, site, groups=frozenset())     # for site affinity (stored)
State (views.py has every field):
    snapshot() -> views.PoolSnapshot      # frozen: workers (with ~10 min metrics history), cameras,
                                          # alerts (open first), dead letters, totals, policy
    subscribe(callback) -> unsubscribe    # callback(event) on the pool thread; keep it short.
        events (views.py): WorkerChanged, WorkerRemoved, CameraChanged, CameraRemoved,
        CountsChanged (newly stored events + line totals), AlertChanged, PreviewFrame (JPEG bytes)
    public_key -> str                     # this master's CURVE key (for --accept-master)
    Camera states (CameraView.state): unassigned | waiting (reason says why: no worker with room, worker
    offline...) | assigning | starting | running | reconnecting | failed | retrying | dead_letter
    (CameraView.errors: worker -> last error). Worker states: WorkerState (models.py).
History (any thread; reads never block the pool):
    history(start, end, bucket="hour", camera_id=None, line=None, by_class=True) -> list[dict]
        rows {bucket_ts, camera_id, line, direction ("in"/"out"), class_name ("all" if not
        by_class), count}; bucket: minute | hour | day (local midnight). Zone occupancy:
        zone_history(camera_id, start, end) -> rows with direction "occupancy" (peak per minute).
    export_csv(path_or_file, start, end, bucket="hour", camera_id=None, line=None, by_class=False) -> rows
    assignment_history(camera_id=None, limit=200), worker_metrics(worker_id, start, end)
    store -> store.Store (the same queries, and stored_events for audits)

Threads: one pool thread runs the core (intents, telemetry, ticks every 0.2 s); each worker
link has its I/O thread (campool_gui.pool.wire_client); the store has its writer thread; zeroconf
has its own. Count events: judged (epoch fencing) on the pool thread, stored idempotently by
the writer, acked to the worker only after the commit.
"""
from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from campool_gui import __version__
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig
from campool_gui.pool.wire_client import PairingFailed, RequestTimeout, WorkerAddress, WorkerClient, pair_with_worker
from campool_worker.errors import CampoolError
from campool_worker.security import load_or_create_keypair

from .alerts import AlertRule
from .balance import BalanceSettings
from .clock import Clock, SystemClock
from .core import (CoreSettings, PoolCore, SendAssign, SendDrain, SendFence, SendPreview, SendUnassign,
                   SendUpdate)
from .failover import RetrySettings
from .link import WorkerLink
from .model_push import ModelDistributor, is_local_model
from .models import Worker, WorkerCapabilities
from .registry import Registry
from .store import Retention, Store
from .views import PoolSnapshot

log = logging.getLogger(__name__)

TICK_S = 0.2
RETENTION_EVERY_S = 3600.0


class MasterError(CampoolError):
    """A master operation that cannot be done; the text says why and what to do."""


@dataclass
class MasterSettings:
    data_dir: Path
    name: str = "control-center"
    core: CoreSettings = field(default_factory=CoreSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    balance: BalanceSettings = field(default_factory=BalanceSettings)
    retention: Retention = field(default_factory=Retention)
    zeroconf: bool = True
    zeroconf_interfaces: list[str] | None = None
    command_timeout_s: float = 5.0
    alert_rules: dict[str, AlertRule] | None = None


class Master:
    def __init__(self, settings: MasterSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.data_dir = Path(settings.data_dir).expanduser()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MasterError(f"cannot create the data folder {self.data_dir}: {exc}; choose a writable one") from None
        self.keys = load_or_create_keypair(self.data_dir / "keys", "master")
        self.store = Store(self.data_dir / "history.db", retention=settings.retention)
        self.master_id = self._master_id()
        self.core = PoolCore(self.clock, settings.core, rules=settings.alert_rules, retry=settings.retry,
                             balance=settings.balance)
        self.registry = Registry()
        self.links: dict[str, WorkerLink] = {}
        self.models = ModelDistributor()
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._subscribers: list[Callable[[object], None]] = []
        self._sub_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._browser: Any = None
        self._last_retention = float("-inf")
        self._pool_thread_id: int | None = None

    # ------------------------------------------------------------- life cycle

    @property
    def public_key(self) -> str:
        return self.keys.public

    def _master_id(self) -> str:
        row = self.store._reader().execute("SELECT value FROM meta WHERE key = 'master_id'").fetchone()
        if row:
            return row[0]
        mid = uuid.uuid4().hex[:12]
        self.store.submit(lambda c: c.execute("INSERT OR IGNORE INTO meta VALUES ('master_id', ?)", (mid,))).result(10)
        return mid

    def start(self) -> None:
        state = self.store.load_state()
        self.core.restore(**state)
        for w in state["workers"]:
            self.registry.pin(w.worker_id, w.name, w.public_key)
            self._open_link(w)
        log.info("master %s started: %d worker(s), %d camera(s) from %s", self.master_id, len(state["workers"]),
                 len(state["cameras"]), self.store.path)
        self._thread = threading.Thread(target=self._loop, name="campool-pool", daemon=True)
        self._thread.start()
        if self.settings.zeroconf:
            try:
                from campool_worker.discovery import WorkerBrowser
                self._browser = WorkerBrowser(lambda inst, rec: self._post("mdns", (inst, rec)),
                                              interfaces=self.settings.zeroconf_interfaces)
            except Exception as exc:  # noqa: BLE001 - discovery is a convenience, not a requirement
                log.warning("mDNS discovery is off (%s); add workers by address", exc)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._browser is not None:
            self._browser.close()
        if self._thread is not None:
            self._post("wake", None)
            self._thread.join(10.0)
        self.models.close()
        for link in list(self.links.values()):
            link.close()
        self.links.clear()
        self.store.close()
        log.info("master stopped")

    def __enter__(self) -> "Master":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- plumbing

    def _post(self, kind: str, arg: Any) -> None:
        self._inbox.put((kind, arg))

    def _call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run fn on the pool thread and return its result (or raise its error)."""
        if threading.get_ident() == self._pool_thread_id:
            return fn()
        if self._thread is None or not self._thread.is_alive():
            raise MasterError("the master is not running")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._post("call", (fn, fut))
        return fut.result(timeout)

    def subscribe(self, callback: Callable[[object], None]) -> Callable[[], None]:
        with self._sub_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._sub_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def _emit(self, events: list[object]) -> None:
        if not events:
            return
        with self._sub_lock:
            subs = list(self._subscribers)
        for ev in events:
            for cb in subs:
                try:
                    cb(ev)
                except Exception:  # noqa: BLE001 - a subscriber's bug must not stop the pool
                    log.exception("a pool event subscriber failed on %s", type(ev).__name__)

    def _loop(self) -> None:
        self._pool_thread_id = threading.get_ident()
        next_tick = time.monotonic()
        while not self._stop.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            try:
                item = self._inbox.get(timeout=timeout)
                self._handle(item)
                for _ in range(2000):
                    self._handle(self._inbox.get_nowait())
            except queue.Empty:
                pass
            except Exception:  # noqa: BLE001 - the pool thread must survive anything
                log.exception("pool thread error")
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_S
                try:
                    self.core.tick()
                    self._maintain_links()
                    if time.monotonic() - self._last_retention >= RETENTION_EVERY_S:
                        self._last_retention = time.monotonic()
                        self.store.apply_retention().add_done_callback(_log_retention)
                except Exception:  # noqa: BLE001
                    log.exception("pool tick error")
            self._flush()

    def _handle(self, item: tuple[str, Any]) -> None:
        kind, arg = item
        if kind == "call":
            fn, fut = arg
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)
        elif kind == "telemetry":
            self._telemetry(*arg)
        elif kind == "stored":
            self._stored(*arg)
        elif kind == "assign_result":
            self._assign_result(*arg)
        elif kind == "model_progress":
            self.core.assign_progress(*arg)
        elif kind == "model_ready":
            self._model_ready(*arg)
        elif kind == "hello":
            self._hello_result(*arg)
        elif kind == "mdns":
            self._mdns(*arg)

    def _flush(self) -> None:
        records = self.core.take_records()
        if records:
            try:
                # a new epoch is on disk before any worker hears of it
                self.store.save_records(records).result(30)
            except Exception:  # noqa: BLE001
                log.exception("could not save %d pool record(s)", len(records))
        for act in self.core.take_actions():
            self._send(act)
        self._emit(self.core.take_events())

    # ------------------------------------------------------------- links

    def _open_link(self, w: Worker, client: WorkerClient | None = None) -> None:
        old = self.links.pop(w.worker_id, None)
        if old is not None:
            old.close()
        addr = WorkerAddress(w.address, w.cmd_port, w.pub_port, w.pair_port, w.public_key)
        self.links[w.worker_id] = WorkerLink(
            w.worker_id, addr, self.keys, command_timeout_s=self.settings.command_timeout_s, client=client,
            on_telemetry=lambda wid, env: self._post("telemetry", (wid, env)))

    def _maintain_links(self) -> None:
        now = time.monotonic()
        for wid, link in self.links.items():
            if link.hello_due(now):
                link.hello_inflight = True
                fut = link.send(p.Hello(self.master_id, self.settings.name, __version__), timeout=3.0)
                fut.add_done_callback(lambda f, wid=wid: self._post("hello", (wid, f)))

    def _hello_result(self, wid: str, fut: concurrent.futures.Future) -> None:
        link = self.links.get(wid)
        if link is None:
            return
        exc = fut.exception()
        reply = None if exc else fut.result()
        if not isinstance(reply, p.HelloReply):
            link.hello_failed(time.monotonic())
            log.info("worker %s: hello not answered (%s); retrying in %.0f s", wid, exc or reply, link.hello_backoff)
            return
        st = reply.status
        if st.worker_id != wid:
            log.error("worker at %s answers as %s, not %s: its data folder was replaced; remove and adopt it again",
                      link.address.host, st.worker_id, wid)
        link.hello_done(st.boot_id)
        self.core.worker_hello(wid, st)

    def _send(self, act: Any) -> None:
        link = self.links.get(act.worker_id)
        if link is None:
            log.warning("no link to worker %s for %s", act.worker_id, type(act).__name__)
            if isinstance(act, SendAssign):
                self.core.assign_result(act.camera.camera_id, act.worker_id, act.epoch, False, "no link to the worker")
            return
        if isinstance(act, (SendAssign, SendUpdate)) and is_local_model(act.camera.model):
            self._push_model(link, act)
            return
        if isinstance(act, SendAssign):
            msg = p.AssignCamera(act.camera, act.epoch, act.start_frame, act.count_from_frame, act.count_from_ts)
            fut = link.send(msg)
            fut.add_done_callback(lambda f, a=act: self._post("assign_result", (a, f)))
        elif isinstance(act, SendUnassign):
            link.send(p.UnassignCamera(act.camera_id, act.epoch), retries=3)
            link.set_preview(act.camera_id, False)
        elif isinstance(act, SendFence):
            link.send(p.FenceCamera(act.camera_id, act.epoch, act.current_epoch), retries=3)
        elif isinstance(act, SendUpdate):
            link.send(p.UpdateCamera(act.camera, act.epoch), retries=2)
        elif isinstance(act, SendDrain):
            link.send(p.Drain(act.enabled), retries=3)
        elif isinstance(act, SendPreview):
            link.set_preview(act.camera_id, act.enabled)
            link.send(p.SetPreview(act.camera_id, act.enabled, act.width, act.fps), retries=2)

    def _push_model(self, link: WorkerLink, act: SendAssign | SendUpdate) -> None:
        """The camera's model is a file here: the worker gets it by content first, then the
        command goes out naming it by hash."""
        cid = act.camera.camera_id

        def progress(held: int, total: int) -> None:
            pct = 100 * held // max(total, 1)
            self._post("model_progress", (cid, act.worker_id, act.epoch, f"copying the model to the worker: {pct}%"))

        fut = self.models.ensure(link, act.camera.model or "", progress)
        fut.add_done_callback(lambda f: self._post("model_ready", (act, f)))

    def _model_ready(self, act: SendAssign | SendUpdate, fut: concurrent.futures.Future) -> None:
        cid = act.camera.camera_id
        exc = fut.exception()
        if exc is None:
            self._send(replace(act, camera=replace(act.camera, model=fut.result())))
            return
        log.error("camera %s: %s", cid, exc)
        if isinstance(act, SendAssign):
            self.core.assign_result(cid, act.worker_id, act.epoch, False, f"model: {exc}")

    def _assign_result(self, act: SendAssign, fut: concurrent.futures.Future) -> None:
        cid = act.camera.camera_id
        exc = fut.exception()
        if exc is not None:
            self.core.assign_result(cid, act.worker_id, act.epoch, False, str(exc))
            return
        reply = fut.result()
        if isinstance(reply, p.Ok):
            self.core.assign_result(cid, act.worker_id, act.epoch, True)
        elif isinstance(reply, p.Fenced):
            self.core.assign_result(cid, act.worker_id, act.epoch, False, "fenced", current_epoch=reply.current_epoch)
        elif isinstance(reply, p.Error):
            self.core.assign_result(cid, act.worker_id, act.epoch, False, f"{reply.code}: {reply.message}")
        else:
            self.core.assign_result(cid, act.worker_id, act.epoch, False, f"unexpected reply {reply.TYPE}")

    # ------------------------------------------------------------- telemetry

    def _telemetry(self, wid: str, env: p.Envelope) -> None:
        msg = env.message
        link = self.links.get(wid)
        if link is None:
            return
        if isinstance(msg, p.Heartbeat):
            st = msg.status
            w = self.core.workers.get(wid)
            was_alive = bool(w and w.alive)
            if link.boot_id and st.boot_id != link.boot_id:
                if link.hello_ok:  # once per restart, not once per heartbeat until the hello is answered
                    log.info("worker %s restarted (boot %s -> %s)", wid, link.boot_id, st.boot_id)
                link.need_hello()
            elif not was_alive and link.hello_ok:
                link.need_hello()     # it was silent: re-sync its cameras and backlog
            self.core.heartbeat(wid, st)
            if w is not None and w.metrics is not None:
                self.store.add_metrics(wid, w.metrics)
        elif isinstance(msg, p.CountBatch):
            if not msg.events:
                return
            verdicts = self.core.judge(msg.events)
            fut = self.store.add_events(msg.events, verdicts, wid)
            fut.add_done_callback(lambda f, ev=msg.events, v=verdicts: self._post("stored", (wid, ev, v, f)))
        elif isinstance(msg, p.PreviewFrame):
            self._emit([msg])
            if msg.zones:
                self.store.add_zone_peaks(msg.camera_id, msg.ts, {z: sum(v.values()) for z, v in msg.zones.items()})
        elif isinstance(msg, p.AlertEvent):
            log.log(logging.WARNING if msg.level != "info" else logging.INFO, "worker %s%s: %s (%s)", wid,
                    f" camera {msg.camera_id}" if msg.camera_id else "", msg.message, msg.code)

    def _stored(self, wid: str, events: list, verdicts: list, fut: concurrent.futures.Future) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("worker %s: %d count event(s) not stored (%s); the worker will resend them", wid, len(events), exc)
            return
        result = fut.result()
        self.core.stored(events, verdicts, result.inserted)
        link = self.links.get(wid)
        if link is None:
            return
        for (cid, epoch), hw in result.acks.items():
            if hw > link.acked.get((cid, epoch), 0):
                link.acked[(cid, epoch)] = hw
                link.send(p.AckCounts(cid, epoch, hw))

    def _mdns(self, instance: str, rec: Any) -> None:
        change = self.registry.seen(instance, rec)
        for wid in change.remove:
            if wid in self.core.workers and not self.core.workers[wid].adopted:
                self.core.remove_worker(wid)
        for w in change.upsert:
            known = self.core.workers.get(w.worker_id)
            if w.adopted and known is not None:
                if (known.address, known.cmd_port, known.pub_port) != (w.address, w.cmd_port, w.pub_port):
                    log.info("worker %s moved to %s:%d", w.worker_id, w.address, w.cmd_port)
                    known.address, known.cmd_port, known.pub_port, known.pair_port = (
                        w.address, w.cmd_port, w.pub_port, w.pair_port)
                    self.core.upsert_worker(known)
                    self._open_link(known)
                continue
            if known is not None and known.adopted:
                continue
            self.core.upsert_worker(w)

    # ------------------------------------------------------------- intents

    def add_camera(self, config: CameraConfig, pin: str | None = None, *, pin_return: bool = True,
                   target_fps: float | None = None) -> None:
        self._call(lambda: self.core.add_camera(config, pin, pin_return=pin_return, target_fps=target_fps))

    def update_camera(self, config: CameraConfig, *, target_fps: float | None = None) -> None:
        self._call(lambda: self.core.update_camera(config, target_fps=target_fps))

    def remove_camera(self, camera_id: str) -> None:
        self._call(lambda: self.core.remove_camera(camera_id))

    def pin_camera(self, camera_id: str, worker_id: str | None, *, pin_return: bool = True) -> None:
        self._call(lambda: self.core.pin_camera(camera_id, worker_id, pin_return=pin_return))

    def retry_camera(self, camera_id: str) -> None:
        self._call(lambda: self.core.retry_camera(camera_id))

    def set_preview(self, camera_id: str, on: bool, width: int = 320, fps: float = 2.0) -> None:
        width = max(16, min(1920, int(width)))
        fps = max(0.1, min(30.0, float(fps)))
        self._call(lambda: self.core.set_preview(camera_id, on, width, fps))

    def set_policy(self, name: str) -> None:
        self._call(lambda: self.core.set_policy(name))

    def drain(self, worker_id: str, on: bool = True) -> None:
        self._call(lambda: self.core.drain(worker_id, on))

    def ack_alert(self, alert_id: int) -> None:
        def run() -> None:
            if self.core.alerts.ack(int(alert_id)) is None:
                raise ValueError(f"alert {alert_id} is not open (or does not exist)")
        self._call(run)

    def resolve_alert(self, alert_id: int) -> None:
        def run() -> None:
            if self.core.alerts.resolve(int(alert_id)) is None:
                raise ValueError(f"alert {alert_id} is already resolved (or does not exist)")
        self._call(run)

    def set_alert_rule(self, rule: AlertRule) -> None:
        self._call(lambda: self.core.alerts.set_rule(rule))

    def snapshot(self) -> PoolSnapshot:
        return self._call(self.core.snapshot)

    def adopt(self, worker_id: str, pairing_code: str) -> str:
        """Pair with a discovered worker (the code it shows) and pin its key."""
        rec = self._call(lambda: self.registry.find(worker_id))
        if rec is None:
            raise MasterError(f"worker {worker_id!r} is not among the discovered workers; check it runs and is on "
                              "this network, or add it by address")
        return self.add_worker(rec.host, rec.cmd_port, rec.pub_port, rec.pair_port, rec.key, code=pairing_code)

    def add_worker(self, host: str, cmd_port: int, pub_port: int, pair_port: int, key: str, *,
                   code: str | None = None, timeout: float = 10.0) -> str:
        """Adopt a worker by address. Blocks up to `timeout` (pairing, then hello)."""
        addr = WorkerAddress(host, int(cmd_port), int(pub_port), int(pair_port), key)
        if code:
            try:
                pair_with_worker(addr, self.keys, code, self.settings.name, timeout=timeout)
            except PairingFailed as exc:
                raise MasterError(str(exc)) from None
        client = WorkerClient(addr, self.keys)
        try:
            hello = client.call(p.Hello(self.master_id, self.settings.name, __version__), timeout=timeout,
                                expect=p.HelloReply)
        except (RequestTimeout, CampoolError) as exc:
            client.close()
            raise MasterError(f"worker {host}:{cmd_port} did not answer ({exc}); check the address and that it "
                              f"accepts this master's key (pair it with its code, or start it with "
                              f"--accept-master={self.public_key})") from None

        def register() -> str:
            st = hello.status
            wid = st.worker_id
            old = self.core.workers.get(wid)
            caps = old.capabilities if old is not None else WorkerCapabilities()
            caps = WorkerCapabilities(capacity=st.capacity or caps.capacity, gpu=bool(st.gpu),
                                      gpu_name=st.gpu, models=caps.models, source_kinds=caps.source_kinds,
                                      site=caps.site, groups=caps.groups)
            w = Worker(wid, st.name, address=host, cmd_port=int(cmd_port), pub_port=int(pub_port),
                       pair_port=int(pair_port), public_key=key, adopted=True, version=st.version,
                       capabilities=caps, heartbeat_s=st.heartbeat_s)
            self.registry.pin(wid, st.name, key)
            self.core.upsert_worker(w)
            self._open_link(w, client)
            link = self.links[wid]
            link.hello_done(st.boot_id)
            self.core.worker_hello(wid, st)
            log.info("worker %s (%s) adopted at %s:%d", wid, st.name, host, cmd_port)
            return wid

        try:
            return self._call(register)
        except BaseException:
            client.close()
            raise

    def set_worker_site(self, worker_id: str, site: str, groups: frozenset[str] = frozenset()) -> None:
        def run() -> None:
            w = self.core.workers.get(worker_id)
            if w is None:
                raise ValueError(f"no worker {worker_id!r}")
            from dataclasses import replace
            w.capabilities = replace(w.capabilities, site=site, groups=frozenset(groups))
            self.core.upsert_worker(w)
        self._call(run)

    def forget_worker(self, worker_id: str) -> None:
        def run() -> None:
            self.registry.unpin(worker_id)
            self.core.remove_worker(worker_id)
            link = self.links.pop(worker_id, None)
            if link is not None:
                link.close()
        self._call(run)

    # ------------------------------------------------------------- history

    def history(self, start: float, end: float, bucket: str = "hour", camera_id: str | None = None,
                line: str | None = None, by_class: bool = True) -> list[dict[str, Any]]:
        return self.store.counts_series(start, end, bucket, camera_id, line, by_class)

    def zone_history(self, camera_id: str, start: float, end: float) -> list[dict[str, Any]]:
        return self.store.zone_series(camera_id, start, end)

    def export_csv(self, out: IO[str] | str | Path, start: float, end: float, bucket: str = "hour",
                   camera_id: str | None = None, line: str | None = None, by_class: bool = False) -> int:
        return self.store.export_csv(out, start, end, bucket, camera_id, line, by_class)

    def assignment_history(self, camera_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.assignment_history(camera_id, limit)

    def worker_metrics(self, worker_id: str, start: float, end: float) -> list[dict[str, Any]]:
        return self.store.worker_metrics(worker_id, start, end)


def _log_retention(fut: concurrent.futures.Future) -> None:
    if fut.exception() is not None:
        log.error("history retention failed: %s", fut.exception())
    elif any(fut.result().values()):
        log.info("history retention removed %s", ", ".join(f"{n} {t}" for t, n in fut.result().items() if n))
