"""A ZMTP 3.0 peer that speaks CurveZMQ by hand (RFC 23 / RFC 26, with PyNaCl), for tests that
must send what no libzmq client would: the parts of a multipart message without its last part,
frames of any size, a handshake left half done. libzmq clients buffer a multipart message on
their own side until it is complete, so only a hand-written peer can show what the *server*
holds."""
from __future__ import annotations

import os
import socket
import struct

import zmq.utils.z85 as z85
from nacl.public import Box, PrivateKey, PublicKey

FLAG_MORE = 0x01
FLAG_LONG = 0x02
FLAG_COMMAND = 0x04


class HandshakeFailed(ConnectionError):
    pass


def _prop(name: str, value: bytes) -> bytes:
    n = name.encode()
    return bytes([len(n)]) + n + struct.pack(">I", len(value)) + value


class RawCurveClient:
    """A CURVE client connection to a ZeroMQ server socket (ROUTER), frame by frame."""

    def __init__(self, host: str, port: int, server_key_z85: str, *, client_secret: PrivateKey | None = None,
                 socket_type: str = "DEALER", timeout: float = 5.0, source: str | None = None) -> None:
        self.server_public = PublicKey(z85.decode(server_key_z85.encode()))
        self.long_secret = client_secret or PrivateKey.generate()
        self.public_z85 = z85.encode(bytes(self.long_secret.public_key)).decode()
        self._transient = PrivateKey.generate()
        self._nonce = 0
        # source: the local address to connect from (on Linux any 127.x.y.z is this host's loopback,
        # so one machine can play several hosts against a worker on 127.0.0.1)
        self._sock = socket.create_connection((host, port), timeout=timeout,
                                              source_address=(source, 0) if source else None)
        self._sock.settimeout(timeout)
        self._handshake(socket_type)

    # ------------------------------------------------------------------ framing
    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            buf += chunk
        return buf

    def _send_raw_frame(self, flags: int, body: bytes) -> None:
        if len(body) > 255:
            self._sock.sendall(bytes([flags | FLAG_LONG]) + struct.pack(">Q", len(body)) + body)
        else:
            self._sock.sendall(bytes([flags, len(body)]) + body)

    def _recv_raw_frame(self) -> tuple[int, bytes]:
        flags = self._recv_exact(1)[0]
        size = struct.unpack(">Q", self._recv_exact(8))[0] if flags & FLAG_LONG else self._recv_exact(1)[0]
        return flags, self._recv_exact(size)

    def _short_nonce(self) -> bytes:
        self._nonce += 1
        return struct.pack(">Q", self._nonce)

    # ------------------------------------------------------------------ handshake
    def _handshake(self, socket_type: str) -> None:
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
        self._sock.sendall(greeting)
        theirs = self._recv_exact(64)
        if theirs[0] != 0xFF or theirs[9] != 0x7F or theirs[12:17] != b"CURVE":
            raise HandshakeFailed(f"not a ZMTP 3 CURVE server: {theirs[:20]!r}")
        c_prime = self._transient
        hello_box = Box(c_prime, self.server_public)
        nonce = self._short_nonce()
        sig = hello_box.encrypt(b"\x00" * 64, b"CurveZMQHELLO---" + nonce).ciphertext
        self._send_raw_frame(FLAG_COMMAND, b"\x05HELLO" + b"\x01\x00" + b"\x00" * 72 + bytes(c_prime.public_key)
                             + nonce + sig)
        _, body = self._recv_raw_frame()
        if not body.startswith(b"\x07WELCOME"):
            raise HandshakeFailed(f"expected WELCOME, got {body[:16]!r}")
        welcome = hello_box.decrypt(body[24:], b"WELCOME-" + body[8:24])
        s_prime, cookie = PublicKey(welcome[:32]), welcome[32:128]
        vouch_nonce = os.urandom(16)
        vouch = vouch_nonce + Box(self.long_secret, s_prime).encrypt(
            bytes(c_prime.public_key) + bytes(self.server_public), b"VOUCH---" + vouch_nonce).ciphertext
        self._session = Box(c_prime, s_prime)
        meta = _prop("Socket-Type", socket_type.encode())
        nonce = self._short_nonce()
        box = self._session.encrypt(bytes(self.long_secret.public_key) + vouch + meta,
                                    b"CurveZMQINITIATE" + nonce).ciphertext
        self._send_raw_frame(FLAG_COMMAND, b"\x08INITIATE" + cookie + nonce + box)
        _flags, body = self._recv_raw_frame()
        if body.startswith(b"\x05ERROR"):
            raise HandshakeFailed(f"the server refused the handshake: {body[7:]!r}")
        if not body.startswith(b"\x05READY"):
            raise HandshakeFailed(f"expected READY, got {body[:16]!r}")
        self._session.decrypt(body[14:], b"CurveZMQREADY---" + body[6:14])

    # ------------------------------------------------------------------ messages
    def send_frame(self, payload: bytes, *, more: bool = False) -> None:
        """One frame of a message, encrypted; more=True: the message goes on."""
        nonce = self._short_nonce()
        box = self._session.encrypt(bytes([FLAG_MORE if more else 0]) + payload,
                                    b"CurveZMQMESSAGEC" + nonce).ciphertext
        self._send_raw_frame(0, b"\x07MESSAGE" + nonce + box)

    def recv_frame(self) -> tuple[bytes, bool]:
        while True:
            _flags, body = self._recv_raw_frame()
            if body.startswith(b"\x07MESSAGE"):
                plain = self._session.decrypt(body[16:], b"CurveZMQMESSAGES" + body[8:16])
                return plain[1:], bool(plain[0] & FLAG_MORE)
            # PING and other commands between messages are not for us

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawCurveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
