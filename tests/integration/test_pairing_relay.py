"""The pairing relay with real sockets: a libzmq CURVE ROUTER behind it (on ipc, as the worker
has it), libzmq clients and a hand-written CURVE peer in front. On Linux any 127.x.y.z is this
host's loopback, so the tests play several source hosts."""
from __future__ import annotations

import socket
import time

import pytest
import zmq

from campool_worker import security
from campool_worker.pairing_relay import PairingRelay, RelayLimits, private_upstream
from tests.helpers.worker_process import wait_until
from tests.helpers.zmtp_curve import RawCurveClient


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def router(tmp_path):
    """A CURVE ROUTER on the pairing domain (any key passes ZAP), bound to ipc in tmp_path."""
    ctx = zmq.Context()
    keys = security.KeyPair(*(k.decode() for k in zmq.curve_keypair()))
    gate = security.Gatekeeper(ctx, security.AllowList(tmp_path / "masters.json"))
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    security.curve_server(sock, keys, security.PAIR_DOMAIN)
    sock.bind(f"ipc://{tmp_path}/pair.sock")
    yield sock, keys, ctx
    sock.close(0)
    gate.stop()
    ctx.destroy(0)


def relay_for(router_sock, limits=None, clock=None) -> PairingRelay:
    relay = PairingRelay("127.0.0.1", 0, private_upstream(router_sock.getsockopt_string(zmq.LAST_ENDPOINT)),
                         limits, **({"clock": clock} if clock else {}))
    relay.start()
    return relay


def refused(port: int, source: str) -> bool:
    """Whether the relay hangs up on a new plain connection from `source` at once."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0))
    except ConnectionResetError:
        return True   # the hang-up came before connect() returned (a loaded box schedules it so)
    with s:
        s.settimeout(0.5)
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def test_a_curve_client_is_relayed_and_the_router_sees_its_own_key(router):
    sock, keys, ctx = router
    relay = relay_for(sock)
    client_keys = security.KeyPair(*(k.decode() for k in zmq.curve_keypair()))
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        security.curve_client(dealer, client_keys, keys.public)
        dealer.connect(f"tcp://127.0.0.1:{relay.port}")
        dealer.send_multipart([b"hello", b"x" * 3000])
        assert sock.poll(5000)
        frames = sock.recv_multipart(copy=False)
        assert [f.bytes for f in frames[1:]] == [b"hello", b"x" * 3000]
        assert frames[1].get("User-Id") == client_keys.public, "ZAP sees the client's key, not the relay's"
        sock.send_multipart([frames[0].bytes, b"reply"])
        assert dealer.poll(5000) and dealer.recv_multipart() == [b"reply"]
    finally:
        dealer.close(0)
        relay.close()


def test_parts_of_an_unfinished_message_are_cut_at_the_byte_budget(router):
    sock, keys, _ctx = router
    relay = relay_for(sock, RelayLimits(max_client_bytes=64 * 1024))
    try:
        peer = RawCurveClient("127.0.0.1", relay.port, keys.public)
        sent = 0
        with pytest.raises(OSError):
            for _ in range(8192):   # 62 MiB if nobody stopped it
                peer.send_frame(b"x" * 8000, more=True)
                sent += 8000
            peer.recv_frame()
        # cut at the budget: what the client got off its hands beyond it sat in kernel buffers
        # (loopback's grow to a few MiB), never in the worker
        assert sent < 16 * 1024 * 1024
        wait_until(lambda: relay.stats.cut == 1 and relay.stats.active == 0, 5, message="the cut")
        assert sock.poll(200) == 0, "nothing reached the ROUTER: the message never got its last part"
    finally:
        relay.close()


def test_a_frame_announcing_more_than_pairing_needs_is_cut_at_its_header(router):
    sock, keys, _ctx = router
    relay = relay_for(sock)
    try:
        peer = RawCurveClient("127.0.0.1", relay.port, keys.public)
        with pytest.raises(OSError):
            peer.send_frame(b"x" * (1 << 20), more=True)
            peer.recv_frame()
        wait_until(lambda: relay.stats.cut == 1, 5, message="the cut")
    finally:
        relay.close()


def test_connections_from_one_address_and_in_all_are_capped(router):
    sock, _keys, _ctx = router
    relay = relay_for(sock, RelayLimits(max_per_source=2, max_connections=3))
    held = []
    try:
        for _ in range(2):
            held.append(socket.create_connection(("127.0.0.1", relay.port), source_address=("127.0.0.2", 0)))
        wait_until(lambda: relay.stats.active == 2, 5, message="two connections")
        assert refused(relay.port, "127.0.0.2"), "a third from the same address"
        held.append(socket.create_connection(("127.0.0.1", relay.port), source_address=("127.0.0.3", 0)))
        wait_until(lambda: relay.stats.active == 3, 5, message="three connections")
        assert refused(relay.port, "127.0.0.4"), "over the total"
        held.pop().close()
        wait_until(lambda: relay.stats.active == 2, 5, message="a slot freed")
        assert not refused(relay.port, "127.0.0.4")
    finally:
        for s in held:
            s.close()
        relay.close()


def test_new_connections_from_one_address_are_rate_limited(router):
    sock, _keys, _ctx = router
    clock = Clock()
    relay = relay_for(sock, RelayLimits(new_per_source_s=1.0, new_burst=2), clock=clock)
    try:
        assert not refused(relay.port, "127.0.0.5") and not refused(relay.port, "127.0.0.5")
        assert refused(relay.port, "127.0.0.5"), "the burst is spent"
        assert not refused(relay.port, "127.0.0.6"), "another address has its own"
        clock.t += 1.0
        assert not refused(relay.port, "127.0.0.5")
    finally:
        relay.close()


def test_a_connection_lives_at_most_its_lifetime(router):
    sock, _keys, _ctx = router
    relay = relay_for(sock, RelayLimits(lifetime_s=0.5))
    try:
        with socket.create_connection(("127.0.0.1", relay.port)) as s:
            s.settimeout(5)
            t0 = time.monotonic()
            try:
                while s.recv(4096):   # the ROUTER's greeting comes through, then the hang-up
                    pass
            except ConnectionResetError:
                pass
            assert 0.4 < time.monotonic() - t0 < 3
            assert relay.stats.cut == 1
    finally:
        relay.close()
