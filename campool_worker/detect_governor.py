"""Saturation by priority: when this worker cannot keep up, low-priority cameras give up detector runs first.

A live camera whose frames arrive faster than the worker processes them drops frames (its
runner's ``dropped`` grows): the box is saturated. Each step (once a second, from the service
loop) the governor looks at every camera's dropped frames since the last step:

* frames dropped anywhere: one adaptive camera's detector budget is lowered by `STEP_DOWN`
  (never below its floor): the lowest priority first (hot standbys, then low, normal, high,
  critical), among equals the one with the most budget left. One camera a step, so the load falls in small
  steps and stops falling once the drops stop. The model is most of a camera's cost, and the
  camera that gives way keeps its floor: it is slower to notice, not blind.
* no drops for `CALM_S`: the highest-priority lowered camera gets `STEP_UP` more (up to its
  own budget), one camera per `CALM_S`, so what was given back is not lost again at once.

Each lowered camera carries the reason, which its heartbeat line reports (``detect_budget``,
``detect_budget_reason``) and the master's "detection below its need" alert shows. Fixed-rate
and every-frame cameras are not governed: their rate is what the operator asked for.

Pure: no threads, no clock of its own (``now`` is passed in); the service applies the budgets.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from campool_worker.camera import PRIORITIES

STEP_DOWN = 0.7
STEP_UP = 1.25
CALM_S = 5.0
# critical 0 ... low 3; a hot standby (it counts nothing until promoted) gives way before them all
_RANK = {**{p: i for i, p in enumerate(PRIORITIES)}, "standby": len(PRIORITIES)}


@dataclass(frozen=True, slots=True)
class GovernedCamera:
    """What the governor needs of one camera: its settings and its cumulative dropped frames."""

    camera_id: str
    priority: str
    budget: float  # its own budget (the camera's config)
    floor: float
    dropped: int  # live frames dropped since its source opened
    adaptive: bool  # only adaptive cameras are governed


@dataclass(frozen=True, slots=True)
class Allowance:
    budget: float  # runs a second allowed now
    reason: str  # why it is below the camera's own budget ("" when it is not)


class DetectGovernor:
    def __init__(self) -> None:
        self._dropped: dict[str, int] = {}
        self._allowed: dict[str, float] = {}  # lowered cameras only
        self._reason: dict[str, str] = {}
        self._calm_since: float | None = None

    def step(self, cameras: Sequence[GovernedCamera], now: float) -> dict[str, Allowance]:
        """One second's decision; returns every adaptive camera's allowance."""
        present = {c.camera_id for c in cameras}
        for gone in set(self._dropped) - present:
            self._dropped.pop(gone, None)
            self._allowed.pop(gone, None)
            self._reason.pop(gone, None)
        dropping: dict[str, int] = {}
        for c in cameras:
            last = self._dropped.get(c.camera_id)
            if last is None:
                grew = 0  # first seen: what it dropped before is not this second's
            elif c.dropped >= last:
                grew = c.dropped - last
            else:
                grew = c.dropped  # a reopened source counts from 0 again
            self._dropped[c.camera_id] = c.dropped
            if grew > 0:
                dropping[c.camera_id] = grew
        governed = [c for c in cameras if c.adaptive]
        if dropping:
            self._calm_since = None
            self._lower(governed, dropping)
        elif self._calm_since is None:
            self._calm_since = now
        elif now - self._calm_since >= CALM_S:
            self._calm_since = now
            self._raise(governed)
        return {c.camera_id: Allowance(self.allowed(c), self._reason.get(c.camera_id, "")) for c in governed}

    def allowed(self, c: GovernedCamera) -> float:
        return min(self._allowed.get(c.camera_id, c.budget), c.budget)

    def _lower(self, governed: list[GovernedCamera], dropping: dict[str, int]) -> None:
        room = [c for c in governed if self.allowed(c) > c.floor + 1e-9]
        if not room:
            return
        victim = max(room, key=lambda c: (_RANK.get(c.priority, 2), self.allowed(c) / max(c.budget, 1e-9),
                                          c.camera_id))
        new = max(victim.floor, self.allowed(victim) * STEP_DOWN)
        self._allowed[victim.camera_id] = new
        frames = sum(dropping.values())
        where = ", ".join(sorted(dropping))
        self._reason[victim.camera_id] = (
            f"the worker cannot keep up ({frames} frame(s) dropped in the last second on {where}): "
            f"{victim.priority}-priority cameras give way first; detection lowered to {new:.1f} of "
            f"{victim.budget:g} runs a second. Give the camera a higher priority, or move it to a worker with room")

    def _raise(self, governed: list[GovernedCamera]) -> None:
        lowered = [c for c in governed if c.camera_id in self._allowed]
        if not lowered:
            return
        best = min(lowered, key=lambda c: (_RANK.get(c.priority, 2), self.allowed(c) / max(c.budget, 1e-9),
                                           c.camera_id))
        new = self.allowed(best) * STEP_UP
        if new >= best.budget - 1e-9:
            self._allowed.pop(best.camera_id, None)
            self._reason.pop(best.camera_id, None)
        else:
            self._allowed[best.camera_id] = new
            self._reason[best.camera_id] = (f"coming back after the worker could not keep up: detection at {new:.1f} "
                                            f"of {best.budget:g} runs a second")
