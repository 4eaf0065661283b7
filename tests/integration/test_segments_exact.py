"""Segments of a file, each warmed up and cut, join into exactly one pass (issue #13).

The real path: every segment seeks the file to its warm-up, runs detector, tracker and counter
through it without reporting, and reports the crossings of its own frame range. Cuts are placed
right on crossing frames (the counter fires on a segment's first frame) and one frame after
them (on a segment's last frame), the two places an off-by-one would show. Detection is
throttled to 10 per second of video, so the detector's media-time slots must line up across
every seek as well. Compared crossing by crossing: frame, line, direction, class.
"""
from __future__ import annotations

import itertools

import pytest

from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.pipeline.camera_pipeline import load_detector
from campool_worker.pipeline.segments import Segment, count_segment, warmup_frames
from campool_worker.pipeline.sources import VideoFileSource

pytestmark = pytest.mark.slow


def _key(c):
    return (c.frame_index, c.line, c.direction, c.class_name)


def _joined(config, path, cuts, n, warmup):
    detector = load_detector(config.model, confidence=config.confidence, classes=config.classes)
    bounds = [0, *cuts, n]
    out = []
    for a, b in itertools.pairwise(bounds):
        res = count_segment(config, Segment(path, a, b, warmup if a else 0), detector)
        assert res.frames == b - a and res.ended_at is None
        out.extend(_key(c) for c in res.crossings)
    return out


@pytest.mark.parametrize("video, line", [("highway_video", "near:0,500,1280,500"),
                                         ("plaza_video", "mid:440,420,1160,420")])
def test_joined_segments_equal_one_pass_crossing_by_crossing(video, line, yolox_model, request):
    path = str(request.getfixturevalue(video))
    src = VideoFileSource(path)
    header_frames, fps = src.frame_count, src.fps
    src.close()
    config = CameraConfig("job", path, lines=[CountingLine.parse(line)], model=str(yolox_model), detect_fps=10.0)
    detector = load_detector(config.model, confidence=config.confidence)
    one = count_segment(config, Segment(path, 0, header_frames, 0), detector)
    n = one.ended_at or header_frames  # plaza.avi's header says 682 frames; it holds 341
    single = [_key(c) for c in one.crossings]
    assert len(single) >= 10, single  # the clip has traffic to cut through
    frames = [f for f, *_ in single]
    # On a crossing's frame, one frame after another's, and a plain cut between crossings.
    cuts = sorted({frames[2], frames[len(frames) // 2] + 1, (frames[-3] + frames[-2]) // 2 + 1})
    joined = _joined(config, path, cuts, n, warmup_frames(fps))
    assert joined == single


def test_a_segment_past_the_end_of_the_file_is_empty_and_says_where_the_file_ends(highway_video):
    config = CameraConfig("job", str(highway_video), lines=[CountingLine.parse("near:0,500,1280,500")])
    res = count_segment(config, Segment(str(highway_video), 900, 1000, 10), load_detector(None))
    assert res.frames == 0 and res.crossings == [] and res.ended_at == 450


def test_a_last_segment_longer_than_the_file_ends_with_the_file(highway_video):
    config = CameraConfig("job", str(highway_video), lines=[CountingLine.parse("near:0,500,1280,500")])
    res = count_segment(config, Segment(str(highway_video), 400, 600, 5), load_detector(None))
    assert res.frames == 50 and res.ended_at == 450 and res.warmup_frames == 5
