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
        A camera's URL may carry a password (rtsp://user:PASS@host/…, …?pwd=PASS): add/update keep
        it in the OS keyring (credentials.py) and everything else (the core, the history, the
        snapshot, the UI) holds the URL masked, rtsp://user:•••@host/…; a URL given with ••• in
        place of its password keeps the password already kept (an edit that did not retype it).
        These block on the keyring: call them off the UI thread.
    camera_source(camera_id, source) -> str                  # the full URL, to open it from this PC
    pin_camera(camera_id, worker_id | None, *, pin_return=True)   # None = back to auto placement
    set_standby(camera_id, worker_id | None)                 # the worker for its standby; None = auto.
        # The standby itself (none | warm | hot, unset = hot for a critical camera when a second worker
        # can run it) is CameraConfig.standby, set with add/update_camera. CameraView.standby and
        # WorkerView.standbys (StandbyView) say where each standby is and how it is.
    retry_camera(camera_id)                                  # clear its failures / dead letter
    set_preview(camera_id, on: bool, width=320, fps=2.0)     # frames arrive as PreviewFrame events
    set_policy(name)                                         # one of scheduler.POLICIES
    drain(worker_id, on=True)
    ack_alert(alert_id) / resolve_alert(alert_id)
    set_alert_rule(rule: alerts.AlertRule)                   # thresholds, for_s, overrides, enabled
    report_integration(name, problem)                        # "mqtt"/"metrics": "" = fine, else an alert
                                                             # (fire and forget: it does not wait)
Intents that talk to a worker (they block the caller up to ~10 s; call them off the UI thread):
    adopt(worker_id, pairing_code) -> worker_id              # a discovered worker; pins its key
    add_worker(host, cmd_port, pub_port, pair_port, key, *, code=None, timeout=10.0) -> worker_id
        # by address (static config): pairs when `code` is given, else the worker must already
        # accept this master's key (campool-worker serve --accept-master=<master_public_key>)
    forget_worker(worker_id)                                 # unpin and drop it (its cameras move)
    set_worker_site(worker_id, site, groups=frozenset())     # for site affinity (stored)
State (views.py has every field):
    snapshot() -> views.PoolSnapshot      # frozen: workers (with ~10 min metrics history), cameras,
                                          # alerts (open first), dead letters, totals, policy
    subscribe(callback) -> unsubscribe    # callback(event) on the pool thread; keep it short.
        events (views.py): WorkerChanged, WorkerRemoved, CameraChanged, CameraRemoved,
        CountsChanged (newly stored events + line totals), AlertChanged, and previews as the wire
        protocol.PreviewFrame itself (JPEG bytes)
    public_key -> str                     # this master's CURVE key (for --accept-master)
    Camera states (CameraView.state): unassigned | waiting (reason says why: no worker with room, worker
    offline...) | assigning | starting | running | reconnecting | failed | retrying | dead_letter
    (CameraView.errors: worker -> last error). Worker states: WorkerState (models.py).
History (any thread; reads never block the pool):
    history(start, end, bucket="hour", camera_id=None, line=None, by_class=True) -> list[dict]
        rows {bucket_ts, camera_id, line, direction ("in"/"out"), class_name ("all" if not
        by_class), count}; bucket: minute | hour | day (local midnight). Zone occupancy:
        zone_history(camera_id, start, end) -> rows with direction "occupancy" (peak per minute).
    coverage(start, end, bucket="hour", camera_id=None) -> coverage.Coverage: per bucket the seconds
        watched of those known (None before the camera's first coverage span: unknown, not 0 %), and
        the gaps nobody watched (master time); coverage_by_camera(start, end, bucket, camera_ids=None)
        -> {camera_id: Coverage}; gap_reasons(camera_id, gaps) -> why each was not watched, in words
    export_csv(path_or_file, start, end, bucket="hour", camera_id=None, line=None, by_class=False) -> rows
    assignment_history(camera_id=None, limit=200), worker_metrics(worker_id, start, end)
    store -> store.Store (the same queries, and stored_events for audits)

Errors: MasterError (errors.py; a one-line message for the operator) and ValueError (bad input).
Other attributes (for tests, audits and benches, not for the UI): core (pool.core.PoolCore: read it
only on the pool thread), models (model_push.ModelDistributor), credentials
(credentials.CredentialStore), master_id, data_dir, keys.

Threads: one pool thread runs the core (intents, telemetry, ticks every 0.2 s); each worker
link has its I/O thread (campool_gui.pool.wire_client); the store has its writer thread; zeroconf
has its own. Count events: judged (epoch fencing) on the pool thread, stored idempotently by
the writer, acked to the worker only after the commit.

How it is put together (each part in the module named for its job; this class only composes them):
    pool_thread.PoolThread      runs posted closures and ticks on the pool thread, then flushes
    effects.EffectsFlush         the flush: records -> store (committed), actions -> dispatch, events -> subscribers
    dispatch.ActionDispatcher   an action -> its worker's link (a local model file copied first; the
                                camera's credentials joined into its URL); assignment outcomes ->
                                core.assign_result
    credentials.CredentialStore the cameras' passwords: the OS keyring (or a 0600 fallback file)
    link.WorkerLink             one worker: action -> command -> reply -> Outcome (commands.py), retries,
                                acks, previews, when to say hello
    links.Links                 the links by worker id; hellos and their answers -> core.worker_hello
    telemetry.TelemetryRouter   heartbeats, count batches (judge, store, ack), previews, alerts
    adoption.Adoption           restore, mDNS records (registry.py), pairing, adopt/add/forget, sites
    subscribers.Subscribers     subscribe / emit
    store.Store                 the history database; store.RetentionSchedule prunes it hourly
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, Any, Self, TypeVar

from campool_gui import __version__
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig
from campool_worker.discovery import DiscoveredWorker
from campool_worker.security import load_or_create_keypair
from campool_worker.url_secrets import masked_keys, split_url

from .adoption import Adoption
from .alerts import AlertRule
from .balance import BalanceSettings
from .clock import Clock, SystemClock
from .core import CoreSettings, PoolCore
from .coverage import Coverage
from .coverage_watch import COVERAGE_TAIL_S, CoverageWatch
from .credentials import CredentialsError, CredentialStore
from .dispatch import ActionDispatcher
from .errors import MasterError
from .failover import RetrySettings
from .flush import EffectsFlush
from .history_file import make_private, master_id, open_history
from .job_report import JobReport
from .job_service import JobService, JobView
from .jobs import JobSettings, JobSpec, MediaInfo
from .links import Links
from .model_push import ModelDistributor
from .models import Camera
from .pool_thread import PoolThread
from .registry import Registry
from .store import Retention, RetentionSchedule
from .subscribers import Subscriber, Subscribers
from .telemetry import TelemetryRouter
from .views import PoolSnapshot

__all__ = ["Master", "MasterError", "MasterSettings"]

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    # A `keyring` backend object for the cameras' passwords; None: the OS keyring, or the 0600
    # fallback file when there is none (credentials.py).
    keyring_backend: Any = None
    jobs: JobSettings = field(default_factory=JobSettings)


class Master:
    def __init__(self, settings: MasterSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.data_dir = Path(settings.data_dir).expanduser()
        try:
            make_private(self.data_dir)
        except OSError as exc:
            raise MasterError(f"cannot create the data folder {self.data_dir}: {exc}; choose a writable one") from None
        self.keys = load_or_create_keypair(self.data_dir / "keys", "master")
        opened = open_history(self.data_dir / "history.db", retention=settings.retention)
        self.store = opened.store
        self._restored: dict[str, Any] | None = opened.state
        self.history_damaged = opened.damaged   # one line for the operator, or None
        self.master_id = master_id(self.data_dir, self.store)
        self.credentials = CredentialStore(self.data_dir, self.master_id, keyring_backend=settings.keyring_backend)
        self.core = PoolCore(self.clock, settings.core, rules=settings.alert_rules, retry=settings.retry,
                             balance=settings.balance, own_key=self.keys.public)
        self.models = ModelDistributor()
        self._subscribers = Subscribers()
        self._retention = RetentionSchedule(self.store)
        self._pool = PoolThread(on_tick=self._tick, after_each=self._flush)
        self._coverage = CoverageWatch(self.store, self.clock, cameras=lambda: list(self.core.state.cameras),
                                       seen=self.core.conditions.coverage_seen, post=self._pool.post)
        hello = p.Hello(self.master_id, settings.name, __version__)
        self.links = Links(self.keys, hello, post=self._pool.post, on_telemetry=self._telemetry_arrived,
                           on_hello=self.core.worker_hello, on_incompatible=self.core.worker_incompatible,
                           command_timeout_s=settings.command_timeout_s)
        self._telemetry = TelemetryRouter(self.core, self.store, self.links, self._subscribers, post=self._pool.post)
        dispatcher = ActionDispatcher(self.core, self.links, self.models, self.credentials, post=self._pool.post)
        self._effects = EffectsFlush(self.core, self.store, dispatcher, self._subscribers,
                                     replay=self._telemetry.replay)
        self._adoption = Adoption(self.core, Registry(), self.links, self._pool, self.keys, hello)
        self.jobs = JobService(self.core, self.store, self.links, self.clock, post=self._pool.post,
                               emit=self._subscribers.emit, settings=settings.jobs,
                               command_timeout_s=settings.command_timeout_s, files=self.models)
        self._browser: Any = None
        self._stopped = False

    # ------------------------------------------------------------- life cycle

    @property
    def public_key(self) -> str:
        return self.keys.public

    def start(self) -> None:
        state, self._restored = self._restored or self.store.load_state(), None
        self._load_credentials(state["cameras"])
        self.core.restore(**state)
        if self.history_damaged:
            self.core.alerts.repeat("history_damaged", "master", self.history_damaged)
        self._adoption.restore(state["workers"])
        self._pool.post(self.jobs.restore)  # before any tick: a resumed job's segments are queued again
        log.info("master %s started: %d worker(s), %d camera(s) from %s", self.master_id, len(state["workers"]),
                 len(state["cameras"]), self.store.path)
        self._pool.start()
        if self.settings.zeroconf:
            try:
                from campool_worker.discovery import WorkerBrowser
                self._browser = WorkerBrowser(self._record_arrived, interfaces=self.settings.zeroconf_interfaces)
            except Exception as exc:  # noqa: BLE001 - discovery is a convenience, not a requirement
                log.warning("mDNS discovery is off (%s); add workers by address", exc)

    def _load_credentials(self, cameras: list[Camera]) -> None:
        """Read the stored cameras' passwords from the keyring; a camera stored by an older master
        with its password in the URL has it moved to the keyring and its row rewritten masked
        (the old bytes zeroed, see Store.rewrite_cameras), so it keeps working."""
        missing = self.credentials.load(c.camera_id for c in cameras if masked_keys(c.config.source))
        for cid in missing:
            log.warning("camera %s: its password is not in %s; edit the camera and type it again", cid,
                        self.credentials.backend.description)
        moved = []
        for cam in cameras:
            masked, secrets = split_url(cam.config.source)
            if not secrets:
                continue
            try:
                masked, secrets = self.credentials.prepare(cam.camera_id, cam.config.source)
            except ValueError as exc:
                log.warning("%s", exc)
            self.credentials.remember(cam.camera_id, secrets)
            try:
                self.credentials.persist(cam.camera_id)
            except CredentialsError as exc:  # nothing is lost: it stays where it was until the next start
                log.error("%s; it stays in the history until it can be moved", exc)
                continue
            cam.config = replace(cam.config, source=masked)
            moved.append(cam)
        if moved:
            self.store.rewrite_cameras(moved)
            log.info("moved the password(s) of %d stored camera(s) from the history into %s", len(moved),
                     self.credentials.backend.description)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._browser is not None:
            self._browser.close()
        self._pool.stop()
        self._coverage.close()
        self.models.close()
        self.links.close_all()
        self.store.close()
        log.info("master stopped")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- wiring

    def _call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run fn on the pool thread and return its result (or raise its error)."""
        return self._pool.call(fn, timeout)

    def _tick(self) -> None:
        self.core.tick()
        self.links.say_hellos()
        self._retention.tick()
        self._coverage.tick()
        self.jobs.tick()

    def _flush(self) -> None:
        self._effects.flush()

    def _telemetry_arrived(self, worker_id: str, env: p.Envelope) -> None:
        """A link's I/O thread: telemetry goes to the pool thread."""
        self._pool.post(partial(self._telemetry.route, worker_id, env))

    def _record_arrived(self, instance: str, rec: DiscoveredWorker | None) -> None:
        """zeroconf's thread: an mDNS record goes to the pool thread."""
        self._pool.post(partial(self._adoption.discovered, instance, rec))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.subscribe(callback)

    # ------------------------------------------------------------- intents

    def add_camera(self, config: CameraConfig, pin: str | None = None, *, pin_return: bool = True,
                   target_fps: float | None = None) -> None:
        masked, secrets = self.credentials.prepare(config.camera_id, config.source)
        cfg = replace(config, source=masked)

        def run() -> None:
            self.core.add_camera(cfg, pin, pin_return=pin_return, target_fps=target_fps)
            self.credentials.remember(cfg.camera_id, secrets)  # before the flush sends its assignment
        self._call(run)
        self.credentials.persist(cfg.camera_id)

    def update_camera(self, config: CameraConfig, *, target_fps: float | None = None) -> None:
        masked, secrets = self.credentials.prepare(config.camera_id, config.source)
        cfg = replace(config, source=masked)

        def run() -> None:
            self.core.update_camera(cfg, target_fps=target_fps)
            self.credentials.remember(cfg.camera_id, secrets)
        self._call(run)
        self.credentials.persist(cfg.camera_id)

    def remove_camera(self, camera_id: str) -> None:
        self._call(lambda: self.core.remove_camera(camera_id))
        self.credentials.forget(camera_id)

    def camera_source(self, camera_id: str, source: str) -> str:
        """The camera's full URL (its masked ``source`` joined with its kept credentials), for
        opening the stream from this PC ("Test connection", the line editor's snapshot). Raises
        ValueError when a masked password is not known."""
        return self.credentials.join(camera_id, source)

    def pin_camera(self, camera_id: str, worker_id: str | None, *, pin_return: bool = True) -> None:
        self._call(lambda: self.core.pin_camera(camera_id, worker_id, pin_return=pin_return))

    def set_standby(self, camera_id: str, worker_id: str | None) -> None:
        self._call(lambda: self.core.set_standby(camera_id, worker_id))

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

    def report_integration(self, name: str, problem: str) -> None:
        """An integration's state ("" = working): fire and forget, it never waits on the pool thread."""
        self._pool.post(lambda: self.core.integration_status(name, problem))

    # ------------------------------------------------------------- jobs (issue #13)

    def submit_job(self, spec: JobSpec, *, job_id: str | None = None, min_segments: int | None = None) -> str:
        """Check, probe and queue a job; returns its id. Reads the files on the caller's thread (call
        it off the UI thread). JobError (a ValueError) with one line on bad input: nothing queued."""
        spec, media = self.jobs.prepare(spec)
        return self._call(lambda: self.jobs.submit(spec, media, job_id=job_id, min_segments=min_segments))

    def queue_job(self, spec: JobSpec, media: list[MediaInfo], *, job_id: str | None = None,
                  min_segments: int | None = None) -> str:
        """Queue a job already checked with job_service.prepare (its files probed)."""
        return self._call(lambda: self.jobs.submit(spec, media, job_id=job_id, min_segments=min_segments))

    def job_room(self) -> dict[str, float]:
        """Usable worker -> slots its live cameras leave for job segments."""
        return self._call(self.core.job_room)

    def cancel_job(self, job_id: str) -> None:
        self._call(lambda: self.jobs.cancel(job_id))

    def job_views(self) -> list[JobView]:
        return self._call(self.jobs.views)

    def job_crossings(self, job_id: str) -> list[tuple[int, p.JobCrossing]]:
        return self._call(lambda: self.jobs.crossings(job_id))

    def job_report(self, job_id: str) -> JobReport:
        return self._call(lambda: self.jobs.report(job_id))

    def snapshot(self) -> PoolSnapshot:
        snap: PoolSnapshot = self._call(self.core.snapshot)
        return snap

    # ------------------------------------------------------------- workers (adoption.py)

    def adopt(self, worker_id: str, pairing_code: str) -> str:
        """Pair with a discovered worker (the code it shows) and pin its key."""
        return self._adoption.adopt(worker_id, pairing_code)

    def add_worker(self, host: str, cmd_port: int, pub_port: int, pair_port: int, key: str, *,
                   code: str | None = None, timeout: float = 10.0) -> str:
        """Adopt a worker by address. Blocks up to `timeout` (pairing, then hello)."""
        return self._adoption.add_worker(host, cmd_port, pub_port, pair_port, key, code=code, timeout=timeout)

    def forget_worker(self, worker_id: str) -> None:
        self._adoption.forget_worker(worker_id)

    def set_worker_site(self, worker_id: str, site: str, groups: frozenset[str] = frozenset()) -> None:
        self._adoption.set_worker_site(worker_id, site, groups)

    # ------------------------------------------------------------- history

    def history(self, start: float, end: float, bucket: str = "hour", camera_id: str | None = None,
                line: str | None = None, by_class: bool = True) -> list[dict[str, Any]]:
        return self.store.counts_series(start, end, bucket, camera_id, line, by_class)

    def zone_history(self, camera_id: str, start: float, end: float) -> list[dict[str, Any]]:
        return self.store.zone_series(camera_id, start, end)

    def coverage(self, start: float, end: float, bucket: str = "hour", camera_id: str | None = None) -> Coverage:
        # the newest seconds are not known yet (an open span grows about once a second): not a gap
        return self.store.coverage(start, end, bucket, camera_id, now=self.clock.wall() - COVERAGE_TAIL_S)

    def gap_reasons(self, camera_id: str, gaps: Iterable[tuple[float, float]]) -> list[str]:
        return self.store.gap_reasons(camera_id, gaps)

    def coverage_by_camera(self, start: float, end: float, bucket: str = "hour",
                           camera_ids: Iterable[str] | None = None) -> dict[str, Coverage]:
        return self.store.coverage_by_camera(start, end, bucket, camera_ids, now=self.clock.wall() - COVERAGE_TAIL_S)

    def export_csv(self, out: IO[str] | str | Path, start: float, end: float, bucket: str = "hour",
                   camera_id: str | None = None, line: str | None = None, by_class: bool = False) -> int:
        return self.store.export_csv(out, start, end, bucket, camera_id, line, by_class)

    def assignment_history(self, camera_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.assignment_history(camera_id, limit)

    def worker_metrics(self, worker_id: str, start: float, end: float) -> list[dict[str, Any]]:
        return self.store.worker_metrics(worker_id, start, end)
