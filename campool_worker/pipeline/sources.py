"""Frame sources: video files, RTSP, HTTP/MJPEG, USB devices and a synthetic camera.

`open_source(url)` is the one entry point. It validates the URL where it enters,
opens the stream with clear errors ("not found", "not a video", "connection
refused") and returns a `FrameSource` whose `read()` yields `Frame`s with an index
that only grows (also across the loops of a looped file), the wall-clock time of
capture and the media time.

Files are decoded on the caller's thread: deterministic, no frame is ever dropped,
and seeking is exact (OpenCV's own seek is checked against the frame timestamps and
corrected, since it lands on the wrong frame in some AVI files). Live streams are
read by a thread that owns the OpenCV capture from open to release, so a stalled
FFmpeg call can never hang the camera loop: `read()` waits at most
`read_timeout_s` and raises `SourceError` ("stalled"), whatever FFmpeg does.
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import cv2
import numpy as np

from campool_worker.errors import SourceError
from campool_worker.pipeline.ffmpeg_log import FFmpegStderr
from campool_worker.url_secrets import redact_text

if TYPE_CHECKING:
    from campool_worker.pipeline.synthetic import SyntheticParams

log = logging.getLogger(__name__)

# Our own errors say what failed; OpenCV's warnings on stderr ("cap.cpp ... can't open") only add noise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

# OpenCV's read() fails once per undecodable packet and then carries on (64 KiB of
# garbage in highway.mp4 costs 10 failed reads); at the real end every read fails at
# once, so trying this many times more costs microseconds.
_MAX_CORRUPT_READS = 100
_GRAB_FORWARD_LIMIT = 300  # seek by decoding forward when the target is this close ahead

# True decodable lengths learned so far, by (path, size, mtime): a worker opens the same looped
# file again and again (several cameras, restarts, failover) and a scan costs seconds.
_known_lengths: dict[tuple[str, int, int], int] = {}


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path.resolve()), st.st_size, st.st_mtime_ns


@dataclass(slots=True)
class Frame:
    """One decoded picture.

    index grows by one per frame read from the source (live sources may skip
    indices when the consumer is slower than the camera and old frames are
    dropped); ts is time.time() at capture; media_ts is seconds into the stream.
    """

    image: np.ndarray  # H x W x 3 BGR uint8
    index: int
    ts: float
    media_ts: float


class FrameSource(ABC):
    """A stream of frames. Not thread-safe: one consumer thread calls read()."""

    kind: str = "?"  # "file" | "rtsp" | "http" | "usb" | "synthetic"

    def __init__(self, url: str) -> None:
        self.url = url
        self.display_url = redact_url(url)
        self.fps: float | None = None
        self.width: int = 0
        self.height: int = 0
        self.frame_count: int | None = None
        self.seekable: bool = False
        self.dropped: int = 0  # frames a live source dropped because the consumer was slower
        self.skipped: int = 0  # corrupt frames skipped

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None at the end of a non-looped file. Raises SourceError on a dead stream."""

    def poll(self) -> Frame | None:
        """A frame that is ready now, else None, without waiting (a promoted warm standby takes in
        new frames between the buffered ones it counts). Files and the synthetic camera never
        lose a frame to a slow reader, so for them this is always None and read() gives the
        next frame whenever it is asked for."""
        return None

    def seek(self, frame_index: int) -> None:
        """Make the next read() return frame `frame_index` (seekable sources only)."""
        raise SourceError(f"source {self.display_url} is a live stream and cannot seek; "
                          f"start it without a start frame")

    @abstractmethod
    def close(self) -> None:
        """Release the stream. Idempotent; returns promptly. Call it on the reading thread."""

    def interrupt(self) -> None:  # noqa: B027 - a deliberate no-op default; only blocking streams override it
        """Ask a read() blocked on another thread to give up soon (thread-safe; then close()).

        Files and the synthetic camera never block for long, so this is a no-op for them.
        """

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.display_url} {self.width}x{self.height} "
                f"fps={self.fps} frames={self.frame_count}>")


def redact_url(url: str) -> str:
    """The URL (or a text holding URLs) with every password and secret query parameter masked,
    fit for logs and the operator's screen (the rules are campool_worker.url_secrets')."""
    return redact_text(url)


def parse_source(url: str | int | os.PathLike[str]) -> tuple[str, str | int]:
    """Classify a source string: ("file", path) | ("rtsp"|"http", url) | ("usb", index) | ("synthetic", url).

    Validates the form only (no I/O), so a config or command line can reject a bad
    source before anything is opened.
    """
    if isinstance(url, int):
        return "usb", url
    if isinstance(url, os.PathLike):
        return "file", os.fspath(url)
    if not isinstance(url, str) or not url.strip():
        raise SourceError("source is empty: give a video file path, rtsp://, http(s)://, usb:N or synthetic://")
    text = url.strip()
    if text.isdigit():
        return "usb", int(text)
    lower = text.lower()
    if lower.startswith("usb:"):
        rest = text[4:]
        if rest.startswith("/dev/"):
            return "usb", rest
        if not rest.isdigit():
            raise SourceError(f"source {text!r}: a USB camera is usb:N with N the device number, e.g. usb:0")
        return "usb", int(rest)
    if lower.startswith("synthetic:"):
        return "synthetic", text
    if lower.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        parts = urlsplit(text)
        if not parts.hostname:
            raise SourceError(f"source {redact_url(text)!r} has no host name; expected e.g. rtsp://10.0.0.5:554/stream")
        return ("rtsp" if lower.startswith("rtsp") else "http"), text
    if lower.startswith("file://"):
        return "file", text[7:]
    if re.match(r"^[a-z][a-z0-9+.-]*://", lower):
        scheme = lower.split(":", 1)[0]
        raise SourceError(f"source {redact_url(text)!r}: scheme {scheme}:// is not supported; "
                          f"use a file path, rtsp://, http(s)://, usb:N or synthetic://")
    return "file", text


def open_source(url: str | int | os.PathLike[str], *, loop: bool = False, realtime: bool | None = None,
                open_timeout_s: float = 5.0, read_timeout_s: float = 5.0) -> FrameSource:
    """Open any supported source; raise SourceError with a clear, actionable message.

    loop: a file (or finite synthetic scene) starts again at its end, indices keep growing.
    realtime: pace reads at the source's fps like a live camera. None = on for looped
        files and the synthetic camera (the daemon's demo sources), off otherwise
        (offline counting runs as fast as it can). Live streams pace themselves.
    open_timeout_s / read_timeout_s: how long a live stream may take to connect and
        to deliver the next frame before it counts as dead.
    """
    kind, target = parse_source(url)
    if kind == "file":
        return VideoFileSource(str(target), loop=loop, realtime=loop if realtime is None else realtime)
    if kind == "synthetic":
        from campool_worker.pipeline.synthetic import SyntheticParams
        params = SyntheticParams.parse(str(target))
        return SyntheticSource(str(target), params, loop=loop, realtime=True if realtime is None else realtime)
    from campool_worker.pipeline.streams import LiveSource
    return LiveSource(kind, target, str(url), open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s)


class _Pacer:
    """Sleeps so that frames come out at `fps`, like a camera would deliver them.

    When the consumer falls behind by more than a second the schedule restarts from
    now instead of bursting to catch up; frames of a file are never dropped.
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._t0 = 0.0
        self._n = 0
        self.reset()

    def reset(self) -> None:
        self._t0 = time.monotonic()
        self._n = 0

    def wait(self) -> None:
        target = self._t0 + self._n * self.period
        now = time.monotonic()
        if target > now:
            time.sleep(target - now)
        elif now - target > 1.0:
            self._t0, self._n = now, 0
        self._n += 1


class VideoFileSource(FrameSource):
    """A video file decoded with OpenCV's FFmpeg backend, optionally looped and paced."""

    kind = "file"
    fps: float  # a file always has a rate once open: its timestamps', its header's or 25

    def __init__(self, path: str, *, loop: bool = False, realtime: bool = False) -> None:
        super().__init__(path)
        self.path = Path(path).expanduser()
        self.loop = loop
        self.seekable = True
        if not self.path.exists():
            raise SourceError(f"video file {path!r} not found; check the path")
        if self.path.is_dir():
            raise SourceError(f"{path!r} is a folder, not a video file")
        if not os.access(self.path, os.R_OK):
            raise SourceError(f"video file {path!r} is not readable; check its permissions")
        self._pending: list[np.ndarray] = []  # decoded, not yet returned, in order
        self._pos = 0  # position in the file of the next image to return
        self._index = 0  # global index of the next frame to return
        self._key = _file_key(self.path)
        self._length: int | None = _known_lengths.get(self._key) if self._key else None  # true decodable length
        self._ended = False
        with FFmpegStderr() as ffmpeg:
            self._cap = self._open_capture(ffmpeg)
            first = self._decode()
            if first is None:
                self._cap.release()
                raise SourceError(f"{path!r} is not a video OpenCV/FFmpeg can decode (no frame could be read"
                                  f"{ffmpeg.said()}); check that it is a video file such as .mp4 or .avi")
            self._pts0 = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            second = self._decode()
        header_fps = self._cap.get(cv2.CAP_PROP_FPS)
        self._dt_ms = 0.0
        if second is not None:
            self._dt_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC) - self._pts0
            self._pending = [first, second]
        else:
            self._pending = [first]
            self._learn_length(1)
        # Trust the frame timestamps over the header: some AVI headers claim twice the real rate.
        measured_fps = 1000.0 / self._dt_ms if self._dt_ms > 0 else 0.0
        if 0.5 < measured_fps < 1000 and not (header_fps > 0 and abs(measured_fps - header_fps) / header_fps < 0.02):
            log.info("video %s: header says %.3f fps, timestamps say %.3f fps; using the timestamps",
                     self.display_url, header_fps, measured_fps)
            self.fps = measured_fps
        else:
            self.fps = header_fps if 0 < header_fps < 1000 else (measured_fps or 25.0)
        if self._dt_ms <= 0:
            self._dt_ms = 1000.0 / self.fps
        self.height, self.width = first.shape[:2]
        header_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = self._length or (header_count if header_count > 0 else None)
        self._pacer = _Pacer(self.fps) if realtime else None

    def _open_capture(self, ffmpeg: FFmpegStderr | None = None) -> cv2.VideoCapture:
        try:
            # One decode thread: the cores belong to the detector; FFmpeg's frame threads cost
            # more CPU per frame than they save on a 720p stream.
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        except cv2.error as exc:
            raise SourceError(f"{self.url!r} could not be opened as a video: {exc}") from None
        if not cap.isOpened():
            said = ffmpeg.said() if ffmpeg is not None else ""
            raise SourceError(f"{self.url!r} is not a video OpenCV/FFmpeg can open{said}; check that it is a "
                              f"video file such as .mp4 or .avi")
        return cap

    def _decode(self) -> np.ndarray | None:
        """The next decoded image from the capture, or None at the end of the file.

        A read that fails or raises in the middle of a file (a corrupt packet) is
        skipped; only a long run of failures is the end of the file.
        """
        for attempt in range(_MAX_CORRUPT_READS):
            try:
                ok, img = self._cap.read()
            except cv2.error as exc:
                log.warning("video %s: skipping a frame that failed to decode: %s", self.display_url, exc)
                continue
            if ok and img is not None and img.size:
                if attempt:
                    self.skipped += attempt
                    log.warning("video %s: skipped %d undecodable frame(s) near frame %d",
                                self.display_url, attempt, self._pos)
                if img.ndim == 2 or img.shape[2] != 3:
                    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR if img.ndim == 2 else cv2.COLOR_BGRA2BGR)
                return img
        return None

    def _next_image(self) -> np.ndarray | None:
        if self._pending:
            return self._pending.pop(0)
        if self._ended:
            return None
        img = self._decode()
        if img is None:
            self._ended = True
            if self._length is None:
                self._learn_length(self._pos)  # exact: _pos is the file position we failed to decode
        return img

    def read(self) -> Frame | None:
        img = self._next_image()
        if img is None:
            if not self.loop or not self._length:
                return None
            self._rewind()
            img = self._next_image()
            if img is None:
                raise SourceError(f"video file {self.display_url}: could not read it again after the end")
        if self._pacer is not None:
            self._pacer.wait()
        frame = Frame(image=img, index=self._index, ts=time.time(), media_ts=self._index / self.fps)
        self._index += 1
        self._pos += 1
        return frame

    def _rewind(self) -> None:
        """Back to the first frame of the file for the next loop."""
        self._seek_pos(0)

    def _landed_at(self) -> int | None:
        """Which file position the capture just decoded, from its timestamp (None if unknown)."""
        pts = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        if not math.isfinite(pts) or self._dt_ms <= 0:
            return None
        return round((pts - self._pts0) / self._dt_ms)

    def _seek_pos(self, pos: int) -> None:
        """Position the decoder so that the next image is file position `pos` (exact)."""
        self._pending = []
        self._ended = False
        if self._length is not None and pos >= self._length:
            self._ended, self._pos = True, pos
            return
        img: np.ndarray | None = None
        if pos > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, pos)
            img = self._decode()
            landed = self._landed_at() if img is not None else None
            if landed == pos:
                self._pending, self._pos = [img], pos  # type: ignore[list-item]
                return
            if landed is not None and landed < pos and pos - landed <= _GRAB_FORWARD_LIMIT:
                self._skip(pos - landed - 1, start=landed + 1)
                self._pos = pos
                return
            log.debug("video %s: seek to %d landed at %s; decoding forward from the start",
                      self.display_url, pos, landed)
        # Reopen rather than seek to 0: the only way to be sure of the first frame.
        self._cap.release()
        self._cap = self._open_capture()
        self._skip(pos, start=0)
        self._pos = pos

    def _skip(self, n: int, *, start: int) -> None:
        """Decode and drop n frames from file position `start`; learns the length if the file ends."""
        for i in range(n):
            if not self._cap.grab():
                self._ended = True
                if self._length is None:
                    self._learn_length(start + i)
                return

    def _learn_length(self, n: int) -> int:
        self._length = max(n, 1)
        self.frame_count = self._length
        if self._key is not None:
            _known_lengths[self._key] = self._length
        return self._length

    def _ensure_length(self) -> int:
        """The true number of decodable frames (scans the file once; headers can lie)."""
        if self._length is not None:
            return self._length
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        n = 0
        try:
            while cap.grab():
                n += 1
        finally:
            cap.release()
        length = self._learn_length(n)
        log.info("video %s: %d decodable frames", self.display_url, n)
        return length

    def seek(self, frame_index: int) -> None:
        if frame_index < 0:
            raise SourceError(f"video {self.display_url}: cannot seek to a negative frame ({frame_index})")
        if self.loop and frame_index > 0 and self._length is not None:
            self._seek_pos(frame_index % self._length)
        else:
            # A looped file of unknown length: go straight there; only a target past the end
            # (which teaches us the length) costs a second, wrapped seek.
            self._seek_pos(frame_index)
            if self.loop and self._ended:
                self._seek_pos(frame_index % self._ensure_length())
        self._index = frame_index
        if self._pacer is not None:
            self._pacer.reset()

    def close(self) -> None:
        self._pending = []
        self._cap.release()


class SyntheticSource(FrameSource):
    """The built-in synthetic camera (see synthetic.py): seeded objects crossing the frame."""

    kind = "synthetic"

    def __init__(self, url: str, params: SyntheticParams, *, loop: bool, realtime: bool) -> None:
        from campool_worker.pipeline.synthetic import SyntheticScene
        super().__init__(url)
        self.params = params
        self.scene = SyntheticScene(params)
        self.fps = params.fps
        self.width, self.height = params.width, params.height
        self.frame_count = params.frames
        self.seekable = True
        self.loop = loop
        self._index = 0
        self._closed = False
        self._pacer = _Pacer(self.fps) if realtime else None

    def read(self) -> Frame | None:
        if self._closed:
            raise SourceError(f"source {self.url} is closed")
        if self.frame_count is not None and not self.loop and self._index >= self.frame_count:
            return None
        if self._pacer is not None:
            self._pacer.wait()
        img = self.scene.render(self._index)
        frame = Frame(image=img, index=self._index, ts=time.time(), media_ts=self._index / self.params.fps)
        self._index += 1
        return frame

    def seek(self, frame_index: int) -> None:
        if frame_index < 0:
            raise SourceError(f"source {self.url}: cannot seek to a negative frame ({frame_index})")
        self._index = frame_index
        if self._pacer is not None:
            self._pacer.reset()

    def close(self) -> None:
        self._closed = True

