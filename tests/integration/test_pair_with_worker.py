"""The master's side of pairing against a pairing socket that asks it to wait (real CURVE sockets;
the worker side is played here so that the waits are exact)."""
from __future__ import annotations

import itertools
import threading
import time

import pytest
import zmq

from campool_gui.pool.wire_client import PairingFailed, WorkerAddress, pair_with_worker
from campool_worker import protocol as p
from campool_worker import security

CODE = "ABCD-EFGH"


class WaitingWorker:
    """A pairing ROUTER that answers "ask again in `wait` s" `busy` times, then judges the proof."""

    def __init__(self, tmp_path, busy: int, wait: float) -> None:
        self.ctx = zmq.Context()
        self.keys = security.KeyPair(*(k.decode() for k in zmq.curve_keypair()))
        self.gate = security.Gatekeeper(self.ctx, security.AllowList(tmp_path / "masters.json"))
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        security.curve_server(self.sock, self.keys, security.PAIR_DOMAIN)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.busy, self.wait = busy, wait
        self.requests: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    @property
    def address(self) -> WorkerAddress:
        return WorkerAddress("127.0.0.1", 1, 1, self.port, self.keys.public)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.sock.poll(50):
                continue
            frames = self.sock.recv_multipart(copy=False)
            master = frames[1].get("User-Id")
            env = p.decode([f.bytes for f in frames[1:]], kinds=("pair",))
            self.requests.append((time.monotonic(), env.request_id))
            if len(self.requests) <= self.busy:
                reply = p.PairReply(False, "w", "", "the worker is judging many pairing attempts", self.wait)
            elif env.message.proof == security.pair_proof(CODE, master, self.keys.public, "master"):
                reply = p.PairReply(True, "w", security.pair_proof(CODE, master, self.keys.public, "worker"), "paired")
            else:
                reply = p.PairReply(False, "w", "", "wrong or expired pairing code")
            self.sock.send_multipart([frames[0].bytes, *p.encode(reply, env.request_id)])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close(0)
        self.gate.stop()
        self.ctx.destroy(0)


@pytest.fixture
def master(tmp_path):
    return security.load_or_create_keypair(tmp_path / "m", "master")


def test_a_master_asked_to_wait_asks_again_after_that_long_and_pairs(tmp_path, master):
    worker = WaitingWorker(tmp_path, busy=2, wait=0.3)
    try:
        t0 = time.monotonic()
        reply = pair_with_worker(worker.address, master, CODE, "desk", timeout=5)
        assert reply.accepted
        times = [t for t, _ in worker.requests]
        assert [rid for _, rid in worker.requests] == ["pair-1", "pair-2", "pair-3"]
        assert all(b - a >= 0.3 for a, b in itertools.pairwise(times)), "it waited what it was told"
        assert time.monotonic() - t0 < 3
    finally:
        worker.close()


def test_a_wait_past_the_timeout_fails_at_once_and_says_why(tmp_path, master):
    worker = WaitingWorker(tmp_path, busy=1, wait=30.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(PairingFailed, match="could not judge the pairing within 5 s: the worker is judging many"):
            pair_with_worker(worker.address, master, CODE, "desk", timeout=5)
        assert time.monotonic() - t0 < 2, "no point in waiting for what cannot come in time"
    finally:
        worker.close()
