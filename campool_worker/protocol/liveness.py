"""How often a worker beats and when a master gives up on it (the ZeroMQ guide's Paranoid Pirate
constants, with the period declared by each worker instead of assumed).

A worker sends a heartbeat every ``heartbeat_s`` seconds (its setting, within
[`HEARTBEAT_S_MIN`, `HEARTBEAT_S_MAX`]) and declares that period in every `WorkerStatus` (so in
its `HelloReply` and in each `Heartbeat`). A master declares a worker dead once it has heard
nothing for `dead_after_s` of the period the worker last declared: `LIVENESS` periods, but never
less than `MIN_DEAD_AFTER_S`, so a worker beating 20 times a second is not declared dead by a
master thread that was descheduled for a moment. A changed period takes effect with the next
heartbeat that carries it.
"""
from __future__ import annotations

HEARTBEAT_S_DEFAULT = 1.0
HEARTBEAT_S_MIN = 0.05
HEARTBEAT_S_MAX = 60.0
LIVENESS = 3
MIN_DEAD_AFTER_S = 1.0


def dead_after_s(heartbeat_s: float) -> float:
    """Seconds of silence after which a worker with this heartbeat period is declared dead."""
    return max(LIVENESS * heartbeat_s, MIN_DEAD_AFTER_S)
