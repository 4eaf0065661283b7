"""The public pairing port: a byte-counting relay in front of the pairing ROUTER.

Why a relay. The pairing port accepts any CURVE key (a master that is not adopted yet has no
other way in). libzmq keeps every part of a multipart message until its last part arrives, its
high-water marks count whole messages and ``ZMQ_MAXMSGSIZE`` bounds one frame, so no socket
option bounds what one peer can make the worker hold: a hand-written peer that sent 1 MiB parts
and never the last one added 512 MiB in 7 s, three of them took the worker from 59 to 831 MiB.
An ordinary libzmq client cannot do this (it buffers a message on its own side until it is
complete), which is why clients built on libzmq never showed it.

What it does. The public port is a plain listening socket owned by this relay (one thread, a
selector). Each accepted connection is relayed byte for byte to the libzmq pairing ROUTER,
which listens on a private endpoint only this user can reach (``ipc://`` in a 0700 folder; on
platforms without ipc, ``tcp://127.0.0.1`` on a port the kernel picks). CURVE runs end to end:
the relay sees only ciphertext, the handshake passes through unchanged, and the worker's ZAP
handler still sees the client's own public key. On the way the relay reads the ZMTP framing
(the greeting and the frame headers, which CURVE leaves in clear; never the contents) and
counts, per `RelayLimits`:

* the bytes a client sends on one connection (``max_client_bytes``: a pairing exchange is under
  2 KiB, so 64 KiB leaves room for retries and heartbeats), and no frame may announce more
  than ``max_frame_bytes`` (so libzmq never even sizes a buffer for a big one);
* a connection's lifetime (``lifetime_s``);
* connections at once from one source address (``max_per_source``; an IPv6 source counts by its
  /64) and in all (``max_connections``), and new connections a second from one address
  (``new_per_source_s`` with a burst of ``new_burst``): every CURVE key needs its own
  connection, so this also bounds how fast one host can try new keys.

A connection over a limit is closed on both sides and libzmq frees what it held for it at that
disconnect. So all peers together can make the worker hold at most about
``max_connections * (max_client_bytes + 2 * BUFFER_BYTES)`` (about 4 MiB with the defaults; the
e2e test measures it with raw CURVE peers) instead of anything up to the machine's memory.
One host can take ``max_per_source`` slots, not all of them; many hosts together can fill the
slots (then new connections are refused until one ends, within ``lifetime_s``): that denies
pairing while it lasts, never memory.

Refused and cut connections are logged through a `WarningSummary` (a few lines per source, then
one summary a minute).
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from campool_worker.rate_limits import TokenBucket, WarningSummary

log = logging.getLogger(__name__)

BUFFER_BYTES = 16 * 1024   # read at most this much ahead in each direction of one connection
GREETING_BYTES = 64        # ZMTP 3.x greeting: signature (10), version (2), mechanism (20), as-server, filler
_RESERVED_FLAGS = 0xF8     # ZMTP 3.x frame flags use bits 0-2 (more, long, command)
MAX_SOURCES_TRACKED = 4096  # addresses whose new-connection rate is remembered


@dataclass(frozen=True)
class RelayLimits:
    max_client_bytes: int = 64 * 1024
    max_frame_bytes: int = 8 * 1024
    lifetime_s: float = 30.0
    max_connections: int = 32
    max_per_source: int = 4
    new_per_source_s: float = 0.5    # with pairing.py's lock_after = 3: one host, 1.5 judged proofs a second
    new_burst: int = 8

    @property
    def held_bound_bytes(self) -> int:
        """What all peers together can make the worker hold through this port, at most (about)."""
        return self.max_connections * (self.max_client_bytes + 2 * BUFFER_BYTES)


class FrameMeter:
    """Follows the ZMTP 3.x byte stream a client sends (greeting, then frames: a flags byte, a
    1- or 8-byte size, the body) and says what is wrong with it, without looking into a body."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._greeting = b""
        self._header = b""
        self._skip = 0  # body bytes of the current frame still to pass

    def feed(self, data: bytes) -> str | None:
        """None while the stream is well formed; else what is wrong (the connection is to be cut)."""
        view = memoryview(data)
        while view:
            if len(self._greeting) < GREETING_BYTES:
                take = GREETING_BYTES - len(self._greeting)
                self._greeting += bytes(view[:take])
                view = view[take:]
                g = self._greeting
                if g[:1] != b"\xff" or (len(g) >= 10 and not g[9] & 1):
                    return "not a ZeroMQ (ZMTP) client"
                if len(g) >= 11 and g[10] < 3:
                    return f"ZMTP version {g[10]}; CURVE needs ZMTP 3"
                continue
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            self._header += bytes(view[:1])
            view = view[1:]
            flags = self._header[0]
            if flags & _RESERVED_FLAGS:
                return f"a frame with reserved flags {flags:#04x}"
            need = 9 if flags & 0x02 else 2
            while len(self._header) < need and view:
                self._header += bytes(view[:1])
                view = view[1:]
            if len(self._header) < need:
                return None
            size = struct.unpack(">Q", self._header[1:9])[0] if need == 9 else self._header[1]
            self._header = b""
            if size > self.max_frame_bytes:
                return f"a frame of {size} bytes (pairing frames are under {self.max_frame_bytes})"
            self._skip = size
        return None


@dataclass(eq=False)
class _Link:
    """One relayed connection: the client's socket, ours to the ROUTER, a buffer each way."""

    client: socket.socket
    upstream: socket.socket
    source: str
    deadline: float
    meter: FrameMeter
    to_upstream: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)
    client_bytes: int = 0


@dataclass
class RelayStats:
    accepted: int = 0
    refused: int = 0      # at accept: too many connections (in all or from its address), or too fast
    cut: int = 0          # closed for going over a limit (bytes, frame size, lifetime, bad framing)
    active: int = 0


Upstream = Callable[[], socket.socket]


def private_upstream(endpoint: str) -> Upstream:
    """How the relay reaches the ROUTER bound on ``endpoint`` (``ipc://PATH`` or ``tcp://127.0.0.1:PORT``)."""
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://"):]

        def unix() -> socket.socket:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1.0)
            try:
                s.connect(path)
            except OSError:
                s.close()
                raise
            return s
        return unix
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    return lambda: socket.create_connection((host.strip("[]"), int(port)), timeout=1.0)


class PairingRelay:
    """Listens on (host, port) and relays every connection it accepts to the private ROUTER.
    `start` runs it on its own thread; `close` stops it and closes every connection."""

    def __init__(self, host: str, port: int, upstream: Upstream, limits: RelayLimits | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or RelayLimits()
        self._upstream = upstream
        self._clock = clock
        self.stats = RelayStats()
        host = "0.0.0.0" if host in ("*", "") else host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # create_server sets SO_REUSEADDR on POSIX, so a restart after SIGKILL gets the same port back
        self._listener = socket.create_server((host, port), family=family, backlog=64)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._links: set[_Link] = set()
        self._per_source: dict[str, int] = {}
        self._rates: dict[str, TokenBucket] = {}
        self._warn = WarningSummary(log, "refused or cut pairing connections", clock=clock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campool-pair-relay", daemon=True)

    def start(self) -> None:
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5.0)
        for link in list(self._links):
            self._drop(link)
        self._sel.close()
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                timeout = 1.0
                if self._links:
                    timeout = max(0.0, min(timeout, min(lk.deadline for lk in self._links) - self._clock()))
                for key, mask in self._sel.select(timeout):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(64)
                    else:
                        link, side = key.data
                        if link in self._links:
                            self._pump(link, side, mask)
                now = self._clock()
                for link in [lk for lk in self._links if lk.deadline <= now]:
                    self._cut(link, f"open longer than {self.limits.lifetime_s:.0f} s")
                self._warn.tick()
        except Exception:  # the relay must not die silently: pairing would stop working
            log.exception("the pairing relay stopped on an unexpected error; pairing needs a worker restart")

    def _accept(self) -> None:
        for _ in range(64):
            try:
                client, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, ...: try again on the next event
                self._warn.warn("accept", "pairing port: cannot accept a connection (%s)", exc)
                return
            source = _source_of(addr)
            why = self._refusal(source)
            if why:
                self.stats.refused += 1
                self._warn.warn(source, "pairing port: refused a connection from %s (%s)", source, why)
                _close_now(client)
                continue
            try:
                upstream = self._upstream()
            except OSError as exc:
                self.stats.refused += 1
                self._warn.warn("upstream", "pairing port: cannot reach the pairing socket (%s); "
                                "connection from %s closed", exc, source)
                _close_now(client)
                continue
            client.setblocking(False)
            upstream.setblocking(False)
            link = _Link(client, upstream, source, self._clock() + self.limits.lifetime_s,
                         FrameMeter(self.limits.max_frame_bytes))
            self._links.add(link)
            self._per_source[source] = self._per_source.get(source, 0) + 1
            self.stats.accepted += 1
            self.stats.active = len(self._links)
            self._sel.register(client, selectors.EVENT_READ, (link, "client"))
            self._sel.register(upstream, selectors.EVENT_READ, (link, "upstream"))

    def _refusal(self, source: str) -> str:
        lim = self.limits
        if len(self._links) >= lim.max_connections:
            return f"{lim.max_connections} pairing connections are open, the most at once"
        if self._per_source.get(source, 0) >= lim.max_per_source:
            return f"{lim.max_per_source} connections from this address are open, the most at once"
        bucket = self._rates.get(source)
        if bucket is None:
            if len(self._rates) >= MAX_SOURCES_TRACKED:  # forget addresses whose bucket has grown full again
                self._rates = {s: b for s, b in self._rates.items() if not b.full}
                if len(self._rates) >= MAX_SOURCES_TRACKED // 2:  # still crowded: a bound on memory first
                    self._rates.clear()
            bucket = self._rates[source] = TokenBucket(lim.new_per_source_s, lim.new_burst, clock=self._clock)
        if not bucket.take():
            return f"more than {lim.new_per_source_s:g} new connection(s) a second from this address"
        return ""

    def _pump(self, link: _Link, side: str, mask: int) -> None:
        src, dst = (link.client, link.upstream) if side == "client" else (link.upstream, link.client)
        inbound = link.to_upstream if side == "client" else link.to_client
        outbound = link.to_client if side == "client" else link.to_upstream
        if mask & selectors.EVENT_WRITE and outbound:
            if not self._send(link, src, outbound):
                return
        if mask & selectors.EVENT_READ and len(inbound) < BUFFER_BYTES:
            try:
                data = src.recv(BUFFER_BYTES - len(inbound))
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._drop(link)
                return
            if data == b"":
                if side == "upstream" and link.to_client:  # e.g. the ROUTER's ERROR before it hung up
                    with contextlib.suppress(OSError):
                        link.client.send(link.to_client)
                self._drop(link)
                return
            if data:
                if side == "client":
                    link.client_bytes += len(data)
                    if link.client_bytes > self.limits.max_client_bytes:
                        self._cut(link, f"sent more than {self.limits.max_client_bytes} bytes")
                        return
                    problem = link.meter.feed(data)
                    if problem:
                        self._cut(link, problem)
                        return
                inbound += data
                if not self._send(link, dst, inbound):
                    return
        self._interest(link)

    def _send(self, link: _Link, sock: socket.socket, buf: bytearray) -> bool:
        try:
            sent = sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._drop(link)
            return False
        del buf[:sent]
        return True

    def _interest(self, link: _Link) -> None:
        """Read a side only while the buffer it fills has room; wait for writable only with data to
        send (level-triggered: a side registered for an event it cannot act on would spin)."""
        for sock, fills, drains, side in ((link.client, link.to_upstream, link.to_client, "client"),
                                          (link.upstream, link.to_client, link.to_upstream, "upstream")):
            events = (selectors.EVENT_READ if len(fills) < BUFFER_BYTES else 0) | \
                     (selectors.EVENT_WRITE if drains else 0)
            key = self._sel.get_map().get(sock)
            if not events:
                if key is not None:
                    self._sel.unregister(sock)
            elif key is None:
                self._sel.register(sock, events, (link, side))
            elif key.events != events:
                self._sel.modify(sock, events, (link, side))

    def _cut(self, link: _Link, why: str) -> None:
        self.stats.cut += 1
        self._warn.warn(link.source, "pairing port: closed the connection from %s: %s", link.source, why)
        self._drop(link)

    def _drop(self, link: _Link) -> None:
        if link not in self._links:
            return
        self._links.discard(link)
        n = self._per_source.get(link.source, 1) - 1
        if n > 0:
            self._per_source[link.source] = n
        else:
            self._per_source.pop(link.source, None)
        for sock in (link.client, link.upstream):
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(sock)
            _close_now(sock)
        self.stats.active = len(self._links)


def _source_of(addr: object) -> str:
    """The "host" the per-source limits count: an IPv4 address, or an IPv6 /64 (one host usually
    holds a whole /64, so counting single IPv6 addresses would bound nothing)."""
    host = str(addr[0] if isinstance(addr, tuple) else addr)
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _close_now(sock: socket.socket) -> None:
    """Close without lingering: a reset, not a graceful goodbye the peer could stretch out."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()

