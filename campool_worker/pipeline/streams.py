"""Live sources: RTSP (over TCP), HTTP/MJPEG and USB cameras, read by a capture thread.

The capture thread owns its `cv2.VideoCapture` from open to release: OpenCV
captures are not safe to touch from two threads, and FFmpeg's own timeouts are not
always honoured (a half-open TCP connection can block a read for minutes). So the
consumer never calls into OpenCV: it waits on a small buffer with its own deadline
and declares the stream stalled when nothing arrives in `read_timeout_s`. A capture
thread stuck inside FFmpeg is abandoned (it is a daemon thread and releases its
capture whenever FFmpeg lets go); the camera loop above reopens a fresh source.

When the consumer is slower than the camera the oldest buffered frame is dropped
(counted in `dropped`): a live count must follow the present, not fall ever further
behind. Frame indices count every decoded frame, so a drop shows as a gap.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
import time
from collections import deque
from urllib.parse import urlsplit

import cv2

from campool_worker.errors import SourceError
from campool_worker.pipeline.sources import Frame, FrameSource, redact_url

log = logging.getLogger(__name__)

_FFMPEG_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# RTSP over TCP: UDP loses packets (smeared frames) on busy LANs and does not cross NAT.
_FFMPEG_DEFAULT = "rtsp_transport;tcp"
_env_lock = threading.Lock()
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
# read() fails once per undecodable packet and then carries on; a closed connection
# fails every read at once, so a run this long is a lost stream.
_MAX_FAILED_READS = 25


def _ensure_ffmpeg_options() -> None:
    """Set OpenCV's FFmpeg capture options once (the variable is read at each open)."""
    with _env_lock:
        current = os.environ.get(_FFMPEG_ENV)
        if current is None:
            os.environ[_FFMPEG_ENV] = _FFMPEG_DEFAULT
        elif "rtsp_transport" not in current:
            log.warning("%s=%r has no rtsp_transport; RTSP may use UDP", _FFMPEG_ENV, current)


def _check_reachable(url: str, timeout_s: float) -> tuple[str, int]:
    """Fail fast, with the real reason, when the host does not answer on its port.

    OpenCV reports every failure to open as a bare False; a plain TCP connect tells
    the operator whether it is the address, the port or the network.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 554)
    except ValueError:
        raise SourceError(f"source {redact_url(url)}: the port is not a number") from None
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        raise SourceError(f"cannot resolve host {host!r} of {redact_url(url)}; check the address") from None
    except TimeoutError:
        raise SourceError(f"connect to {host}:{port} timed out after {timeout_s:g} s; check the address "
                          f"and that the camera is on the network") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SourceError(f"cannot connect to {host}:{port} ({reason}); check the address, the port and "
                          f"that the camera is on") from None
    return host, port


class LiveSource(FrameSource):
    """An RTSP, HTTP/MJPEG or USB stream behind a capture thread (see the module doc)."""

    def __init__(self, kind: str, target: str | int, url: str, *, open_timeout_s: float = 5.0,
                 read_timeout_s: float = 5.0, buffer: int = 2) -> None:
        super().__init__(url)
        self.kind = kind
        self._target = target
        self.open_timeout_s = float(open_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self._frames: deque[Frame] = deque()
        self._buffer = max(1, buffer)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: str | None = None
        self._done = False
        if kind in ("rtsp", "http"):
            _check_reachable(str(target), self.open_timeout_s)
            _ensure_ffmpeg_options()
        elif kind == "usb":
            self._check_usb(target)
        self._thread = threading.Thread(target=self._run, name=f"capture-{kind}", daemon=True)
        self._thread.start()
        # Opening includes waiting for the first key frame, which can take a GOP.
        deadline = self.open_timeout_s + self.read_timeout_s
        if not self._ready.wait(deadline):
            self._stop.set()
            raise SourceError(f"{self.display_url}: no picture within {deadline:g} s of connecting; "
                              f"check the stream path and that the camera is streaming")
        if self._error is not None:
            raise SourceError(self._error)

    @staticmethod
    def _check_usb(target: str | int) -> None:
        if not sys.platform.startswith("linux"):
            return
        dev = target if isinstance(target, str) else f"/dev/video{target}"
        if not os.path.exists(dev):
            raise SourceError(f"USB camera {target} not found ({dev} does not exist); check that it is "
                              f"plugged in (v4l2-ctl --list-devices lists cameras)")

    def _open_capture(self) -> cv2.VideoCapture:
        if self.kind == "usb":
            api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
            cap = cv2.VideoCapture(self._target, api)
            what = f"USB camera {self._target}"
            hint = "check that no other program uses it"
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)]
            t0 = time.monotonic()
            cap = cv2.VideoCapture(str(self._target), cv2.CAP_FFMPEG, params)
            what = f"stream {self.display_url}"
            hint = "the host answers, so check the stream path, user and password"
            if not cap.isOpened() and time.monotonic() - t0 >= 0.9 * self.open_timeout_s:
                hint = (f"the host accepted the connection but sent no stream within "
                        f"{self.open_timeout_s:g} s; check that the camera is not hung or overloaded")
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"could not open {what}; {hint}")
        return cap

    def _run(self) -> None:
        cap: cv2.VideoCapture | None = None
        index = 0
        last_media = -math.inf
        try:
            cap = self._open_capture()
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if 0 < fps < 1000 else None
            t_first: float | None = None
            failed = 0
            while not self._stop.is_set():
                try:
                    ok, img = cap.read()
                except cv2.error as exc:
                    log.warning("%s: skipping a frame that failed to decode: %s", self.display_url, exc)
                    ok, img = False, None
                if self._stop.is_set():
                    break
                if not ok or img is None:
                    failed += 1
                    if failed < _MAX_FAILED_READS:
                        continue
                    if index == 0:
                        raise SourceError(f"{self.display_url}: connected but no frame could be decoded; "
                                          f"check that it is a video stream")
                    raise SourceError(f"{self.display_url}: the stream ended or the connection was lost")
                if failed:
                    self.skipped += failed
                    failed = 0
                now = time.time()
                if t_first is None:
                    t_first = now
                    self.height, self.width = img.shape[:2]
                    self._ready.set()
                media = self._media_time(cap, now - t_first, last_media)
                last_media = media
                self._push(Frame(image=img, index=index, ts=now, media_ts=media))
                index += 1
        except SourceError as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("%s: capture thread failed", self.display_url)
            self._fail(redact_url(f"{self.display_url}: capture failed: {exc}"))
        finally:
            if cap is not None:
                cap.release()
            with self._cond:
                self._done = True
                self._cond.notify_all()
            self._ready.set()

    def _media_time(self, cap: cv2.VideoCapture, elapsed: float, last: float) -> float:
        """Stream timestamp when the stream has sane ones, else wall time since the first frame."""
        pts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if math.isfinite(pts) and pts > last:
            return pts
        return max(elapsed, last + 1e-3) if math.isfinite(last) else elapsed

    def _push(self, frame: Frame) -> None:
        with self._cond:
            if len(self._frames) >= self._buffer:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
            self._cond.notify()

    def _fail(self, message: str) -> None:
        with self._cond:
            if self._error is None:
                self._error = message
            self._cond.notify_all()

    def read(self) -> Frame | None:
        deadline = time.monotonic() + self.read_timeout_s
        with self._cond:
            while not self._frames:
                if self._stop.is_set() and self._error is None:
                    raise SourceError(f"{self.display_url}: the source was closed")
                if self._error is not None:
                    raise SourceError(self._error)
                if self._done:
                    raise SourceError(f"{self.display_url}: the stream ended")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._error = (f"{self.display_url}: no frame for {self.read_timeout_s:g} s; "
                                   f"the stream stalled")
                    self._stop.set()
                    raise SourceError(self._error)
                self._cond.wait(remaining)
            return self._frames.popleft()

    def poll(self) -> Frame | None:
        """The oldest frame the capture thread holds, or None when it holds none; never waits.
        Raises SourceError, as read() does, once the stream is lost and nothing is left."""
        with self._cond:
            if self._frames:
                return self._frames.popleft()
            if self._error is not None:
                raise SourceError(self._error)
            if self._done or self._stop.is_set():
                raise SourceError(f"{self.display_url}: the stream ended")
            return None

    def interrupt(self) -> None:
        """Wake a read() blocked on another thread; it raises SourceError. Thread-safe."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._frames.clear()
            self._cond.notify_all()
        # Do not wait long: a thread stuck in FFmpeg releases its capture when it returns.
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=0.5)
