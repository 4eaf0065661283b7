"""A camera dialog's "Test connection", from this PC: open the source, read one frame, close.

The dialog runs `probe_source` on a thread and shows the frame or the error; it
opens the stream with the worker's own source code (campool_worker.pipeline.sources), so
a URL that works here is read the same way on a worker. No Qt here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from campool_worker.errors import CampoolError
from campool_worker.pipeline.sources import open_source
from campool_worker.url_secrets import mask_url, redact_text

log = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    """What "Test connection" found: a frame (BGR) and its size, or an error the operator can act on
    (shown as it is: it never holds the URL's password)."""

    url: str  # the URL as shown (masked)
    ok: bool
    image: np.ndarray | None = None
    width: int = 0
    height: int = 0
    fps: float | None = None
    error: str = ""


def probe_source(url: str, timeout_s: float = 5.0) -> ProbeResult:
    """Open `url` (the full URL, with its password), read one frame, close. Blocking: call it off
    the UI thread."""
    shown = mask_url(url)
    try:
        src = open_source(url, open_timeout_s=timeout_s, read_timeout_s=timeout_s)
    except CampoolError as exc:
        return ProbeResult(shown, False, error=redact_text(str(exc)))
    except Exception as exc:  # an unexpected decoder failure is still a clear "no" for the operator
        log.warning("probe of %s failed unexpectedly", shown, exc_info=True)
        return ProbeResult(shown, False, error=redact_text(f"could not open {shown}: {exc}"))
    try:
        frame = src.read()
        if frame is None:
            return ProbeResult(shown, False, error=f"{shown} opened but gave no frame (empty video?)")
        h, w = frame.image.shape[:2]
        return ProbeResult(shown, True, image=frame.image, width=w, height=h, fps=src.fps)
    except CampoolError as exc:
        return ProbeResult(shown, False, error=redact_text(str(exc)))
    except Exception as exc:
        log.warning("probe of %s failed unexpectedly", shown, exc_info=True)
        return ProbeResult(shown, False, error=redact_text(f"could not read a frame from {shown}: {exc}"))
    finally:
        try:
            src.close()
        except Exception:
            log.debug("closing probe source failed", exc_info=True)
