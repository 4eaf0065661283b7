"""The real YOLOX-nano model: layout, detections on a real frame, dynamic batching across cameras."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from campool_worker.pipeline.camera_pipeline import load_detector
from campool_worker.pipeline.detectors import BatchingRunner, OnnxDetector, OnnxModel, make_batch_dynamic

onnx = pytest.importorskip("onnx")


def frames_of(video, indices: list[int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    out, i = [], 0
    while len(out) < len(indices):
        ok, img = cap.read()
        assert ok
        if i in indices:
            out.append(img)
        i += 1
    return out


def dynamic_copy(model_path, tmp_path):
    return make_batch_dynamic(model_path, tmp_path / "yolox_nano_dynamic.onnx")


def test_editing_only_the_dims_is_detected_and_not_batched(yolox_model, highway_video, tmp_path):
    # What a user might do by hand: the graph then runs batches but mixes the images.
    m = onnx.load(str(yolox_model))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "dims_only.onnx"
    onnx.save(m, str(path))
    model = OnnxModel(path)
    assert not model.dynamic_batch  # probed, found wrong, so frames go one per call
    images = frames_of(highway_video, [0, 200])
    reference = OnnxDetector(OnnxModel(yolox_model))
    for img, got in zip(images, OnnxDetector(model).detect(images)):
        same(reference.detect([img])[0], got)


def same(a, b) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_shared_model_is_recognised_and_finds_the_cars(yolox_model, highway_video):
    det = load_detector(str(yolox_model), classes=["car", "truck", "bus", "motorcycle"])
    assert det.model.info.layout == "yolox" and det.model.input_hw == (416, 416)
    assert det.provider == "CPUExecutionProvider" and not det.model.dynamic_batch
    (frame,) = frames_of(highway_video, [0])
    d = det.detect([frame])[0]
    # frame 0 (looked at): the white car on the line and six cars further up the road
    assert len(d) >= 6
    white = d.boxes[np.argmax(d.scores)]
    assert 250 < white[0] < 330 and 450 < white[1] < 500 and 540 < white[3] < 600
    assert {det.class_names[c] for c in d.class_ids} <= {"car", "truck", "bus", "motorcycle"}


def test_dynamic_batch_gives_the_same_detections_as_batch_one(yolox_model, highway_video, tmp_path):
    images = frames_of(highway_video, [0, 100, 200, 300])
    single = OnnxDetector(OnnxModel(yolox_model))
    batched_model = OnnxModel(dynamic_copy(yolox_model, tmp_path))
    assert batched_model.dynamic_batch
    batched = OnnxDetector(batched_model)
    one_call = batched.detect(images)  # one inference call for four cameras
    for img, b in zip(images, one_call):
        same(single.detect([img])[0], b)


def test_batching_runner_serves_many_camera_threads_with_correct_results(yolox_model, highway_video, tmp_path):
    images = frames_of(highway_video, [10, 60, 110, 160, 210, 260])
    model = OnnxModel(dynamic_copy(yolox_model, tmp_path))
    runner = BatchingRunner(model, max_batch=8)
    det = OnnxDetector(model, runner=runner)
    reference = [OnnxDetector(model).detect([img])[0] for img in images]
    results: dict[int, list] = {}
    together = threading.Barrier(len(images))

    def camera(i: int) -> None:
        together.wait()
        results[i] = [det.detect([images[i]])[0] for _ in range(5)]

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    runner.close()
    assert runner.images == 30 and runner.largest_batch > 1  # cameras really shared calls
    for i, ref in enumerate(reference):
        for got in results[i]:
            same(ref, got)
