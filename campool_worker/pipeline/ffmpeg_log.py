"""FFmpeg's own messages on stderr, held back while a video file is opened (see `FFmpegStderr`)."""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)

_PREFIX = re.compile(r"^\[[^\]]*@ *0x[0-9a-fA-F]+\] *")  # "[mov,mp4,... @ 0x55d0c3a1b840] "


class FFmpegStderr:
    """Holds back what FFmpeg writes to stderr while a video file is opened in the main thread.

    FFmpeg logs straight to file descriptor 2 ("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55..] moov atom
    not found"), beside our own one-line error. OpenCV can silence it only process-wide and for
    good (OPENCV_FFMPEG_LOGLEVEL, read once), which would also hide why an RTSP camera refuses
    us. So fd 2 points at a temporary file for the open: if the open fails, FFmpeg's last line
    goes into our error (``said()``) and the rest to the debug log; if it succeeds, everything
    is written to stderr as it would have been. Other threads (the daemon's cameras) are left
    alone: fd 2 belongs to the whole process, and only the main thread may borrow it.
    """

    def __init__(self) -> None:
        self._saved: int | None = None
        self._tmp: Any = None

    def __enter__(self) -> Self:
        if threading.current_thread() is not threading.main_thread():
            return self
        try:
            sys.stderr.flush()
            self._tmp = tempfile.TemporaryFile(buffering=0)  # unbuffered: FFmpeg writes to the same file
            self._saved = os.dup(2)
            os.dup2(self._tmp.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no fd 2 (a Windows GUI process): nothing to hold back
            self._restore()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        data = self._restore()
        if not data:
            return
        if exc_type is None:
            os.write(2, data)
        else:
            log.debug("FFmpeg said while opening the video: %s", data.decode(errors="replace").strip())

    def _restore(self) -> bytes:
        data = b""
        if self._saved is not None:
            try:
                sys.stderr.flush()  # Python's own writes of the window go to the file too
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
        if self._tmp is not None:
            self._tmp.seek(0)
            data = self._tmp.read()
            self._tmp.close()
            self._tmp = None
        return data

    def said(self) -> str:
        """FFmpeg's last line so far, without its "[demuxer @ address]" prefix, for an error
        message ("" when it said nothing or its words were not held back)."""
        if self._tmp is None:
            return ""
        size = self._tmp.seek(0, os.SEEK_END)
        self._tmp.seek(max(0, size - 4096))
        lines = [ln.strip() for ln in self._tmp.read().decode(errors="replace").splitlines() if ln.strip()]
        self._tmp.seek(0, os.SEEK_END)
        if not lines:
            return ""
        last = _PREFIX.sub("", lines[-1])[:160]
        return f" (FFmpeg: {last})" if last else ""
