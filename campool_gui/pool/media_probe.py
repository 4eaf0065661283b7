"""What the master needs to know of a job's files before it cuts them: frames, rate, size, start time.

Bad input is refused here, where it enters, with one line that says what to do (issue #13): a
file that is not a video, a folder that cannot be read or holds no video, a line or zone that
lies outside the picture. Nothing is queued then.

The recording's start time: given by the operator, else the MP4/MOV ``mvhd`` creation time
(what cameras and recorders write; read from the file itself, no ffprobe needed), else the
file's modification time minus its duration (a recorder writes the file to its end).
"""
from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

from campool_worker.camera import CountingLine, Zone
from campool_worker.errors import CampoolError

from .jobs import JobError, MediaInfo

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".ts", ".mts", ".webm", ".mpg", ".mpeg"})
EXACT_SCAN_FRAMES = 20_000  # headers can lie (plaza.avi says 682 frames, holds 341): count the short ones
_MP4_EPOCH = 2_082_844_800  # seconds from 1904-01-01 (QuickTime's epoch) to 1970-01-01


def expand_files(items: list[str]) -> list[str]:
    """The video files of `items` (files, or folders whose videos are taken in name order)."""
    out: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            try:
                names = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            except OSError as exc:
                raise JobError(f"cannot read the folder {item!r} ({exc.strerror}); check its permissions") from None
            if not names:
                raise JobError(f"the folder {item!r} holds no video file ({', '.join(sorted(VIDEO_SUFFIXES))})")
            out.extend(str(p) for p in names)
        elif not path.exists():
            raise JobError(f"{item!r} does not exist; give a video file or a folder of them")
        else:
            out.append(str(path))
    return out


def mp4_creation_time(path: str) -> float | None:
    """The ``mvhd`` creation time of an MP4/MOV file (epoch seconds), or None."""
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            pos = 0
            while pos + 8 <= end:
                f.seek(pos)
                size, kind = struct.unpack(">I4s", f.read(8))
                header = 8
                if size == 1:
                    size, header = struct.unpack(">Q", f.read(8))[0], 16
                elif size == 0:
                    size = end - pos
                if size < header:
                    return None
                if kind == b"moov":  # descend: mvhd is its first child in practice
                    pos += header
                    end = min(end, pos - header + size)
                    continue
                if kind == b"mvhd":
                    version = f.read(1)[0]
                    f.read(3)
                    raw = struct.unpack(">Q", f.read(8))[0] if version == 1 else struct.unpack(">I", f.read(4))[0]
                    return float(raw - _MP4_EPOCH) if raw > _MP4_EPOCH else None
                pos += size
    except (OSError, struct.error, IndexError):
        return None
    return None


def probe(path: str, start_time: float | None = None) -> MediaInfo:
    """The file's facts; JobError with one line when it is no video OpenCV/FFmpeg can decode."""
    from campool_worker.pipeline.sources import VideoFileSource  # OpenCV: only where a file is probed

    if not os.access(path, os.R_OK):
        raise JobError(f"{path!r} is not readable; check its permissions")
    try:
        src = VideoFileSource(path)
    except CampoolError as exc:
        raise JobError(str(exc)) from None
    try:
        frames = src.frame_count or 0
        if frames <= EXACT_SCAN_FRAMES:
            frames = src._ensure_length()
        fps, width, height = float(src.fps), src.width, src.height
    finally:
        src.close()
    if frames <= 0:
        raise JobError(f"{path!r}: the video has no frame to count")
    source = "given"
    if start_time is None:
        start_time = mp4_creation_time(path)
        source = "metadata"
        if start_time is None:
            start_time, source = os.path.getmtime(path) - frames / fps, "mtime"
    return MediaInfo(path, frames, fps, width, height, float(start_time), source)


def probe_all(files: list[str], start_time: float | None = None) -> list[MediaInfo]:
    """Every file probed; a given start time is the first file's, the next ones follow on."""
    out: list[MediaInfo] = []
    for i, path in enumerate(files):
        given = None
        if start_time is not None:
            given = start_time if i == 0 else out[-1].start_time + out[-1].duration_s
        out.append(probe(path, given))
    return out


def check_shapes(lines: tuple[CountingLine, ...], zones: tuple[Zone, ...], media: list[MediaInfo]) -> None:
    """Refuse a line or zone outside a file's picture (it could never count)."""
    for m in media:
        for ln in lines:
            if ln.outside(m.width, m.height):
                raise JobError(f"line {ln.name!r} ({ln.p1[0]:g},{ln.p1[1]:g} -> {ln.p2[0]:g},{ln.p2[1]:g}) lies "
                               f"outside the {m.width}x{m.height} picture of {m.path}; draw it inside the picture")
        for z in zones:
            if z.outside(m.width, m.height):
                raise JobError(f"zone {z.name!r} lies outside the {m.width}x{m.height} picture of {m.path}")
