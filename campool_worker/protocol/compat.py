"""A master and a worker of different protocol versions: which one to upgrade, in one line.

Every header carries ``v`` (``PROTOCOL_VERSION``), which the codec reads before anything else,
so whichever end receives a message of another version knows both versions and, from the kind
of message it expected, which end it is: a worker receives commands and pairing requests, a
master replies, pairing replies and telemetry. The older end is the one to upgrade; the text
names it and the release to upgrade to, so an operator who upgraded one machine of a site knows
what is left, instead of reading "not supported".
"""
from __future__ import annotations

from typing import Literal

from campool_worker import __version__

Side = Literal["master", "worker"]

#: Who receives each kind of message (the other end sent it).
RECEIVER: dict[str, Side] = {"command": "worker", "pair": "worker", "reply": "master", "pair_reply": "master",
                             "telemetry": "master"}


def receiver_of(kinds: tuple[str, ...]) -> Side | None:
    sides = {RECEIVER[k] for k in kinds if k in RECEIVER}
    return sides.pop() if len(sides) == 1 else None


def version_mismatch(peer: int, ours: int, receiver: Side | None, release: str = __version__) -> str:
    """What the receiving end says about a peer of protocol ``peer`` (it speaks ``ours``, in ``release``)."""
    if receiver == "master":
        if peer < ours:
            return (f"the worker speaks protocol {peer}, older than this control center's {ours} (campool {release}): "
                    f"upgrade the worker to campool {release} (on it: installers/install-worker.sh from this "
                    "version, or pip install --upgrade)")
        return (f"the worker speaks protocol {peer}, newer than this control center's {ours} (campool {release}): "
                "upgrade this control center to the worker's campool version")
    if receiver == "worker":
        if peer < ours:
            return (f"a master speaks protocol {peer}, older than this worker's {ours} (campool {release}): "
                    f"upgrade that control center to campool {release}")
        return (f"a master speaks protocol {peer}, newer than this worker's {ours} (campool {release}): "
                "upgrade this worker to the control center's campool version (installers/install-worker.sh "
                "from that version)")
    older = "the other end" if peer < ours else "this end"
    return f"the other end speaks protocol {peer}, this end {ours} (campool {release}): upgrade {older}"


__all__ = ["RECEIVER", "Side", "receiver_of", "version_mismatch"]
