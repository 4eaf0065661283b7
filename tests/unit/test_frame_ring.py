"""A warm standby's frame ring: what it keeps, for how long, how small, and how it gives frames back."""
from __future__ import annotations

import numpy as np
import pytest

from campool_worker.pipeline.frame_ring import CATCH_UP_LIMIT_S, FrameRing
from campool_worker.pipeline.sources import Frame


def _frame(i: int, fps: float = 30.0, size: tuple[int, int] = (1280, 720)) -> Frame:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    # A gradient and a moving block: a picture JPEG compresses like a camera image, not like noise.
    img[:, :, 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    x = (i * 8) % (w - 100)
    img[300:400, x:x + 100] = (0, 0, 255)
    return Frame(img, i, 1000.0 + i / fps, i / fps)


def test_only_frames_the_detector_would_run_on_are_kept_small_and_come_back_at_source_size():
    ring = FrameRing(10.0, detect_fps=10.0)
    kept = [ring.push(_frame(i)) for i in range(30)]  # one second at 30 fps
    assert sum(kept) == 10 and ring.skipped == 20, "10 detections a second: one frame in three"
    assert ring.nbytes < 10 * 80_000, f"{ring.nbytes} bytes for 10 frames: kept as small JPEGs"
    first = ring.peek()
    assert first is not None and first.index == 0 and first.image.shape == (720, 1280, 3)
    # Scaled to 640 px and back, JPEG'd: close to the original, the block where it was.
    src = _frame(0).image.astype(int)
    assert np.abs(first.image.astype(int) - src).mean() < 6
    assert first.image[350, 50, 2] > 200 and first.image[350, 50, 1] < 80


def test_peek_then_pop_gives_every_kept_frame_once_in_order():
    ring = FrameRing(10.0)
    for i in range(12):
        ring.push(_frame(i, size=(320, 240)))
    seen = []
    while (f := ring.peek()) is not None:
        assert ring.peek() is f, "peeking twice decodes once and gives the same frame"
        seen.append((f.index, f.ts, f.media_ts))
        ring.pop()
    assert seen == [(i, 1000.0 + i / 30.0, i / 30.0) for i in range(12)]
    assert len(ring) == 0 and ring.nbytes == 0


def test_the_ring_keeps_the_last_seconds_by_capture_time():
    ring = FrameRing(2.0)
    for i in range(150):  # 5 s at 30 fps
        ring.push(_frame(i, size=(320, 240)))
    newest = 1000.0 + 149 / 30.0
    assert ring.newest_ts == pytest.approx(newest)
    assert ring.oldest_ts is not None and newest - 2.0 - 1e-6 <= ring.oldest_ts < newest - 2.0 + 1 / 30.0
    assert len(ring) in (60, 61) and ring.dropped == 0


def test_a_promotion_holds_every_frame_from_the_cut_warm_up_whatever_its_age():
    ring = FrameRing(2.0)
    for i in range(60):
        ring.push(_frame(i, size=(320, 240)))
    ring.hold_from(1000.0 + 45 / 30.0)
    assert ring.oldest_ts == pytest.approx(1000.0 + 45 / 30.0)
    for i in range(60, 60 + 30 * 5):  # 5 s more arrive while the promotion counts
        ring.push(_frame(i, size=(320, 240)))
    assert ring.oldest_ts == pytest.approx(1000.0 + 45 / 30.0), "nothing from the cut on ages out"
    assert len(ring) == 15 + 150 and ring.dropped == 0
    assert CATCH_UP_LIMIT_S >= 60.0


def test_a_ring_of_no_seconds_is_refused():
    with pytest.raises(ValueError, match="positive"):
        FrameRing(0.0)
