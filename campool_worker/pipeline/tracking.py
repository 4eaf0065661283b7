"""A ByteTrack-style multi-object tracker.

Per detection frame:
1. every track's Kalman filter (constant velocity on centre x, y, aspect a = w/h and
   height h) predicts where it is now;
2. high-score boxes are matched to tracked and lost tracks by IoU (optimal linear
   assignment on the IoU cost);
3. low-score boxes, which a plain tracker throws away, are matched to the tracks
   still unmatched: a car half hidden behind a truck often scores 0.2, and this is
   what keeps its id (ByteTrack's key idea);
4. tracks seen once wait for a second match before they are confirmed (a one-frame
   false positive never becomes a track, so it never counts);
5. unmatched tracks are kept as "lost" for `lost_frames` updates, still predicted, so
   an object hidden for a few frames gets its old id back.

The class of a track is the score-weighted vote of all its detections, so one frame
where a car is scored "truck" does not flip it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from campool_worker.pipeline.detectors import Detections, box_iou

_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_DIAG8 = np.arange(8)


def _transition(dt: float) -> np.ndarray:
    f = np.eye(8)
    f[:4, 4:] = np.eye(4) * dt
    return f


_DIAG4 = np.arange(4)


def _xyah(boxes: np.ndarray) -> np.ndarray:
    """(N,4) xyxy -> (N,4) centre x, centre y, aspect w/h, height."""
    b = boxes.astype(np.float64)
    w = b[:, 2] - b[:, 0]
    h = np.maximum(b[:, 3] - b[:, 1], 1e-6)
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / h, h], axis=1)


class KalmanXYAH:
    """Constant-velocity Kalman filter on (cx, cy, w/h, h), noise scaled by the box height.

    The noise model is ByteTrack's (from DeepSORT): position noise proportional to the
    object's height, so a large near object may move more pixels than a small far one.
    All methods work on every track at once: (N,8) means and (N,8,8) covariances, so a
    frame with 20 tracks costs a handful of numpy calls instead of a few hundred.
    """

    @staticmethod
    def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = _xyah(boxes)
        h = z[:, 3:4]
        means = np.concatenate([z, np.zeros_like(z)], axis=1)
        std = np.concatenate([2 * _STD_POS * h, 2 * _STD_POS * h, np.full_like(h, 1e-2), 2 * _STD_POS * h,
                              10 * _STD_VEL * h, 10 * _STD_VEL * h, np.full_like(h, 1e-5), 10 * _STD_VEL * h], 1)
        covs = np.zeros((len(z), 8, 8))
        covs[:, _DIAG8, _DIAG8] = std ** 2
        return means, covs

    @staticmethod
    def predict(means: np.ndarray, covs: np.ndarray, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Move every state on by dt steps (frames, or detection slots on the fixed-rate path).

        Adaptive detection calls the tracker after a varying number of frames; the velocity
        stays in pixels per frame and the process noise grows with the gap (a random walk's
        variance is linear in time), so a gap of 6 frames is one predict of dt=6, not 6 predicts
        of a filter that never saw the frames between."""
        h = means[:, 3:4]
        q = np.concatenate([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-2), _STD_POS * h,
                            _STD_VEL * h, _STD_VEL * h, np.full_like(h, 1e-5), _STD_VEL * h], 1) ** 2
        f = _F if dt == 1.0 else _transition(dt)
        means = means @ f.T
        covs = f @ covs @ f.T
        covs[:, _DIAG8, _DIAG8] += q * dt
        return means, covs

    @staticmethod
    def update(means: np.ndarray, covs: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = _xyah(boxes)
        h = means[:, 3:4]
        r = np.concatenate([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-1), _STD_POS * h], 1) ** 2
        s = covs[:, :4, :4].copy()  # H P H^T + R (H selects the first 4 states)
        s[:, _DIAG4, _DIAG4] += r
        pht = covs[:, :, :4]
        gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N,8,4)
        means = means + (gain @ (z - means[:, :4])[:, :, None])[:, :, 0]
        covs = covs - gain @ s @ gain.transpose(0, 2, 1)
        return means, covs

    @staticmethod
    def boxes(means: np.ndarray) -> np.ndarray:
        cx, cy, a, h = means[:, 0], means[:, 1], means[:, 2], means[:, 3]
        w = a * h
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)


@dataclass
class Track:
    """A tracked object as the rest of the pipeline sees it."""

    track_id: int
    box: np.ndarray  # xyxy float32, frame pixels (Kalman-smoothed)
    class_name: str
    score: float
    hits: int = 1
    age: int = 0  # updates since the track started
    lost_for: int = 0  # consecutive updates without a matching detection
    lost_time: float = 0.0  # the same in steps of dt (frames when detection is adaptive)
    streak: int = 1  # consecutive updates with a match (1: just started or just found again)
    confirmed: bool = False
    votes: dict[int, float] = field(default_factory=dict, repr=False)
    mean: np.ndarray | None = field(default=None, repr=False)  # Kalman state (8,)
    cov: np.ndarray | None = field(default=None, repr=False)  # its covariance (8, 8)

    @property
    def center(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2

    @property
    def bottom_center(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[3])


def _kalman_state(tracks: list[Track]) -> tuple[np.ndarray, np.ndarray]:
    """The stacked Kalman means (N, 8) and covariances (N, 8, 8) of tracks the tracker owns."""
    means, covs = [], []
    for t in tracks:
        # Only copies handed out of the pipeline lack a state; the tracker's own tracks start with one.
        assert t.mean is not None and t.cov is not None, f"track {t.track_id} has no Kalman state"
        means.append(t.mean)
        covs.append(t.cov)
    return np.stack(means), np.stack(covs)


def _grow(boxes: np.ndarray, fraction: float) -> np.ndarray:
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - wh * fraction, boxes[:, 2:] + wh * fraction], axis=1)


def linear_assignment(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Minimum-cost matching of rows to columns, ignoring pairs with cost > max_cost.

    The admissible pairs split into independent groups (objects far apart never
    compete); a lone pair is taken as is and only tangled groups are solved exactly
    with the Hungarian method, so a frame full of well separated cars costs almost
    nothing in Python.
    """
    if cost.size == 0:
        return []
    ok = cost <= max_cost
    if (ok.sum(1) <= 1).all() and (ok.sum(0) <= 1).all():  # the usual frame: nothing competes
        hit_rows, hit_cols = np.nonzero(ok)
        return sorted(zip(hit_rows.tolist(), hit_cols.tolist()))
    rows_left = set(np.flatnonzero(ok.any(1)).tolist())
    matches: list[tuple[int, int]] = []
    while rows_left:
        # grow one connected group of rows/columns from a seed row
        seed = rows_left.pop()
        rows: set[int] = {seed}
        cols: set[int] = set()
        frontier_rows = [seed]
        while frontier_rows:
            new_cols = set(np.flatnonzero(ok[frontier_rows].any(0)).tolist()) - cols
            cols |= new_cols
            if not new_cols:
                break
            new_rows = set(np.flatnonzero(ok[:, sorted(new_cols)].any(1)).tolist()) - rows
            rows |= new_rows
            frontier_rows = sorted(new_rows)
        rows_left -= rows
        r, c = sorted(rows), sorted(cols)
        if len(r) == 1 and len(c) == 1:
            matches.append((r[0], c[0]))
            continue
        sub = np.where(ok[np.ix_(r, c)], cost[np.ix_(r, c)], max_cost + 1e3)
        for i, j in _hungarian(sub):
            if ok[r[i], c[j]]:
                matches.append((r[i], c[j]))
    return sorted(matches)


def _hungarian(cost: np.ndarray) -> list[tuple[int, int]]:
    """Optimal assignment for a small dense matrix (shortest augmenting paths, O(n^2 m))."""
    transposed = cost.shape[0] > cost.shape[1]
    a = cost.T if transposed else cost
    n, m = a.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, np.int64)  # p[j] = row (1-based) matched to column j
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used
            free[0] = False
            cur = a[i0 - 1] - u[i0] - v[1:]
            better = free[1:] & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free[1:], minv[1:], np.inf)
            j1 = int(cand.argmin()) + 1
            delta = cand[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    pairs = [(int(p[j]) - 1, j - 1) for j in range(1, m + 1) if p[j]]
    return [(c, r) for r, c in pairs] if transposed else pairs


@dataclass
class TrackerConfig:
    high_score: float = 0.3  # boxes at least this sure are matched first and may start tracks
    low_score: float = 0.1  # boxes between low and high only extend existing tracks
    new_track_score: float = 0.4  # a new track needs a box this sure
    match_iou: float = 0.2  # first association: minimum IoU with a tracked/lost track
    low_match_iou: float = 0.5  # second association (low boxes): stricter, they are noisier
    unconfirmed_match_iou: float = 0.3
    lost_frames: int = 30  # steps of dt (updates at dt=1) a lost track is kept for re-identification
    buffer: float = 0.3  # second try of high boxes: grow boxes by this fraction of w, h on each side
    buffer_match_iou: float = 0.3
    max_size_ratio: float = 1.5  # a match may not change the box height or width more than this


class ByteTracker:
    """Tracks objects across detection frames; call `update()` once per detection frame."""

    def __init__(self, class_names: list[str] | tuple[str, ...], config: TrackerConfig | None = None) -> None:
        self.class_names = list(class_names)
        self.cfg = config or TrackerConfig()
        self.tracks: list[Track] = []  # tracked now (confirmed or not)
        self.lost: list[Track] = []
        self._next_id = 1
        self.frames = 0
        self._updates: list[tuple[Track, int]] = []  # this frame's matches, Kalman-corrected together

    def update(self, dets: Detections, dt: float = 1.0) -> list[Track]:
        """Feed one frame's detections; return the confirmed tracks matched in this frame.

        dt: steps since the previous update (1 when every frame or every detection slot is
        fed; the frames skipped since the last run when detection is adaptive). Lost tracks
        expire after `lost_frames` steps of dt, so skipping frames does not age them faster.
        """
        cfg = self.cfg
        self.frames += 1
        alive = self.tracks + self.lost
        if alive:
            means, covs = _kalman_state(alive)
            hidden = np.fromiter((t.lost_for > 0 for t in alive), bool, len(alive))
            means[hidden, 7] = 0.0  # a hidden object keeps moving, but do not let its size drift
            means, covs = KalmanXYAH.predict(means, covs, dt)
            boxes = KalmanXYAH.boxes(means)
            for i, t in enumerate(alive):
                t.mean, t.cov, t.box = means[i], covs[i], boxes[i]
                t.age += 1
        self._updates = []
        high = np.flatnonzero(dets.scores >= cfg.high_score)
        low = np.flatnonzero((dets.scores >= cfg.low_score) & (dets.scores < cfg.high_score))
        confirmed = [t for t in self.tracks if t.confirmed]
        unconfirmed = [t for t in self.tracks if not t.confirmed]

        # 1) high boxes <-> tracked + lost
        pool = confirmed + self.lost
        m1, pool_left, high_left = self._associate(pool, dets, high, cfg.match_iou)
        matched: list[Track] = []
        for ti, di in m1:
            self._apply(pool[ti], dets, di)
            matched.append(pool[ti])
        # 1b) what is left, again with both boxes enlarged (buffered IoU, as in C-BIoU):
        #     an object that moved further than its velocity predicted (stuttering video,
        #     throttled detection, a sudden turn) no longer overlaps its prediction, but
        #     is still the nearest thing to it
        if cfg.buffer > 0 and pool_left and high_left.size:
            rest = [pool[i] for i in pool_left]
            mb, rest_left, high_left = self._associate(rest, dets, high_left, cfg.buffer_match_iou, cfg.buffer)
            for ti, di in mb:
                self._apply(rest[ti], dets, di)
                matched.append(rest[ti])
            pool_left = [pool.index(rest[i]) for i in rest_left]
        # 2) low boxes <-> tracks that were being tracked (not the lost ones: a faint box
        #    far from where a lost track was predicted is too weak to revive it)
        still_tracked = [pool[i] for i in pool_left if pool[i].lost_for == 0]
        m2, _, _ = self._associate(still_tracked, dets, low, cfg.low_match_iou)
        for ti, di in m2:
            self._apply(still_tracked[ti], dets, di)
            matched.append(still_tracked[ti])
        # 3) high boxes left <-> tracks seen once; the rest start new tracks
        m3, _, high_left2 = self._associate(unconfirmed, dets, high_left, cfg.unconfirmed_match_iou)
        for ti, di in m3:
            self._apply(unconfirmed[ti], dets, di)
            self._confirm(unconfirmed[ti])
            matched.append(unconfirmed[ti])
        self._kalman_updates(dets)
        starters = [int(di) for di in high_left2 if dets.scores[di] >= cfg.new_track_score]
        new = self._start(dets, starters) if starters else []

        matched_ids = {id(t) for t in matched}
        next_tracks, next_lost = [], []
        for t in pool + unconfirmed:
            if id(t) in matched_ids:
                t.streak = t.streak + 1 if t.lost_for == 0 else 1
                t.lost_for = 0
                t.lost_time = 0.0
                next_tracks.append(t)
            elif not t.confirmed:
                continue  # a box seen once and never again was noise
            else:
                t.lost_for += 1
                t.lost_time += dt
                t.streak = 0
                if t.lost_time <= cfg.lost_frames:
                    next_lost.append(t)
        self.tracks = next_tracks + new
        self.lost = next_lost
        return [t for t in self.tracks if t.confirmed]

    def _associate(self, tracks: list[Track], dets: Detections, idx: np.ndarray, min_iou: float,
                   buffer: float = 0.0) -> tuple[list[tuple[int, int]], list[int], np.ndarray]:
        if not tracks or idx.size == 0:
            return [], list(range(len(tracks))), idx
        boxes = np.stack([t.box for t in tracks])
        cand = dets.boxes[idx]
        if buffer:
            boxes, cand = _grow(boxes, buffer), _grow(cand, buffer)
        iou = box_iou(boxes, cand)
        if cfg_ratio := self.cfg.max_size_ratio:
            # A box much taller or wider than the track is not the same object seen again:
            # it is usually two people merged into one detection, or a person plus the one
            # behind. Matching it would throw the track's centre across a counting line.
            th = boxes[:, 3] - boxes[:, 1]
            tw = boxes[:, 2] - boxes[:, 0]
            dh = cand[:, 3] - cand[:, 1]
            dw = cand[:, 2] - cand[:, 0]
            rh = np.maximum(dh[None, :], 1e-3) / np.maximum(th[:, None], 1e-3)
            rw = np.maximum(dw[None, :], 1e-3) / np.maximum(tw[:, None], 1e-3)
            ratio = np.maximum(np.maximum(rh, 1 / rh), np.maximum(rw, 1 / rw))
            iou[ratio > cfg_ratio] = 0.0
        pairs = linear_assignment(1.0 - iou, 1.0 - min_iou)
        used_t = {ti for ti, _ in pairs}
        used_d = {di for _, di in pairs}
        left_t = [i for i in range(len(tracks)) if i not in used_t]
        left_d = np.asarray([d for k, d in enumerate(idx) if k not in used_d], np.int64)
        return [(ti, int(idx[di])) for ti, di in pairs], left_t, left_d

    def _apply(self, t: Track, dets: Detections, di: int) -> None:
        # the Kalman correction waits for _kalman_updates (one batched call per frame);
        # association only ever looks at tracks not yet matched, so nothing reads it before
        self._updates.append((t, di))
        t.score = float(dets.scores[di])
        t.hits += 1
        cid = int(dets.class_ids[di])
        t.votes[cid] = t.votes.get(cid, 0.0) + t.score
        t.class_name = self.class_names[max(t.votes, key=t.votes.__getitem__)]

    def _kalman_updates(self, dets: Detections) -> None:
        if not self._updates:
            return
        tracks = [t for t, _ in self._updates]
        idx = [di for _, di in self._updates]
        means, covs = KalmanXYAH.update(*_kalman_state(tracks), dets.boxes[idx])
        boxes = KalmanXYAH.boxes(means)
        for i, t in enumerate(tracks):
            t.mean, t.cov, t.box = means[i], covs[i], boxes[i]

    def _start(self, dets: Detections, idx: list[int]) -> list[Track]:
        means, covs = KalmanXYAH.initiate(dets.boxes[idx])
        out = []
        for k, di in enumerate(idx):
            cid = int(dets.class_ids[di])
            t = Track(track_id=0, box=dets.boxes[di].astype(np.float32), class_name=self.class_names[cid],
                      score=float(dets.scores[di]), votes={cid: float(dets.scores[di])}, mean=means[k], cov=covs[k])
            # On the very first frame there is no history to wait for (ByteTrack does the same).
            if self.frames == 1:
                self._confirm(t)
            out.append(t)
        return out

    def _confirm(self, t: Track) -> None:
        # ids are handed out on confirmation, so one-frame noise does not use them up
        t.confirmed = True
        t.track_id = self._next_id
        self._next_id += 1
