"""A worker played by the test over the real wire: CURVE ZeroMQ sockets (a ROUTER for commands, a
PUB for telemetry) and the real codec, without the worker's pipeline. It answers Hello with its
status, records every command it gets (acks above all), beats, and publishes what the test asks.

For master-side tests of telemetry the worker side does not send yet (coverage spans); a real
`campool-worker serve` is the test of the worker itself.
"""
from __future__ import annotations

import logging
import threading
import time

import zmq

from campool_worker import protocol as p
from campool_worker.security import KeyPair
from tests.helpers import wire

log = logging.getLogger(__name__)


class FakeWorker:
    def __init__(self, worker_id: str = "fw1", *, heartbeat_s: float = 0.5) -> None:
        self.worker_id = worker_id
        self.heartbeat_s = heartbeat_s
        public, secret = zmq.curve_keypair()
        self.keys = KeyPair(public.decode(), secret.decode())
        self._ctx = zmq.Context()
        self._router = self._socket(zmq.ROUTER)
        self._pub = self._socket(zmq.PUB)
        self.cmd_port = self._router.bind_to_random_port("tcp://127.0.0.1")
        self.pub_port = self._pub.bind_to_random_port("tcp://127.0.0.1")
        self.commands: list[p.Message] = []
        self._lock = threading.Lock()
        self._outgoing: list[p.Message] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-worker-{worker_id}", daemon=True)
        self._thread.start()

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self._ctx.socket(kind)
        p.apply_socket_limits(sock)
        sock.curve_secretkey = self.keys.secret.encode()
        sock.curve_publickey = self.keys.public.encode()
        sock.curve_server = True   # no ZAP handler: any master key is let in (this is a test's worker)
        sock.linger = 0
        return sock

    def status(self) -> p.WorkerStatus:
        return wire.status(self.worker_id, clock=time.time(), heartbeat_s=self.heartbeat_s)

    def publish(self, msg: p.Message) -> None:
        """Publish once, from the worker's thread (a PUB socket is one thread's)."""
        with self._lock:
            self._outgoing.append(msg)

    def acks(self) -> list[p.AckCounts]:
        with self._lock:
            return [m for m in self.commands if isinstance(m, p.AckCounts)]

    def _reply(self, msg: p.Message) -> p.Message:
        if isinstance(msg, p.Hello):
            return p.HelloReply(p.PROTOCOL_VERSION, self.pub_port, self.status())
        if isinstance(msg, p.AckCounts):
            return p.AckReply(msg.camera_id, msg.epoch, msg.up_to_seq, 0, 0)
        if isinstance(msg, p.GetStatus):
            return p.StatusReply(self.status())
        return p.Ok()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        next_beat = 0.0
        while not self._stop.is_set():
            if dict(poller.poll(20)).get(self._router):
                ident, *frames = self._router.recv_multipart()
                try:
                    env = p.decode(frames, kinds=("command",))
                except p.ProtocolError as exc:
                    log.warning("fake worker %s: rejected a command (%s)", self.worker_id, exc)
                    continue
                with self._lock:
                    self.commands.append(env.message)
                self._router.send_multipart([ident, *p.encode(self._reply(env.message), env.request_id)])
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + self.heartbeat_s
                self._pub.send_multipart(p.encode_telemetry(p.Heartbeat(self.status())))
            with self._lock:
                out, self._outgoing = self._outgoing, []
            for msg in out:
                self._pub.send_multipart(p.encode_telemetry(msg))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._router.close()
        self._pub.close()
        self._ctx.term()
