"""`campool-worker serve`: the daemon. Sockets, the command loop, telemetry.

One thread (the loop in `WorkerService.run`) owns every socket and the outbox: it answers
commands on the ROUTER (through the `CommandHandler`, command_handler.py), pairing requests on the
pairing ROUTER, commits the cameras' crossings to the outbox and only then publishes them, and
sends a heartbeat every beat. A commit that fails (a full disk) never stops the loop: the
crossings wait in memory, unpublished, and are retried (`HeldCrossings`, storage_watch.py), and
every heartbeat says how the storage is (`StorageWatch`). The cameras are `Assignments`'
(assignments.py); their threads talk to the loop through queues and a wake-up pipe. See
protocol/ for the messages and the epoch fencing rule, security.py for who may connect.

Coverage spans (coverage.py) take the same road as the counts: every `SPAN_EXTEND_S` the loop
takes what the cameras watched, commits the crossings already handed over, then the spans (so a
span never covers a frame whose crossings are not committed), and only then publishes them in a
`CountBatch`; unacked ones are resent with the events. Spans a SIGKILL left open are closed at
start. Each heartbeat is consistent per camera (``frame_ts`` noted, crossings committed, then
``last_seq`` read: see `Assignments.telemetry`).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import zmq

from campool_worker import __version__
from campool_worker import protocol as p
from campool_worker.assignments import Assignments
from campool_worker.camera import CountEvent
from campool_worker.camera_slot import CameraSlot, DetectorOptions
from campool_worker.command_handler import CommandHandler
from campool_worker.config import Settings, load_settings
from campool_worker.coverage import SPAN_EXTEND_S
from campool_worker.errors import CampoolError
from campool_worker.metrics import MetricsSampler
from campool_worker.model_store import ModelStore
from campool_worker.outbox import FrameCrossings, OutboxWriteError, StoredAssignment
from campool_worker.outbox_file import open_outbox
from campool_worker.pairing import Pairing
from campool_worker.pairing_relay import PairingRelay, private_upstream
from campool_worker.security import (
    PAIR_DOMAIN,
    ZAP_DOMAIN,
    AllowList,
    Gatekeeper,
    PairingCodes,
    curve_server,
    format_code,
    load_or_create_keypair,
)
from campool_worker.segment_jobs import SegmentJobs
from campool_worker.storage_watch import RETRY_CAP_S, HeldCrossings, StorageWatch
from campool_worker.systemd_notify import ServiceNotifier

if TYPE_CHECKING:
    from campool_worker.discovery import Announcer

log = logging.getLogger(__name__)

COMMIT_MAX_WAIT_S = 0.02  # batch crossings this long at most before one commit (one fsync)
COMMIT_MAX_BATCH = 2000
STATE_POLL_S = 0.1
RESEND_PAGE = p.MAX_COUNT_BATCH
REJECT_LOG_EVERY = 100
STORAGE_LOG_EVERY_S = 30.0  # while commits fail: one line at the start, then one this often


class ServiceError(CampoolError):
    """The daemon cannot start (port taken, data folder not writable...)."""


class WorkerService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ServiceError(f"cannot create data folder {self.data_dir}: {exc}; "
                               "give a writable --data-dir") from None
        opened = open_outbox(self.data_dir)  # a damaged outbox is kept aside; the worker id stays
        self.outbox = opened.outbox
        self.worker_id = opened.worker_id
        self.boot_id = uuid.uuid4().hex[:8]
        # Crossings the outbox could not take (disk full): held, unpublished, retried.
        self.held = HeldCrossings()
        self.storage = StorageWatch(self.data_dir, self.outbox.files)
        self.storage.sample()
        self._storage_logged_at = 0.0
        self._mark_sent_failing = False
        # Alerts told again to every master that says hello (a damaged outbox at start): the
        # first publication goes out before any master has subscribed.
        self._notices: list[p.AlertEvent] = []
        self._notices_due = False
        self.keys = load_or_create_keypair(self.data_dir / "keys")
        self.allow = AllowList(self.data_dir / "masters.json", settings.accept_masters)
        self.codes = PairingCodes(self.data_dir / "pairing.json")
        self.models = ModelStore(self.data_dir / "models")
        self.metrics = MetricsSampler(self.data_dir)
        self.gpu = self.metrics.gpu_name()
        capacity = settings.capacity or (16 if self.gpu else max(1, (os.cpu_count() or 2) // 2))
        self.assignments = Assignments(self.outbox, capacity, self._make_slot)
        self.rejected = 0
        self.started = time.monotonic()
        self._stopping = False
        self._hb_seq = 0
        self._camera_states: dict[str, str] = {}
        # One item per frame: a frame's crossings are committed together or not at all.
        self._crossings: queue.SimpleQueue[FrameCrossings] = queue.SimpleQueue()
        self._first_crossing_at: float | None = None
        self._previews: deque[p.PreviewFrame] = deque(maxlen=8)  # old previews are worthless: drop them
        self._alerts: queue.SimpleQueue[p.AlertEvent] = queue.SimpleQueue()
        self._resend_after: tuple[str, int, int] | None = None
        self._resend_active = False
        self._resend_camera: str | None = None
        self._spans_due = 0.0  # monotonic time of the next commit of the coverage spans
        self._stale_spans_closed = False  # spans a SIGKILL left open are closed (retried until it works)
        self._spans_failing = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

        self.ctx = zmq.Context()
        self.gate = Gatekeeper(self.ctx, self.allow)
        try:
            self.cmd = self._socket(zmq.ROUTER, ZAP_DOMAIN, settings.cmd_port)
            self.pub = self._socket(zmq.PUB, ZAP_DOMAIN, settings.pub_port)
            self.pair, self.relay = self._pairing_port(settings.pair_port)
        except (zmq.ZMQError, OSError) as exc:
            self.gate.stop()
            self.ctx.destroy(0)
            raise ServiceError(f"cannot listen on {settings.bind}: {exc}; pick other ports (--cmd-port/--pub-port/"
                               "--pair-port, 0 = any free one) or stop the other worker") from None
        self.cmd_port = _port_of(self.cmd)
        self.pub_port = _port_of(self.pub)
        self._pub_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self._pub_bound = True
        self._revocations_seen = self.allow.revocations
        self.pair_port = self.relay.port
        self.pairing = Pairing(self.codes, self.allow, self.keys.public, self.worker_id)
        self.announcer: Announcer | None = None  # imported only when zeroconf is on
        self.notifier = ServiceNotifier()  # systemd Type=notify: READY, WATCHDOG, STOPPING (systemd_notify.py)
        self.segments = SegmentJobs(self.models, DetectorOptions(settings.intra_op_threads or None,
                                                                 settings.inference_workers))
        self.commands = CommandHandler(allow=self.allow, assignments=self.assignments, models=self.models,
                                       outbox=self.outbox, service=self, segments=self.segments)
        if opened.damaged:
            self._notices.append(p.AlertEvent(self.worker_id, "error", "outbox_damaged", opened.damaged, None,
                                              time.time()))
            self._notices_due = True

    def _make_slot(self, assignment: StoredAssignment) -> CameraSlot:
        s = self.settings
        return CameraSlot(assignment, worker_id=self.worker_id, models=self.models, sink=self,
                          test_hooks=s.test_hooks,
                          detector_options=DetectorOptions(s.intra_op_threads or None, s.inference_workers))

    @property
    def state(self) -> Literal["running", "draining", "stopping"]:
        if self._stopping:
            return "stopping"
        return "draining" if self.assignments.draining else "running"

    def _socket(self, kind: int, domain: str, port: int, endpoint: str | None = None) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(kind)
        p.apply_socket_limits(sock)
        curve_server(sock, self.keys, domain)
        if kind == zmq.PUB:
            sock.setsockopt(zmq.SNDHWM, 10000)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        sock.bind(endpoint or f"tcp://{self.settings.bind}:{port or '*'}")
        return sock

    def _pairing_port(self, port: int) -> tuple[zmq.Socket[bytes], PairingRelay]:
        """The pairing ROUTER on a private endpoint, and the relay that owns the public port in
        front of it (pairing_relay.py says why: it bounds what any peer can make us hold)."""
        self._pair_dir: Path | None = None
        if zmq.has("ipc") and hasattr(socket, "AF_UNIX"):
            # In the data folder (0700) when the path fits a socket address, else a 0700 temp folder.
            run = self.data_dir / "run"
            if len(str(run / "pair.sock")) > 100:
                run = Path(tempfile.mkdtemp(prefix="campool-pair-"))
                self._pair_dir = run
            run.mkdir(mode=0o700, exist_ok=True)
            os.chmod(run, 0o700)
            (run / "pair.sock").unlink(missing_ok=True)  # left by a killed daemon
            endpoint = f"ipc://{run / 'pair.sock'}"
        else:  # no ipc (Windows): loopback, on a port the kernel picks
            endpoint = "tcp://127.0.0.1:*"
        sock = self._socket(zmq.ROUTER, PAIR_DOMAIN, 0, endpoint)
        try:
            relay = PairingRelay(self.settings.bind, port, private_upstream(sock.getsockopt_string(zmq.LAST_ENDPOINT)))
        except OSError:
            sock.close(0)
            raise
        relay.start()
        return sock, relay

    # ------------------------------------------------------------------ EventSink (any thread)

    def crossings(self, frame: FrameCrossings) -> None:
        self._crossings.put(frame)
        self._wake()

    def preview(self, frame: p.PreviewFrame) -> None:
        self._previews.append(frame)
        self._wake()

    def alert(self, level: str, code: str, message: str, camera_id: str | None) -> None:
        self._alerts.put(p.AlertEvent(self.worker_id, level, code, message, camera_id, time.time()))  # type: ignore[arg-type]
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def request_stop(self) -> None:
        """Thread- and signal-safe: the loop drains and returns."""
        self._stop.set()
        self._wake()

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        s = self.settings
        log.info("worker %s (%s) version %s: commands on %s:%d, telemetry on %d, pairing on %d; key %s",
                 s.name, self.worker_id, __version__, s.bind, self.cmd_port, self.pub_port, self.pair_port,
                 self.keys.public)
        if not self.allow.keys() and s.pairing_code_at_start:
            # Only while nobody has adopted us: a code in the log is a (short-lived) key to this worker.
            try:
                code, _ = self.codes.new_code()
                log.info("no master has adopted this worker yet; pairing code: %s (valid 10 minutes; "
                         "`campool-worker pair` makes a new one)", format_code(code))
            except OSError as exc:  # a full disk: the worker serves anyway, pairing waits for space
                log.error("cannot write a pairing code to %s (%s); free space there and run `campool-worker "
                          "pair`", self.codes.path, exc)
        if s.zeroconf:
            from campool_worker.discovery import Announcer

            self.announcer = Announcer(s.name, self.cmd_port, self._txt(), interfaces=s.zeroconf_interfaces,
                                       host_label=f"campool-{self.worker_id}")
            self.announcer.start()
        self._close_stale_spans()  # before any camera runs: what is open now was left by a killed run
        self.assignments.resume()
        poller = zmq.Poller()
        for sock in (self.cmd, self.pair, self._wake_r):
            poller.register(sock, zmq.POLLIN)
        next_hb = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                timeout = next_hb - now
                if self._first_crossing_at is not None:
                    timeout = min(timeout, self._first_crossing_at + COMMIT_MAX_WAIT_S - now)
                if self._resend_active:
                    timeout = 0
                if self.held:  # the next retry of held crossings, or at once once commits work
                    timeout = min(timeout, self.held.wait_s())
                timeout = min(timeout, self._spans_due - now)
                # Camera state changes are looked for ten times a second and announced at once, so
                # a master learns a failover camera runs (or a stream died) without waiting a full beat.
                timeout = min(timeout, STATE_POLL_S)
                events = dict(poller.poll(max(0, int(timeout * 1000))))
                if self._wake_r in events:
                    os.read(self._wake_r, 65536)
                if self.cmd in events:
                    self._serve(self.cmd, ("command",), self.commands.handle)
                if self.pair in events:
                    self._serve(self.pair, ("pair",), self._handle_pair, limit=10)
                self.pairing.tick()
                self._flush_crossings()
                if time.monotonic() >= self._spans_due:
                    self._commit_spans()
                    self._spans_due = time.monotonic() + SPAN_EXTEND_S
                self._publish_side_channels()
                self._resend_step()
                if time.monotonic() >= next_hb or self._camera_states_changed():
                    self._heartbeat()
                    next_hb = time.monotonic() + s.heartbeat_s
                self.notifier.loop_turn(self.announcer, self._ready_status)
        finally:
            self._shutdown()

    def _serve(self, sock: zmq.Socket[bytes], kinds: tuple[str, ...], handler: Callable[[p.Message, str], p.Message],
               limit: int = 200) -> None:
        for _ in range(limit):
            try:
                frames, truncated, user_id = p.recv_frames_nowait(sock)
            except zmq.Again:
                return
            identity, body = frames[0], frames[1:]
            try:
                if truncated:
                    raise p.ProtocolError(f"more than {p.MAX_FRAMES} frames", code="oversized")
                env = p.decode(body, kinds=kinds)
            except p.ProtocolError as exc:
                self._reject(exc, user_id)
                reply: p.Message = p.Error(exc.code, str(exc)) if kinds == ("command",) else \
                    p.PairReply(False, self.worker_id, "", f"bad request: {exc}")
                self._reply(sock, identity, reply, exc.request_id)
                continue
            try:
                reply = handler(env.message, user_id)
            except Exception as exc:  # one bad command never takes the worker down
                log.exception("command %s from master %s failed", env.message.TYPE, user_id[:8])
                reply = p.Error("internal", f"{env.message.TYPE} failed on the worker: {exc}")
            self._reply(sock, identity, reply, env.request_id)

    def _reply(self, sock: zmq.Socket[bytes], identity: bytes, reply: p.Message, request_id: str) -> None:
        try:
            sock.send_multipart([identity, *p.encode(reply, request_id)], flags=zmq.NOBLOCK)
        except zmq.Again:
            log.warning("reply %s dropped: the master's queue is full", reply.TYPE)
        except p.ProtocolError as exc:
            log.error("cannot encode reply %s: %s", reply.TYPE, exc)

    def _reject(self, exc: p.ProtocolError, user_id: str) -> None:
        self.rejected += 1
        if self.rejected <= 10 or self.rejected % REJECT_LOG_EVERY == 0:
            log.warning("rejected a message from %s (%s): %s [%d rejected so far]", user_id[:8] or "?", exc.code,
                        exc, self.rejected)

    def _handle_pair(self, msg: p.Message, master_key: str) -> p.Message:
        """pairing.py judges the request; a master that paired is told to every master (the
        heartbeat lists the masters; a second one is a warning here and in an alert)."""
        assert isinstance(msg, p.PairRequest)
        reply = self.pairing.handle(msg, master_key)
        if not reply.accepted:
            return reply
        name = msg.master_name[:40]
        others = [m for m in self.allow.masters() if m.key != master_key]
        if others:
            listed = ", ".join(f"{m.name!r} ({m.key[:8]})" if m.name else f"a key from the settings ({m.key[:8]})"
                               for m in others)
            log.warning("adopted by another master %r (key %s); this worker now also serves %s. Every pairing code "
                        "has ended; `campool-worker masters --remove KEY` revokes a master", name, master_key, listed)
            self.alert("warning", "adopted", f"adopted by another master {name!r} (key {master_key[:8]}); "
                       f"it also serves {listed}", None)
        else:
            log.info("adopted by master %r (key %s); every pairing code has ended", name, master_key)
            self.alert("info", "adopted", f"adopted by master {name!r}", None)
        return reply

    # ------------------------------------------------------------------ counts

    def commit_crossings(self) -> None:
        """Commit (and publish) every crossing the cameras handed over so far, now."""
        self._flush_crossings(force=True)

    def _flush_crossings(self, force: bool = False) -> None:
        if self.held:  # commits failed: new frames wait behind the held ones, in order
            self._flush_held(force)
            return
        if self._crossings.empty():
            self._first_crossing_at = None
            return
        now = time.monotonic()
        if self._first_crossing_at is None:
            self._first_crossing_at = now
        if (not force and self._crossings.qsize() < COMMIT_MAX_BATCH
                and now - self._first_crossing_at < COMMIT_MAX_WAIT_S):
            return
        batch: list[FrameCrossings] = []
        crossings = 0
        while crossings < COMMIT_MAX_BATCH * (100 if force else 1):
            try:
                frame = self._crossings.get_nowait()
            except queue.Empty:
                break
            batch.append(frame)
            crossings += len(frame.crossings)
        self._first_crossing_at = None if self._crossings.empty() else now
        try:
            events = self.outbox.commit(batch)  # committed BEFORE anyone hears of them
        except OutboxWriteError as exc:
            self._commit_failed(exc, batch)
            return
        self._publish_counts(events)

    def _flush_held(self, force: bool) -> None:
        """Commit held frames, oldest first, when a retry is due (or ``force``): one batch per
        loop turn, so a big backlog never stalls commands; all of them when forced."""
        held = self.held
        self._first_crossing_at = None
        queued: list[FrameCrossings] = []
        while True:
            try:
                queued.append(self._crossings.get_nowait())
            except queue.Empty:
                break
        self.held.hold(queued)
        if not force and not held.due():
            return
        if held.failing:
            self.outbox.checkpoint()  # a WAL cut back to nothing may be all the room a commit needs
        while held:
            frames = held.front(COMMIT_MAX_BATCH)
            try:
                events = self.outbox.commit(frames)
            except OutboxWriteError as exc:
                self._commit_failed(exc)
                return
            held.committed_front(len(frames))
            self._publish_counts(events)
            if not force:
                break
        if not held:
            self._storage_changed()

    def _commit_failed(self, exc: OutboxWriteError, frames: list[FrameCrossings] | None = None) -> None:
        """A commit failed: the crossings (``frames``, or those held already) are held, not
        published, and retried with backoff. The alert says it once; while it lasts, a line every
        STORAGE_LOG_EVERY_S."""
        self.held.failed(exc.reason)
        if frames:
            self.held.hold(frames)  # at the bound the newest are refused: storage.note tells it
        self.storage.sample()
        self._storage_changed()
        now = time.monotonic()
        if now - self._storage_logged_at >= STORAGE_LOG_EVERY_S:
            self._storage_logged_at = now
            log.warning("still cannot commit counts to the outbox (%s): %d crossing(s) held in memory (room for %d), "
                        "%d lost so far; retrying up to every %g s; %.1f MB free on %s", exc.reason,
                        self.held.crossings, self.held.limit, self.held.dropped, RETRY_CAP_S, self.storage.free_mb,
                        self.data_dir)

    def _storage_changed(self) -> None:
        """Tell the masters (and the log) when the storage's state changed: one alert per change."""
        for level, code, message in self.storage.note(self.storage.status(self.held), self.held):
            log.log({"info": logging.INFO, "warning": logging.WARNING}.get(level, logging.ERROR), "%s", message)
            if code == "storage_failing":
                self._storage_logged_at = time.monotonic()
            self.alert(level, code, message, None)

    def retell_notices(self) -> None:
        """A master said hello: tell it, with the next heartbeat, what it may have missed at start."""
        self._notices_due = bool(self._notices)

    def _publish_counts(self, events: list[CountEvent]) -> None:
        for i in range(0, len(events), p.MAX_COUNT_BATCH):
            self._publish(p.CountBatch(self.worker_id, events[i:i + p.MAX_COUNT_BATCH]))

    def _publish_spans(self, spans: list[p.CoverageSpan]) -> None:
        for i in range(0, len(spans), p.MAX_COUNT_BATCH):
            self._publish(p.CountBatch(self.worker_id, [], spans[i:i + p.MAX_COUNT_BATCH]))

    def start_resend(self, camera_id: str | None) -> None:
        self._resend_active, self._resend_after, self._resend_camera = True, None, camera_id
        self._resend_spans(camera_id)

    # ------------------------------------------------------------------ coverage spans

    def _close_stale_spans(self) -> None:
        """Close the spans an earlier run left open (a SIGKILL): their end is their last commit.
        They are sent on the next Hello (nobody listens yet); a full disk tries again later."""
        try:
            closed = self.outbox.close_open_spans()
        except OutboxWriteError as exc:
            if not self._spans_failing:
                log.warning("cannot close the coverage spans the last run left open (%s); trying again every %g s",
                            exc.reason, SPAN_EXTEND_S)
            self._spans_failing = True
            return
        self._stale_spans_closed = True
        if closed:
            log.info("closed %d coverage span(s) the last run left open (it was killed); their end is their last "
                     "commit", len(closed))
            self._publish_spans(closed)

    def _commit_spans(self) -> None:
        """Commit and publish what the cameras watched since the last time (see the module doc)."""
        if not self._stale_spans_closed:
            self._close_stale_spans()
            if not self._stale_spans_closed:
                return
        updates = self.assignments.coverage_updates()  # first: every frame told has its crossings queued
        if not updates:
            return
        self._flush_crossings(force=not self.held)
        if self.held:  # crossings wait in memory: no span may claim their frames as watched and counted
            self.assignments.coverage_retry(updates)
            return
        try:
            spans = self.outbox.record_spans(updates)
        except OutboxWriteError as exc:
            self.assignments.coverage_retry(updates)
            if not self._spans_failing:
                log.warning("cannot commit coverage spans to the outbox (%s); kept in memory and retried every %g s",
                            exc.reason, SPAN_EXTEND_S)
            self._spans_failing = True
            return
        self._spans_failing = False
        self._publish_spans(spans)

    def _resend_spans(self, camera_id: str | None, sent_before: float | None = None) -> None:
        after: tuple[str, int, int] | None = None
        while True:
            page = self.outbox.pending_spans(camera_id=camera_id, after=after, sent_before=sent_before,
                                             limit=RESEND_PAGE)
            if not page:
                return
            self._publish_spans(page)
            try:
                self.outbox.mark_spans_sent(page)
            except OutboxWriteError:
                pass  # sent again by the resend timer; the master stores each span once
            if len(page) < RESEND_PAGE:
                return
            last = page[-1]
            after = (last.camera_id, last.epoch, last.seq)

    def _commit_for_heartbeat(self) -> dict[tuple[str, int], float]:
        """Commit every crossing already handed over (a heartbeat's step 2, see `Assignments.telemetry`);
        returns per (camera, epoch) the time of the oldest crossing still held in memory."""
        self._flush_crossings(force=not self.held)  # held: only a due retry, a full disk is not hammered
        return {key: ts for key, (ts, _) in self.held.oldest().items()}

    def _resend_step(self) -> None:
        """One page per loop turn, so a big backlog never stalls commands."""
        if not self._resend_active:
            return
        page = self.outbox.pending(camera_id=self._resend_camera, after=self._resend_after, limit=RESEND_PAGE)
        if page:
            self._publish_counts(page)
            self._mark_sent(page)
            last = page[-1]
            self._resend_after = (last.camera_id, last.epoch, last.seq)
        if len(page) < RESEND_PAGE:
            self._resend_active = False

    def _resend_overdue(self) -> None:
        sent_before = time.time() - self.settings.resend_after_s
        page = self.outbox.pending(sent_before=sent_before, limit=RESEND_PAGE)
        if page:
            self._publish_counts(page)
            self._mark_sent(page)
        self._resend_spans(None, sent_before)

    def _mark_sent(self, page: list[CountEvent]) -> None:
        """Note a page as sent; when the disk refuses even that, it is simply sent again by the
        resend timer (the master stores each event once), and said once."""
        try:
            self.outbox.mark_sent(page)
        except OutboxWriteError as exc:
            if not self._mark_sent_failing:
                log.warning("cannot note %d resent event(s) as sent (%s); they are sent again every %g s until "
                            "it works (the master stores each event once)", len(page), exc.reason,
                            self.settings.resend_after_s)
            self._mark_sent_failing = True
        else:
            self._mark_sent_failing = False

    # ------------------------------------------------------------------ telemetry

    def _publish(self, msg: p.Message) -> None:
        try:
            self.pub.send_multipart(p.encode_telemetry(msg), flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # a slow subscriber: PUB drops, the resend timer covers counts
        except p.ProtocolError as exc:
            log.error("cannot publish %s: %s", msg.TYPE, exc)

    def _publish_side_channels(self) -> None:
        while self._previews:
            self._publish(self._previews.popleft())
        while True:
            try:
                self._publish(self._alerts.get_nowait())
            except queue.Empty:
                return

    def status(self) -> p.WorkerStatus:
        cameras = self.assignments.telemetry(self._commit_for_heartbeat)
        pending, oldest = self.outbox.counts()
        return p.WorkerStatus(
            worker_id=self.worker_id, name=self.settings.name, version=__version__, seq=self._hb_seq,
            boot_id=self.boot_id, clock=time.time(), uptime_s=time.monotonic() - self.started, state=self.state,
            capacity=self.assignments.capacity, gpu=self.gpu, cameras=cameras, system=self.metrics.system(),
            gpus=self.metrics.gpus(), outbox_pending=pending, outbox_oldest_ts=oldest, rejected_messages=self.rejected,
            heartbeat_s=self.settings.heartbeat_s,
            masters=[p.MasterInfo(m.key, m.name, m.added) for m in self.allow.masters()],
            storage=self._storage_status(), segments=self.segments.running, **_model_totals())

    def _storage_status(self) -> p.StorageStatus:
        return self.storage.status(self.held)

    def _heartbeat(self) -> None:
        self._drop_revoked_subscribers()
        self._hb_seq += 1
        self.storage.sample()
        self._storage_changed()
        self.assignments.govern(time.monotonic())
        status = self.status()
        self._publish(p.Heartbeat(status))
        if self._notices_due:
            self._notices_due = False
            for notice in self._notices:
                self._publish(notice)
        self._alert_on_camera_changes(status)
        self._resend_overdue()
        if self.announcer is not None:
            self.announcer.update(cams=str(self.assignments.capacity))

    def _drop_revoked_subscribers(self) -> None:
        """A master revoked while subscribed would keep getting counts and heartbeats: ZAP checks
        keys only at the handshake, and a PUB socket cannot drop one peer. Re-binding the port drops
        every subscriber; trusted masters reconnect within a few hundred ms (missed counts are
        resent, being unacked) and the revoked one fails the handshake. Commands need no such step:
        each is checked against the allow-list (see `CommandHandler.handle`)."""
        revocations = self.allow.revocations  # one stat of masters.json per beat
        if revocations == self._revocations_seen and self._pub_bound:
            return
        self._revocations_seen = revocations
        try:
            if self._pub_bound:
                self.pub.unbind(self._pub_endpoint)
                self._pub_bound = False
            self.pub.bind(self._pub_endpoint)
            self._pub_bound = True
            log.info("a master was revoked: telemetry subscribers were disconnected, so that the revoked one is "
                     "refused when it reconnects; trusted masters reconnect by themselves")
        except zmq.ZMQError as exc:  # tried again on the next beat
            log.error("cannot re-open the telemetry port %s after a master was revoked (%s); retrying every "
                      "beat; restart the worker if this goes on", self._pub_endpoint, exc)

    def _camera_states_changed(self) -> bool:
        return self.assignments.states() != self._camera_states

    def _alert_on_camera_changes(self, status: p.WorkerStatus) -> None:
        """A camera that goes down or comes back is an alert, so the master need not diff heartbeats."""
        states = {c.camera_id: c for c in status.cameras}
        for cid, cam in states.items():
            before = self._camera_states.get(cid, "starting")
            if cam.state in ("failed", "reconnecting") and before not in ("failed", "reconnecting"):
                self.alert("error" if cam.state == "failed" else "warning", "camera_down",
                           f"camera {cid} epoch {cam.epoch} is {cam.state}: {cam.last_error or 'no detail'}", cid)
            elif cam.state == "running" and before in ("failed", "reconnecting"):
                self.alert("info", "camera_recovered", f"camera {cid} epoch {cam.epoch} is running again", cid)
        self._camera_states = {cid: cam.state for cid, cam in states.items()}

    def _txt(self) -> dict[str, str]:
        return {"id": self.worker_id, "ver": __version__, "proto": str(p.PROTOCOL_VERSION), "pub": str(self.pub_port),
                "pair": str(self.pair_port), "key": self.keys.public, "gpu": self.gpu or "0",
                "cams": str(self.assignments.capacity)}

    # ------------------------------------------------------------------ life cycle

    def _ready_status(self) -> str:
        return f"serving {self.settings.name} ({self.worker_id}) on port {self.cmd_port}"

    def _shutdown(self) -> None:
        log.info("stopping: %d camera(s), then flushing the outbox", len(self.assignments))
        self.notifier.stopping()
        self._stopping = True
        self._publish(p.Heartbeat(self.status()))
        self.assignments.close()
        self.segments.stop_all()
        self._flush_crossings(force=True)
        self._commit_spans()  # the stopped cameras' spans, closed
        if self.held:
            log.error("stopping with %d crossing(s) the outbox could not take (%s): they are lost; free space on "
                      "%s before starting the worker again", self.held.crossings, self.held.reason, self.data_dir)
        self._publish_side_channels()
        if self.announcer is not None:
            self.announcer.close()
        pending, _ = self.outbox.counts()
        self.cmd.close(0)
        self.relay.close()
        self.pair.close(0)
        if self._pair_dir is not None:
            shutil.rmtree(self._pair_dir, ignore_errors=True)
        self.pub.close(200)  # let the last counts and heartbeat leave
        self.gate.stop()
        self.ctx.term()
        self.outbox.close()
        self.metrics.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        log.info("stopped; %d count event(s) wait in the outbox for a master", pending)


def _port_of(sock: zmq.Socket[bytes]) -> int:
    endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    return int(endpoint.rsplit(":", 1)[1])


def serve_command(args: Any) -> int:
    """`campool-worker serve`."""
    settings = load_settings(args)
    service = WorkerService(settings)
    fmt = f"%(asctime)s %(levelname)s [{settings.name} {service.worker_id}] %(name)s: %(message)s"
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(fmt))
    ports_file = getattr(args, "ports_file", None)
    if ports_file:  # lets scripts and tests that asked for port 0 learn the ports
        tmp = Path(ports_file).with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"cmd": service.cmd_port, "pub": service.pub_port, "pair": service.pair_port,
                                       "key": service.keys.public, "id": service.worker_id}) + "\n")
            os.replace(tmp, ports_file)  # readers never see half a file
        except OSError as exc:  # a full disk: the worker serves all the same
            log.error("cannot write the ports file %s (%s)", ports_file, exc)

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %d: draining", signum)
        service.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.run()
    return 0


def _model_totals() -> dict[str, int]:
    """Inference calls and images of every shared model runner of this process (heartbeat)."""
    from campool_worker.pipeline.detectors import runner_totals

    calls, images = runner_totals()
    return {"model_calls": calls, "model_images": images}
