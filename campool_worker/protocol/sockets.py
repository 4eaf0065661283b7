"""Socket-level limits of the wire contract: the per-frame size cap and a receive that keeps at
most `MAX_FRAMES` parts of one message.

Neither bounds what a peer makes libzmq hold: libzmq keeps every part of a multipart message
until the last one arrives (``MAXMSGSIZE`` bounds a frame, the high-water marks count whole
messages). On the sockets only allow-listed keys reach that is the trusted peer's business; the
pairing port, which any key reaches, has a relay in front that bounds it
(campool_worker/pairing_relay.py)."""
from __future__ import annotations

from typing import Any

from campool_worker.protocol.messages import MAX_FRAME_BYTES, MAX_FRAMES


def apply_socket_limits(sock: Any) -> None:
    """Set the per-frame size limit (a peer over it is disconnected) and no linger on close."""
    import zmq

    sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
    sock.setsockopt(zmq.LINGER, 0)


def recv_frames(sock: Any, flags: int = 0) -> tuple[list[bytes], bool, str]:
    """Receive one multipart message frame by frame, keeping at most ``MAX_FRAMES + 1`` frames
    (a ROUTER adds the identity) so that a message of thousands of parts is not copied into a
    list of thousands of frames here (libzmq itself has already held them all: see the module
    docstring).
    Returns (frames, truncated, user_id); user_id is what the ZAP handler said about the peer
    (for CURVE: its public key in Z85), "" when unknown. ``flags=zmq.NOBLOCK`` raises zmq.Again
    when nothing is waiting (the parts of one message arrive together)."""
    import zmq

    frames: list[bytes] = []
    truncated = False
    user_id = ""
    part = sock.recv(flags, copy=False)
    try:
        user_id = part.get("User-Id") or ""
    except (zmq.ZMQError, KeyError):
        user_id = ""
    while True:
        if len(frames) <= MAX_FRAMES:
            frames.append(part.bytes)
        else:
            truncated = True
        if not part.more:
            return frames, truncated, user_id
        part = sock.recv(copy=False)


def recv_frames_nowait(sock: Any) -> tuple[list[bytes], bool, str]:
    import zmq

    return recv_frames(sock, zmq.NOBLOCK)
