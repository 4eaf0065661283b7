"""Epoch fencing on the master: which count events are stored and which are dropped.

The rule (see campool_worker/protocol.py for the worker's half):
- each (re)assignment of a camera gets epoch = previous + 1;
- when epoch e is superseded the master records a `Cut`: the last frame index the old
  worker reported (seekable sources) or the master's wall time mapped to the old
  worker's clock (live streams);
- events of epoch e are accepted only before the cut; later ones are acked but dropped
  ("fenced"), because the new worker counts from the cut (count_from_frame);
- events of the current epoch are all accepted.
The master also stores events idempotently on (camera_id, epoch, seq), so a resend is
harmless; this module only decides accept / fence.

Live standby (issue #12) adds epochs that are issued but not current: a standby's epoch E_s is
allocated like any other (`allocate`), above every earlier one, while the primary's E_p stays
current. Its events are judged by standby.Shadows while it is a standby (shadowed or held); an
issued epoch that never became current (an ended standby) is fenced here. A promoted standby's
epoch may carry a floor (its cut in its own clock): after a master restart, its resent events from
before the cut, which the primary counted, are fenced.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from campool_worker.camera import CountEvent

from .models import Cut

log = logging.getLogger(__name__)


class Verdict(str, Enum):
    ACCEPT = "accept"
    FENCED = "fenced"     # acked, not stored: after the cut of a superseded epoch
    SHADOWED = "shadowed"  # acked, not counted: a standby's event of time the primary already counted
    HELD = "held"         # neither stored nor acked yet: a standby's event the primary may not have covered

    @property
    def acked(self) -> bool:
        """Stored (counted or flagged) and so acked: everything but a held event."""
        return self is not Verdict.HELD


@dataclass
class EpochFence:
    current: dict[str, int] = field(default_factory=dict)           # camera -> current epoch
    cuts: dict[tuple[str, int], Cut] = field(default_factory=dict)  # (camera, epoch) -> cut
    # highest frame index accepted per (camera, epoch): a handover cut never drops an
    # event the master already stored
    last_frame: dict[tuple[str, int], int] = field(default_factory=dict)
    # camera -> the highest epoch ever issued (a standby's epoch is issued before it is current)
    issued: dict[str, int] = field(default_factory=dict)
    # (camera, epoch) -> worker-clock time before which its events are fenced (a promoted standby)
    floors: dict[tuple[str, int], float] = field(default_factory=dict)

    def epoch_of(self, camera_id: str) -> int:
        return self.current.get(camera_id, 0)

    def issued_of(self, camera_id: str) -> int:
        return max(self.issued.get(camera_id, 0), self.epoch_of(camera_id))

    def allocate(self, camera_id: str) -> int:
        """A fresh epoch for a new lease (primary or standby): above every epoch issued so far."""
        epoch = self.issued_of(camera_id) + 1
        self.issued[camera_id] = epoch
        return epoch

    def begin(self, camera_id: str, epoch: int) -> None:
        """Start `epoch` for a camera (the previous one must have been closed with a cut)."""
        prev = self.current.get(camera_id, 0)
        if epoch <= prev:
            raise ValueError(f"camera {camera_id!r}: epoch {epoch} does not follow {prev}")
        self.current[camera_id] = epoch

    def close(self, cut: Cut) -> None:
        """Record where an epoch ended; its later events will be fenced."""
        self.cuts[(cut.camera_id, cut.epoch)] = cut

    def cut_frame_for(self, camera_id: str, reported_frame: int) -> int:
        """The cut frame for a handover: after everything reported or already stored."""
        epoch = self.epoch_of(camera_id)
        stored = self.last_frame.get((camera_id, epoch), -1)
        return max(reported_frame, stored + 1, 0)

    def judge(self, ev: CountEvent) -> Verdict:
        cur = self.current.get(ev.camera_id)
        if cur is None:
            # A camera the master no longer knows (removed): nothing to attribute it to.
            log.warning("camera %s: count event of epoch %d for an unknown camera is dropped",
                        ev.camera_id, ev.epoch)
            return Verdict.FENCED
        floor = self.floors.get((ev.camera_id, ev.epoch))
        if floor is not None and ev.ts < floor:
            return Verdict.FENCED   # the old primary counted this time (a promoted standby, after a restart)
        cut = self.cuts.get((ev.camera_id, ev.epoch))
        if cut is None:
            if ev.epoch < cur:
                log.info("camera %s: event of epoch %d has no recorded cut; fenced", ev.camera_id, ev.epoch)
                return Verdict.FENCED
            if cur < ev.epoch <= self.issued.get(ev.camera_id, 0):
                # a standby's epoch that never became current (the standby ended): not counted
                return Verdict.FENCED
            if ev.epoch > cur:
                # Only possible if the master lost its own epoch record; keep the count
                # rather than lose it, and say so.
                log.warning("camera %s: event of epoch %d is newer than the master's %d; stored",
                            ev.camera_id, ev.epoch, cur)
            self._seen(ev)
            return Verdict.ACCEPT
        if cut.frame is not None:
            ok = ev.frame_index < cut.frame
        elif cut.ts is not None:
            ok = ev.ts < cut.ts
        else:
            ok = False
        if ok:
            self._seen(ev)
            return Verdict.ACCEPT
        return Verdict.FENCED

    def _seen(self, ev: CountEvent) -> None:
        key = (ev.camera_id, ev.epoch)
        if ev.frame_index > self.last_frame.get(key, -1):
            self.last_frame[key] = ev.frame_index
