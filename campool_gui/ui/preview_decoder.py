"""JPEG preview decoding off the UI thread.

Preview frames arrive on a pool thread; decoding a 640x360 JPEG takes a few ms, which
would add up to visible stutter on the UI thread with 16 tiles at 5 fps. A single
decoder thread keeps only the newest frame per camera (a slow decoder skips frames
instead of queueing them), decodes with OpenCV (which releases the GIL) and hands a
ready QImage to the UI through a queued signal, with the preview message it came in
(its tracks, counts and zones are drawn over the frame).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from campool_worker import protocol as p

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    jpeg: bytes
    preview: p.PreviewFrame | None


class PreviewDecoder(QObject):
    """Decodes the newest JPEG of each camera on its own thread; emits `decoded(camera_id, QImage, preview)`."""

    decoded = Signal(str, QImage, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[str, _Pending] = {}
        self._stop = False
        self.decoded_count = 0
        self.dropped_count = 0  # frames replaced by a newer one before they were decoded
        self._thread = threading.Thread(target=self._run, name="campool-preview-decoder", daemon=True)
        self._thread.start()

    def submit(self, camera_id: str, jpeg: bytes, preview: p.PreviewFrame | None) -> None:
        """Called from any thread; never blocks on decoding. `preview` travels with the decoded frame."""
        with self._lock:
            if camera_id in self._pending:
                self.dropped_count += 1
            self._pending[camera_id] = _Pending(jpeg, preview)
            self._wake.notify()

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                camera_id, item = self._pending.popitem()
            image = decode_jpeg(item.jpeg)
            if image is None:
                log.warning("camera %s: a preview frame is not a decodable JPEG (%d bytes); skipped",
                            camera_id, len(item.jpeg))
                self.failed.emit(camera_id, "preview frame could not be decoded")
                continue
            self.decoded_count += 1
            try:
                self.decoded.emit(camera_id, image, item.preview)
            except RuntimeError:  # the receiver was deleted while the app closes
                return


def decode_jpeg(data: bytes) -> QImage | None:
    """Decode JPEG bytes into an RGB QImage that owns its pixels, or None."""
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        return None
    return bgr_to_qimage(arr)


def bgr_to_qimage(bgr: np.ndarray) -> QImage:
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w, _ = rgb.shape
    # .copy() detaches the QImage from the numpy buffer, which dies with this function.
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
