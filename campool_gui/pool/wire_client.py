"""The master side of the wire: a client of one worker (no Qt), used by the worker links and by tests.

Threading: each `WorkerClient` runs one I/O thread that owns its two sockets (a CURVE DEALER
for commands, a CURVE SUB for telemetry); ZeroMQ sockets are not thread-safe, so no other
thread touches them. Every public method is safe to call from any thread:

* ``request(msg, timeout)`` returns a `concurrent.futures.Future` that resolves to the reply
  message (`Ok`, `Error`, `Fenced`, `HelloReply`, ...) or fails with `RequestTimeout`;
  ``call(...)`` is the blocking form, and with ``expect=`` it raises `RequestFailed` unless the
  reply is of that type. Requests that cannot be sent yet (no connection) wait until their
  deadline; a reply that comes after its deadline is dropped and counted.
* Telemetry is handed to ``on_telemetry(envelope)`` on the I/O thread (keep it short: put it on
  your own queue), or, without a callback, into the bounded ``telemetry`` queue.
* ``subscribe(topic)`` / ``unsubscribe(topic)`` change the SUB filter (e.g.
  ``protocol.TOPIC_PREVIEW + b"gate-1"``).

The worker's public key is pinned (``WorkerAddress.key``): the CURVE handshake fails against
anything else. Get it from the mDNS record, then prove it with `pair_with_worker`, which also
gets this master's key onto the worker's allow-list.

Typical link (C's pool core)::

    keys = security.load_or_create_keypair(master_dir / "keys", "master")
    pair_with_worker(addr, keys, code, "control-center")          # once, at adoption
    link = WorkerClient(addr, keys, on_telemetry=queue.put)
    # after the first heartbeat arrives:
    hello = link.call(Hello(master_id, "control-center", version), expect=HelloReply)
    link.request(AssignCamera(camera, epoch=7))
    link.request(AckCounts("gate-1", 7, up_to_seq=120))
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import zmq

from campool_worker import protocol as p
from campool_worker.errors import CampoolError
from campool_worker.security import KeyPair, curve_client, pair_proof

log = logging.getLogger(__name__)

M = TypeVar("M", bound=p.Message)
DEFAULT_TOPICS = (p.TOPIC_HEARTBEAT, p.TOPIC_COUNT, p.TOPIC_ALERT)


class RequestTimeout(CampoolError):
    """The worker did not answer in time (down, unreachable, or our key is not accepted)."""


class RequestFailed(CampoolError):
    """The worker answered, but not with what was expected (an `Error` or `Fenced` reply)."""

    def __init__(self, message: str, reply: p.Message) -> None:
        super().__init__(message)
        self.reply = reply


class PairingFailed(CampoolError):
    """Adoption did not work; the text says why."""


@dataclass(frozen=True)
class WorkerAddress:
    host: str
    cmd_port: int
    pub_port: int
    pair_port: int
    key: str  # the worker's CURVE public key, Z85

    def endpoint(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{port}"


@dataclass
class _Pending:
    request_id: str
    frames: list[bytes]
    future: concurrent.futures.Future[p.Message]
    deadline: float
    sent: bool = False
    type: str = ""


class WorkerClient:
    """Commands and telemetry for one worker. See the module docstring for threading."""

    def __init__(self, address: WorkerAddress, keys: KeyPair, *,
                 on_telemetry: Callable[[p.Envelope], None] | None = None,
                 topics: Iterable[bytes] = DEFAULT_TOPICS, context: zmq.Context[Any] | None = None,
                 telemetry_queue_size: int = 10000) -> None:
        self.address = address
        self.keys = keys
        self.on_telemetry = on_telemetry
        #: Called (I/O thread) when the worker speaks another protocol version, with the line that
        #: says which end to upgrade; again only when that line changes (its heartbeats would repeat it).
        self.on_incompatible: Callable[[str], None] | None = None
        self._incompatible = ""
        self.telemetry: queue.Queue[p.Envelope] = queue.Queue(maxsize=telemetry_queue_size)
        self.stats = {"rejected": 0, "late_replies": 0, "telemetry_dropped": 0, "callback_errors": 0}
        self._ctx = context or zmq.Context.instance()
        self._ids = itertools.count(1)
        self._prefix = os.urandom(3).hex()
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._topics = list(topics)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"campool-link-{address.host}:{address.cmd_port}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public, any thread

    def request(self, msg: p.Message, timeout: float = 5.0) -> concurrent.futures.Future[p.Message]:
        """Send a command; the future resolves to the reply message or raises RequestTimeout."""
        fut: concurrent.futures.Future[p.Message] = concurrent.futures.Future()
        if self._closed.is_set():
            fut.set_exception(RequestTimeout("the link to the worker is closed"))
            return fut
        request_id = f"{self._prefix}-{next(self._ids)}"
        frames = p.encode(msg, request_id)  # a ProtocolError here is the caller's bug: raise now
        self._post("send", _Pending(request_id, frames, fut, time.monotonic() + timeout, type=msg.TYPE))
        return fut

    def call(self, msg: p.Message, timeout: float = 5.0, expect: type[M] | None = None) -> Any:
        """Blocking request. With ``expect``, raise RequestFailed unless the reply is that type."""
        reply = self.request(msg, timeout).result(timeout + 5.0)
        if expect is not None and not isinstance(reply, expect):
            detail = reply.message if isinstance(reply, p.Error) else reply
            raise RequestFailed(f"{msg.TYPE} to worker {self.address.host}:{self.address.cmd_port} "
                                f"was refused: {detail}", reply)
        return reply

    def subscribe(self, topic: bytes) -> None:
        self._post("sub", topic)

    def unsubscribe(self, topic: bytes) -> None:
        self._post("unsub", topic)

    def close(self) -> None:
        """Stop the I/O thread; pending requests fail with RequestTimeout."""
        if self._closed.is_set():
            return
        self._post("close", None)
        self._thread.join(5.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ I/O thread

    def _post(self, what: str, arg: Any) -> None:
        self._inbox.put((what, arg))
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full or closed: the thread is awake anyway / gone

    def _run(self) -> None:
        dealer = self._ctx.socket(zmq.DEALER)
        sub = self._ctx.socket(zmq.SUB)
        pending: dict[str, _Pending] = {}
        try:
            for sock in (dealer, sub):
                p.apply_socket_limits(sock)
                curve_client(sock, self.keys, self.address.key)
                sock.setsockopt(zmq.RECONNECT_IVL, 200)
                sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
                sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)  # notice a dead TCP peer, not only a closed one
                sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
                # Give up a TCP connect that nothing answers after 2 s and try again (every <= 5 s):
                # left to the OS, a connect sent into a partition keeps retrying its SYN with
                # backoff: a link behind a 30 s silent partition came back 10-11 s after it healed (2-3 s now).
                sock.setsockopt(zmq.CONNECT_TIMEOUT, 2000)
            # Do not queue commands for a peer that is not connected: a stale command delivered
            # minutes later could undo a newer decision. Unsent requests wait until their deadline.
            dealer.setsockopt(zmq.IMMEDIATE, 1)
            for topic in self._topics:
                sub.setsockopt(zmq.SUBSCRIBE, topic)
            dealer.connect(self.address.endpoint(self.address.cmd_port))
            sub.connect(self.address.endpoint(self.address.pub_port))
            poller = zmq.Poller()
            poller.register(dealer, zmq.POLLIN)
            poller.register(sub, zmq.POLLIN)
            poller.register(self._wake_r, zmq.POLLIN)
            while True:
                now = time.monotonic()
                waiting = [r for r in pending.values() if not r.sent]
                timeout = 20 if waiting else 100
                if pending:
                    nearest = min(r.deadline for r in pending.values())
                    timeout = max(0, min(timeout, int((nearest - now) * 1000) + 1))
                events = dict(poller.poll(timeout))
                if self._wake_r in events:
                    os.read(self._wake_r, 4096)
                if not self._handle_inbox(pending, sub):
                    break
                self._send_waiting(dealer, pending)
                if dealer in events:
                    self._read_replies(dealer, pending)
                if sub in events:
                    self._read_telemetry(sub)
                self._expire(pending)
        except Exception:
            log.exception("worker link %s:%s stopped on an unexpected error", self.address.host, self.address.cmd_port)
        finally:
            self._closed.set()
            for r in pending.values():
                _fail(r.future, RequestTimeout(f"{r.type}: the link to the worker was closed"))
            while True:  # requests posted after the loop ended
                try:
                    what, arg = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if what == "send":
                    _fail(arg.future, RequestTimeout("the link to the worker is closed"))
            dealer.close(0)
            sub.close(0)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _handle_inbox(self, pending: dict[str, _Pending], sub: zmq.Socket[bytes]) -> bool:
        while True:
            try:
                what, arg = self._inbox.get_nowait()
            except queue.Empty:
                return True
            if what == "send":
                pending[arg.request_id] = arg
            elif what == "sub":
                sub.setsockopt(zmq.SUBSCRIBE, arg)
            elif what == "unsub":
                sub.setsockopt(zmq.UNSUBSCRIBE, arg)
            elif what == "close":
                return False

    def _send_waiting(self, dealer: zmq.Socket[bytes], pending: dict[str, _Pending]) -> None:
        for r in pending.values():
            if r.sent:
                continue
            if r.future.cancelled():
                r.sent = True
                continue
            try:
                dealer.send_multipart(r.frames, flags=zmq.NOBLOCK)
                r.sent = True
            except zmq.Again:
                return  # not connected (or HWM): try again on the next turn

    def _read_replies(self, dealer: zmq.Socket[bytes], pending: dict[str, _Pending]) -> None:
        for _ in range(1000):
            try:
                frames, truncated, _ = p.recv_frames_nowait(dealer)
            except zmq.Again:
                return
            try:
                if truncated:
                    raise p.ProtocolError("reply with too many frames", code="oversized")
                env = p.decode(frames, kinds=("reply",))
            except p.ProtocolError as exc:
                self.stats["rejected"] += 1
                r = pending.pop(exc.request_id, None) if exc.request_id else None
                if exc.peer_version is not None:  # a well-formed reply of another version: say what to upgrade
                    self._speaks_another_version(str(exc))
                    if r is not None:
                        _fail(r.future, RequestFailed(f"worker {self.address.host}:{self.address.cmd_port}: {exc}",
                                                      p.Error(exc.code, str(exc))))
                    continue
                log.warning("worker %s:%s sent a bad reply (%s): %s", self.address.host, self.address.cmd_port,
                            exc.code, exc)
                if r is not None:
                    _fail(r.future, RequestFailed(f"{r.type}: bad reply: {exc}", p.Error(exc.code, str(exc))))
                continue
            self._incompatible = ""  # it speaks our version (again): a later mismatch is news
            r = pending.pop(env.request_id, None)
            if r is None:
                self.stats["late_replies"] += 1
                continue
            if not r.future.done():
                r.future.set_result(env.message)

    def _read_telemetry(self, sub: zmq.Socket[bytes]) -> None:
        for _ in range(1000):
            try:
                frames, truncated, _ = p.recv_frames_nowait(sub)
            except zmq.Again:
                return
            try:
                if truncated:
                    raise p.ProtocolError("telemetry with too many frames", code="oversized")
                env = p.decode_telemetry(frames)
            except p.ProtocolError as exc:
                self.stats["rejected"] += 1
                if exc.peer_version is not None:
                    self._speaks_another_version(str(exc))
                    continue
                log.warning("worker %s:%s sent bad telemetry (%s): %s", self.address.host, self.address.pub_port,
                            exc.code, exc)
                continue
            self._incompatible = ""
            if self.on_telemetry is not None:
                try:
                    self.on_telemetry(env)
                except Exception:
                    self.stats["callback_errors"] += 1
                    log.exception("telemetry callback failed")
                continue
            try:
                self.telemetry.put_nowait(env)
            except queue.Full:
                self.stats["telemetry_dropped"] += 1

    def _speaks_another_version(self, text: str) -> None:
        if text == self._incompatible:
            return
        self._incompatible = text
        log.error("worker %s:%s: %s", self.address.host, self.address.cmd_port, text)
        if self.on_incompatible is not None:
            try:
                self.on_incompatible(text)
            except Exception:
                self.stats["callback_errors"] += 1
                log.exception("protocol version callback failed")

    def _expire(self, pending: dict[str, _Pending]) -> None:
        now = time.monotonic()
        for rid in [rid for rid, r in pending.items() if r.deadline <= now]:
            r = pending.pop(rid)
            where = f"{self.address.host}:{self.address.cmd_port}"
            reason = ("no answer" if r.sent else "could not connect (worker down, or this master's key "
                      "is not adopted by it)")
            _fail(r.future, RequestTimeout(f"{r.type} to worker {where}: {reason}"))


def _fail(fut: concurrent.futures.Future[p.Message], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def pair_with_worker(address: WorkerAddress, keys: KeyPair, code: str, master_name: str, *,
                     timeout: float = 10.0, context: zmq.Context[Any] | None = None) -> p.PairReply:
    """Adopt a worker: prove we know its pairing code so it accepts our key, and check that the
    worker (whose key came from mDNS) knows the code too. Raises PairingFailed with the reason.

    A worker that cannot judge the proof now (``PairReply.retry_after_s`` > 0: it is judging many
    attempts, or this key sent wrong codes and waits out a lock) is asked again after the time it
    names, on the same connection, until ``timeout`` (counted from the call) runs out; a wait that
    would end after the timeout fails at once, saying how long the worker asked for."""
    ctx = context or zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    deadline = time.monotonic() + timeout
    where = f"worker {address.host} pairing port {address.pair_port}"
    try:
        p.apply_socket_limits(sock)
        curve_client(sock, keys, address.key)
        sock.connect(address.endpoint(address.pair_port))
        proof = pair_proof(code, keys.public, address.key, "master")
        for attempt in itertools.count(1):
            request_id = f"pair-{attempt}"
            sock.send_multipart(p.encode(p.PairRequest(master_name, proof), request_id))
            reply = _pair_reply(sock, request_id, deadline, where, timeout)
            if reply.accepted:
                break
            if reply.retry_after_s <= 0:
                raise PairingFailed(f"worker {address.host} refused the pairing: {reply.message}")
            left = deadline - time.monotonic()
            if reply.retry_after_s > left:
                raise PairingFailed(f"worker {address.host} could not judge the pairing within {timeout:.0f} s: "
                                    f"{reply.message}")
            log.info("%s asks to try again in %.2f s (%s); attempt %d", where, reply.retry_after_s, reply.message,
                     attempt)
            time.sleep(max(0.01, reply.retry_after_s))
        expected = pair_proof(code, keys.public, address.key, "worker")
        if reply.proof != expected:
            raise PairingFailed(
                f"worker {address.host} accepted but could not prove it knows the code: the key it "
                "announces may be forged; do not use it")
        return reply
    finally:
        sock.close(0)


def _pair_reply(sock: zmq.Socket[bytes], request_id: str, deadline: float, where: str,
                timeout: float) -> p.PairReply:
    """The reply to ``request_id`` (replies to earlier attempts are skipped), or PairingFailed."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sock.poll(max(1, int(left * 1000))):
            raise PairingFailed(
                f"no answer from {where} in {timeout:.0f} s: "
                "check the address and that its key matches the one it announces")
        frames, truncated, _ = p.recv_frames_nowait(sock)
        if truncated:
            raise PairingFailed("the worker sent a malformed pairing reply")
        try:
            env = p.decode(frames, kinds=("pair_reply",))
        except p.ProtocolError as exc:
            if exc.peer_version is not None:  # it answered, in another protocol version: which end to upgrade
                raise PairingFailed(f"cannot adopt it ({where}): {exc}") from None
            raise PairingFailed(f"the worker sent a malformed pairing reply: {exc}") from None
        if env.request_id != request_id:
            continue
        assert isinstance(env.message, p.PairReply)
        return env.message
