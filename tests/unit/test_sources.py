"""Decoding files and the synthetic camera: frame counts, indices, seeking, bad input."""
from __future__ import annotations

import hashlib
import itertools
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from campool_worker.errors import SourceError
from campool_worker.pipeline.sources import open_source, parse_source, redact_url
from campool_worker.pipeline.synthetic import SyntheticParams, SyntheticScene


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(image.tobytes(), digest_size=16).digest()


@dataclass
class Decoded:
    """What a test needs to know of a decoded video without holding ~1 GB of pictures."""

    indices: list[int]
    digests: list[bytes]
    media_ts: list[float]
    ts: list[float]
    shape: tuple[int, ...]


def _decode_all(url, **kw) -> Decoded:
    out = Decoded([], [], [], [], ())
    with open_source(str(url), **kw) as src:
        for f in src:
            out.indices.append(f.index)
            out.digests.append(_digest(f.image))
            out.media_ts.append(f.media_ts)
            out.ts.append(f.ts)
            out.shape = f.image.shape
    return out


@pytest.fixture(scope="module")
def highway_frames(highway_video) -> Decoded:
    return _decode_all(highway_video)


# ---- files -----------------------------------------------------------------------

def test_file_yields_every_frame_once_with_consecutive_indices(highway_video, highway_frames):
    assert highway_frames.indices == list(range(450))  # the shared data README: 450 frames
    assert highway_frames.shape == (720, 1280, 3)
    assert len(set(highway_frames.digests)) > 400  # real, changing pictures
    with open_source(str(highway_video)) as src:
        assert (src.width, src.height, src.frame_count, src.seekable) == (1280, 720, 450, True)
        assert src.fps == pytest.approx(29.97, abs=0.01)
        assert src.read().image.dtype == np.uint8
    # media time follows the frame rate, wall-clock ts never goes backwards
    assert highway_frames.media_ts[300] == pytest.approx(300 / 29.97, abs=1e-3)
    assert all(a <= b for a, b in zip(highway_frames.ts, highway_frames.ts[1:]))


def test_end_of_a_file_keeps_returning_none(highway_video):
    with open_source(str(highway_video)) as src:
        src.seek(449)
        assert src.read().index == 449
        assert src.read() is None
        assert src.read() is None


def test_looped_file_indices_keep_growing_and_the_picture_starts_over(highway_video, highway_frames):
    with open_source(str(highway_video), loop=True, realtime=False) as src:
        frames = [src.read() for _ in range(455)]
    assert [f.index for f in frames] == list(range(455))
    assert _digest(frames[450].image) == highway_frames.digests[0]
    assert _digest(frames[454].image) == highway_frames.digests[4]
    assert frames[452].media_ts > frames[449].media_ts


def test_seek_lands_on_exactly_the_frame_sequential_decoding_gives(highway_video, highway_frames):
    with open_source(str(highway_video)) as src:
        for target in (137, 3, 449, 200):
            src.seek(target)
            frame = src.read()
            assert frame.index == target
            assert _digest(frame.image) == highway_frames.digests[target], f"seek to {target}"


def test_seek_in_avi_whose_header_lies_is_still_exact(plaza_video):
    # plaza.avi claims 682 frames at 50 fps; OpenCV's own seek to 300 lands on frame 172.
    with open_source(str(plaza_video)) as src:
        assert src.fps == pytest.approx(25.0, abs=0.1)  # its timestamps say 25 fps
        sequential = [_digest(f.image) for f in src]
        assert len(sequential) == 341
        assert src.frame_count == 341  # learned at the end, replacing the header's 682
        for target in (300, 10, 250, 340):
            src.seek(target)
            assert _digest(src.read().image) == sequential[target], f"seek to {target}"
        src.seek(341)
        assert src.read() is None


def test_seek_on_a_looped_file_wraps_into_the_file(plaza_video):
    with open_source(str(plaza_video), loop=True, realtime=False) as src:
        first = [src.read().image for _ in range(12)]
        src.seek(341 * 2 + 11)
        frame = src.read()
        assert src.frame_count == 341
    assert frame.index == 341 * 2 + 11
    assert np.array_equal(frame.image, first[11])


def test_looped_seek_within_a_new_file_needs_no_scan_and_past_its_end_wraps(plaza_video, monkeypatch):
    # A camera handed over to another worker resumes at a frame of a looped file: inside the
    # file that is one seek, not a scan of the whole file for its length (seconds on 2 cores).
    from campool_worker.pipeline import sources
    monkeypatch.setattr(sources, "_known_lengths", {})
    with open_source(str(plaza_video), loop=True, realtime=False) as src:
        sequential = [_digest(src.read().image) for _ in range(120)]
        src.seek(100)
        assert src.read().index == 100 and sources._known_lengths == {}
        assert _digest(src.read().image) == sequential[101]
    with open_source(str(plaza_video), loop=True, realtime=False) as src:
        src.seek(341 + 7)                       # past the end: learns the length, then wraps
        frame = src.read()
        assert (frame.index, src.frame_count, _digest(frame.image)) == (348, 341, sequential[7])
    assert list(sources._known_lengths.values()) == [341]
    with open_source(str(plaza_video), loop=True, realtime=False) as src:
        assert src.frame_count == 341           # known from then on, even though the header says 682


def _corrupt_copy(src: Path, dst: Path, at: float, size: int) -> Path:
    data = bytearray(src.read_bytes())
    start = int(len(data) * at)
    rng = np.random.default_rng(7)
    data[start:start + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("video_fixture", ["highway_video", "plaza_video"])
def test_garbage_in_the_middle_of_a_file_is_skipped_not_fatal(request, tmp_path, video_fixture):
    video = request.getfixturevalue(video_fixture)
    clean = _decode_all(video)
    broken = _corrupt_copy(video, tmp_path / ("broken" + video.suffix), at=0.5, size=64 * 1024)
    frames = _decode_all(broken)
    # Decoding goes on past the damage to the end of the file: the loss is a few
    # frames, never the rest of the video, and indices stay consecutive.
    assert 0.9 * len(clean.indices) <= len(frames.indices) < len(clean.indices)
    assert frames.indices == list(range(len(frames.indices)))
    assert frames.digests[0] == clean.digests[0]
    assert frames.digests[-1] == clean.digests[-1]  # clean pictures again after the damage


def test_truncated_file_ends_cleanly(tmp_path, plaza_video):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(plaza_video.read_bytes()[: plaza_video.stat().st_size // 2])
    frames = _decode_all(cut)
    assert 50 < len(frames.indices) < 341


@pytest.mark.parametrize("make, expect", [
    (lambda d: d / "nope.mp4", "not found; check the path"),
    (lambda d: d, "is a folder"),
    (lambda d: _write(d / "notes.mp4", b"these are not the frames you are looking for\n" * 50), "not a video"),
    (lambda d: _write(d / "empty.avi", b""), "not a video"),
])
def test_bad_files_give_one_clear_error(tmp_path, make, expect):
    with pytest.raises(SourceError, match=expect):
        open_source(str(make(tmp_path)))


def test_what_ffmpeg_says_about_a_bad_file_is_in_our_error_not_on_stderr(tmp_path, capfd, highway_video):
    bad = _write(tmp_path / "notes.mp4", b"hello\n" * 100)
    with pytest.raises(SourceError, match=r"notes\.mp4.* \(FFmpeg: moov atom not found\); check"):
        open_source(str(bad))
    with open_source(str(highway_video)):  # a good file: nothing to hold back, nothing made up
        pass
    assert capfd.readouterr().err == ""


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("url, expect", [
    ("", "source is empty"),
    ("ftp://cam.local/stream", "ftp:// is not supported"),
    ("usb:front", "usb:N"),
    ("rtsp:///stream", "no host name"),
    ("synthetic://?objects=0", "out of range"),
    ("synthetic://?colour=red", "unknown parameter"),
    ("synthetic://?fps=fast", "not a number"),
])
def test_malformed_sources_are_rejected_before_any_io(url, expect):
    with pytest.raises(SourceError, match=expect):
        open_source(url)


def test_source_kinds_are_recognised():
    assert parse_source("usb:2") == ("usb", 2)
    assert parse_source("0") == ("usb", 0)
    assert parse_source(1) == ("usb", 1)
    assert parse_source("rtsp://cam/x")[0] == "rtsp"
    assert parse_source("https://cam/mjpeg")[0] == "http"
    assert parse_source("file:///v/a.mp4") == ("file", "/v/a.mp4")
    assert parse_source("synthetic://?seed=3")[0] == "synthetic"


def test_passwords_never_reach_error_text():
    assert redact_url("rtsp://admin:s3cret@10.0.0.5:554/s") == "rtsp://admin:•••@10.0.0.5:554/s"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError) as err:
        open_source(f"rtsp://admin:s3cret@127.0.0.1:{port}/s")
    assert "s3cret" not in str(err.value)


def test_unreachable_stream_fails_fast_with_the_reason():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=rf"cannot connect to 127.0.0.1:{port} \(Connection refused\)"):
        open_source(f"rtsp://127.0.0.1:{port}/cam", open_timeout_s=2)
    with pytest.raises(SourceError, match="cannot resolve host"):
        open_source("http://no-such-camera.invalid/video.mjpg", open_timeout_s=2)
    assert time.monotonic() - t0 < 10


def test_missing_usb_camera_says_which_device():
    with pytest.raises(SourceError, match=r"USB camera 63 not found \(/dev/video63"):
        open_source("usb:63")


# ---- synthetic camera ------------------------------------------------------------

SYN = "synthetic://?w=320&h=240&fps=20&objects=3&seed=5"


def test_synthetic_camera_is_deterministic_per_seed():
    a = [f.image for _, f in zip(range(60), open_source(SYN, realtime=False))]
    b = [f.image for _, f in zip(range(60), open_source(SYN, realtime=False))]
    c = [f.image for _, f in zip(range(60), open_source(SYN.replace("seed=5", "seed=6"), realtime=False))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert a[0].shape == (240, 320, 3)
    # objects move: consecutive frames differ
    assert sum(not np.array_equal(x, y) for x, y in itertools.pairwise(a)) > 40


def test_synthetic_seek_equals_sequential_reading():
    seq = [f.image for _, f in zip(range(200), open_source(SYN, realtime=False))]
    with open_source(SYN, realtime=False) as src:
        src.seek(150)
        frame = src.read()
    assert frame.index == 150 and np.array_equal(frame.image, seq[150])


def test_synthetic_objects_are_drawn_where_the_scene_says():
    scene = SyntheticScene(SyntheticParams.parse(SYN))
    seen = 0
    for i in range(0, 200, 7):
        img = scene.render(i)
        for obj, (x1, y1, x2, y2) in scene.objects_at(i):
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            if 2 <= cy < 238:
                assert tuple(img[cy, cx]) == obj.color
                seen += 1
    assert seen > 20


def test_synthetic_ground_truth_has_crossings_both_ways():
    scene = SyntheticScene(SyntheticParams.parse(SYN))
    crossings = scene.crossings(120, 600)  # 30 s of video at 20 fps
    directions = {d for _, _, d in crossings}
    assert len(crossings) >= 10 and directions == {1, -1}
    assert len({oid for _, oid, _ in crossings}) == len(crossings)  # each object crosses once


def test_finite_synthetic_scene_ends_or_loops():
    url = SYN + "&frames=30"
    assert len(_decode_all(url, realtime=False).indices) == 30
    with open_source(url, loop=True, realtime=False) as src:
        frames = [src.read() for _ in range(35)]
    assert frames[-1].index == 34
    assert np.array_equal(frames[31].image, frames[1].image)


def test_realtime_pacing_delivers_frames_at_the_source_rate():
    with open_source("synthetic://?w=64&h=64&fps=40", realtime=True) as src:
        t0 = time.monotonic()
        for _ in range(21):
            src.read()
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.45  # 20 frame periods of 25 ms; without pacing it takes ~1 ms


def test_looped_file_is_paced_like_a_camera_by_default(highway_video):
    with open_source(str(highway_video), loop=True) as src:
        t0 = time.monotonic()
        for _ in range(16):
            src.read()
        assert time.monotonic() - t0 >= 0.45  # 15 periods at 29.97 fps
