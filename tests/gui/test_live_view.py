"""Live previews: requested only for visible tiles while the page is shown; frames decoded off the UI thread."""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QThread

from campool_gui.ui.preview_decoder import PreviewDecoder, decode_jpeg


def _previewing(pool) -> set[str]:
    return {c.camera_id for c in pool.snapshot().cameras if c.preview}


def test_visible_tiles_stream_and_stop_when_the_page_is_left(qtbot, window, pool):
    live = window.pages["live"]
    live.set_grid(4)
    window.show_view("live")
    shown = {t.camera_id for t in live.tiles if t.camera_id}
    assert shown == {"synthetic-dock", "synthetic-gate", "synthetic-yard"}
    assert sum(1 for t in live.tiles if t.camera is None) == 1  # 4 tiles, 3 cameras
    qtbot.waitUntil(lambda: _previewing(pool) == shown, timeout=10000)
    # Frames arrive, decoded, with the worker's tracks and counts drawn over them.
    qtbot.waitUntil(lambda: all(t.frames_shown >= 2 for t in live.tiles if t.camera_id), timeout=20000)
    tile = next(t for t in live.tiles if t.camera_id == "synthetic-gate")
    assert tile.image is not None and tile.image.width() > 0
    assert tile.preview is not None and "gate" in tile.preview.counts
    qtbot.waitUntil(lambda: tile.preview is not None and len(tile.preview.tracks) > 0, timeout=20000)
    img = tile.grab().toImage()
    assert img.width() == tile.width()

    window.show_view("overview")
    qtbot.waitUntil(lambda: _previewing(pool) == set(), timeout=10000)


def test_a_one_tile_grid_streams_only_that_camera(qtbot, window, pool):
    live = window.pages["live"]
    window.show_view("live")
    live.set_grid(1)
    assert len(live.tiles) == 1
    only = live.tiles[0].camera_id
    qtbot.waitUntil(lambda: _previewing(pool) == {only}, timeout=10000)
    live.set_grid(16)
    assert len(live.tiles) == 16
    qtbot.waitUntil(lambda: len(_previewing(pool)) == 3, timeout=10000)
    window.show_view("cameras")
    qtbot.waitUntil(lambda: _previewing(pool) == set(), timeout=10000)


def test_jpeg_decoding_happens_on_the_decoder_thread(qtbot):
    img = np.zeros((90, 160, 3), np.uint8)
    img[:, :80] = (0, 0, 255)
    ok, jpeg = cv2.imencode(".jpg", img)
    assert ok
    q = decode_jpeg(jpeg.tobytes())
    assert (q.width(), q.height()) == (160, 90)
    assert q.pixelColor(10, 45).red() > 200 and q.pixelColor(150, 45).red() < 50  # BGR -> RGB
    assert decode_jpeg(b"not a jpeg") is None

    dec = PreviewDecoder()
    threads = []
    dec.decoded.connect(lambda cid, image, ov: threads.append(QThread.currentThread()))
    try:
        with qtbot.waitSignal(dec.decoded, timeout=5000) as sig:
            dec.submit("cam", jpeg.tobytes(), None)
        assert sig.args[0] == "cam" and sig.args[1].width() == 160
        # Delivered to the UI thread (queued), decoded elsewhere.
        assert threads and threads[0] is QThread.currentThread()
        with qtbot.waitSignal(dec.failed, timeout=5000) as bad:
            dec.submit("cam", b"garbage", None)
        assert bad.args[0] == "cam"
    finally:
        dec.stop()
