"""Detector decoding, NMS and model loading, on tiny ONNX graphs whose output we know exactly."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx")

from campool_worker.errors import ModelError
from campool_worker.pipeline.detectors import (
    COCO_CLASSES,
    OnnxDetector,
    OnnxModel,
    anchor_grid,
    box_iou,
    classify_output,
    nms,
)
from tests.helpers.tiny_onnx import constant_model

SIZE = 32  # a 32x32 input has 4*4 + 2*2 + 1*1 = 21 anchors over strides 8/16/32
ANCHORS = 21


def v8_output(dets: list[tuple[int, int, float, tuple[float, float, float, float]]], classes: int = 80) -> np.ndarray:
    """[1, 4+C, A]: (anchor, class, score, (cx, cy, w, h) in input pixels)."""
    out = np.zeros((1, 4 + classes, ANCHORS), np.float32)
    for a, c, s, box in dets:
        out[0, :4, a] = box
        out[0, 4 + c, a] = s
    return out


def test_nms_keeps_best_of_overlapping_boxes_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 0, 1])
    keep = nms(boxes, scores, 0.5, classes)
    # box 1 overlaps box 0 of the same class; box 3 is the same place but another class
    assert keep.tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]  # class-agnostic: one box per place


def test_nms_handles_empty_input():
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).size == 0


def test_box_iou_of_known_boxes():
    iou = box_iou(np.array([[0, 0, 10, 10]], np.float32), np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32))
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == 0


def test_anchor_grid_order_matches_yolox():
    grid, strides = anchor_grid(SIZE, SIZE)
    assert grid.shape == (ANCHORS, 2) and strides.shape == (ANCHORS, 1)
    assert grid[:5].tolist() == [[0, 0], [1, 0], [2, 0], [3, 0], [0, 1]]  # x varies fastest
    assert strides[:16].ravel().tolist() == [8] * 16 and strides[16:20].ravel().tolist() == [16] * 4
    assert strides[20, 0] == 32


def test_yolov8_layout_is_recognised_and_decoded_with_centred_letterbox(tmp_path):
    out = v8_output([
        (5, 2, 0.9, (16, 16, 8, 12)),  # car
        (7, 2, 0.6, (16.5, 16, 8, 12)),  # the same car again, weaker: NMS removes it
        (9, 0, 0.8, (6, 20, 4, 6)),  # person
        (11, 0, 0.1, (25, 25, 4, 4)),  # below the confidence threshold
    ])
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", out))
    assert model.info.layout == "yolov8" and model.info.num_classes == 80
    det = OnnxDetector(model, confidence=0.3)
    assert det.class_names == list(COCO_CLASSES)
    frame = np.zeros((48, 64, 3), np.uint8)  # r = 0.5, centred: 24 rows of image, 4 rows pad on top
    d = det.detect([frame])[0]
    assert len(d) == 2
    order = np.argsort(-d.scores)
    assert d.class_ids[order].tolist() == [2, 0]
    # car: input (12..20, 10..22) -> frame ((x - 0) / 0.5, (y - 4) / 0.5)
    np.testing.assert_allclose(d.boxes[order[0]], [24, 12, 40, 36], atol=1e-4)
    np.testing.assert_allclose(d.boxes[order[1]], [8, 26, 16, 38], atol=1e-4)
    assert d.scores[order].tolist() == pytest.approx([0.9, 0.8])


def test_yolov8_class_filter_and_min_score(tmp_path):
    out = v8_output([(5, 2, 0.9, (16, 16, 8, 12)), (9, 0, 0.8, (6, 20, 4, 6)), (13, 7, 0.2, (20, 8, 6, 6))])
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", out))
    frame = np.zeros((32, 32, 3), np.uint8)
    cars = OnnxDetector(model, classes=["car", "truck"]).detect([frame])[0]
    assert [COCO_CLASSES[i] for i in cars.class_ids] == ["car"]
    low = OnnxDetector(model, classes=["car", "truck"]).detect([frame], min_score=0.1)[0]
    assert sorted(COCO_CLASSES[i] for i in low.class_ids) == ["car", "truck"]


def test_a_custom_model_counts_by_the_class_names_its_camera_gives(tmp_path):
    from campool_worker.pipeline.camera_pipeline import load_detector

    out = v8_output([(5, 1, 0.9, (16, 16, 8, 12)), (9, 0, 0.8, (6, 20, 4, 6))], classes=2)
    path = constant_model(tmp_path / "parts.onnx", out)
    det = load_detector(str(path), class_names=["bolt", "nut"], classes=["nut"])
    found = det.detect([np.zeros((32, 32, 3), np.uint8)])[0]
    assert [det.class_names[i] for i in found.class_ids] == ["nut"]
    with pytest.raises(ModelError, match="2 classes but the labels file has 3"):
        load_detector(str(path), class_names=["bolt", "nut", "washer"])
    with pytest.raises(ModelError, match="car"):
        load_detector(str(path), class_names=["bolt", "nut"], classes=["car"])


def test_yolox_raw_layout_grid_decode_with_top_left_letterbox(tmp_path):
    raw = np.zeros((1, ANCHORS, 85), np.float32)
    raw[:, :, 4] = 0.01  # background objectness
    # anchor 6 = stride 8, cell (2, 1): centre offset (0.5, 0.25), w = e^ln2 * 8 = 16, h = e^0 * 8 = 8
    raw[0, 6, :5] = [0.5, 0.25, math.log(2), 0.0, 0.9]
    raw[0, 6, 5 + 7] = 0.8  # truck
    # anchor 17 = stride 16, cell (1, 0): centre (24, 8), w = h = 16
    raw[0, 17, :5] = [0.5, 0.5, 0.0, 0.0, 0.5]
    raw[0, 17, 5 + 0] = 0.9  # person, score 0.45
    model = OnnxModel(constant_model(tmp_path / "yolox.onnx", raw))
    assert model.info.layout == "yolox" and model.info.num_classes == 80
    frame = np.zeros((64, 64, 3), np.uint8)  # r = 0.5, no padding needed
    d = OnnxDetector(model, confidence=0.3).detect([frame])[0]
    got = {COCO_CLASSES[c]: (b.tolist(), s) for b, s, c in zip(d.boxes, d.scores, d.class_ids)}
    # truck centre ((0.5 + 2) * 8, (0.25 + 1) * 8) = (20, 10), 16 x 8, then / 0.5
    np.testing.assert_allclose(got["truck"][0], [24, 12, 56, 28], atol=1e-4)
    assert got["truck"][1] == pytest.approx(0.72)
    np.testing.assert_allclose(got["person"][0], [32, 0, 64, 32], atol=1e-4)  # clipped to the frame


def test_cross_class_duplicates_are_merged(tmp_path):
    # one vehicle scored "car" at one anchor and "truck" at the next: one detection, the better one
    out = v8_output([(5, 2, 0.7, (16, 16, 10, 10)), (6, 7, 0.6, (16.5, 16, 10, 10))])
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", out))
    d = OnnxDetector(model).detect([np.zeros((32, 32, 3), np.uint8)])[0]
    assert len(d) == 1 and COCO_CLASSES[d.class_ids[0]] == "car"


def test_labels_file_names_classes_and_must_match(tmp_path):
    out = v8_output([(5, 1, 0.9, (16, 16, 8, 12))], classes=3)
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", out))
    assert model.info.num_classes == 3
    d = OnnxDetector(model, class_names=["cat", "forklift", "pallet"], classes=["forklift"])
    assert d.class_names[d.detect([np.zeros((32, 32, 3), np.uint8)])[0].class_ids[0]] == "forklift"
    with pytest.raises(ModelError, match="3 classes but the labels file has 2"):
        OnnxDetector(model, class_names=["cat", "forklift"])
    assert OnnxDetector(model).class_names == ["class0", "class1", "class2"]


def test_unknown_class_name_is_a_clear_error(tmp_path):
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", v8_output([])))
    with pytest.raises(ModelError, match="'cars' is not one of the model's classes"):
        OnnxDetector(model, classes=["cars"])


def test_missing_and_non_onnx_files_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        OnnxModel(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_text("this is not a model\n")
    with pytest.raises(ModelError, match="not an ONNX model"):
        OnnxModel(junk)
    with pytest.raises(ModelError, match="is a folder"):
        OnnxModel(tmp_path)


def test_unknown_output_layout_is_a_model_error(tmp_path):
    path = constant_model(tmp_path / "odd.onnx", np.zeros((1, 7), np.float32))
    with pytest.raises(ModelError, match=r"output shape \[1, 7\] is not a layout"):
        OnnxModel(path)


def test_classify_output_shapes():
    assert classify_output((1, 84, 8400), (640, 640)).layout == "yolov8"
    assert classify_output((1, 3549, 85), (416, 416)).layout == "yolox"
    assert classify_output((1, 8400, 84), (640, 640)).layout == "yolov8_transposed"
    decoded = np.zeros((1, 3549, 85), np.float32)
    decoded[0, :, 0] = np.arange(3549) % 416  # box centres in pixels: already decoded
    assert classify_output((1, 3549, 85), (416, 416), decoded).layout == "yolox_decoded"
    with pytest.raises(ModelError):
        classify_output((1, 100, 85), (416, 416))


def test_provider_and_threads_are_reported(tmp_path):
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", v8_output([])), intra_op_threads=1)
    assert model.provider == "CPUExecutionProvider"  # this machine has no GPU
    assert model.intra_op_threads == 1
    assert model.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("layout, out", [
    ("yolov8", v8_output([])),
    ("yolox", np.zeros((1, ANCHORS, 85), np.float32)),
])
@pytest.mark.parametrize("shape", [(48, 64), (64, 48), (32, 32), (720, 1280)])
def test_letterbox_blob_matches_the_reference_recipe(tmp_path, layout, out, shape):
    model = OnnxModel(constant_model(tmp_path / "m.onnx", out))
    assert model.info.layout == layout
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (*shape, 3), np.uint8)
    blob, box = model.preprocess(img)
    # the reference: pad a canvas with 114, paste the resized frame, transpose, convert
    r = min(SIZE / shape[0], SIZE / shape[1])
    nh, nw = int(shape[0] * r), int(shape[1] * r)
    canvas = np.full((SIZE, SIZE, 3), 114, np.uint8)
    px, py = (0, 0) if layout == "yolox" else ((SIZE - nw) // 2, (SIZE - nh) // 2)
    canvas[py:py + nh, px:px + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ref = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    if layout == "yolov8":
        ref = ref[:, ::-1] / 255.0  # RGB, 0..1
    np.testing.assert_allclose(blob, ref, rtol=1e-6, atol=1e-6)
    assert (box.scale, box.pad_x, box.pad_y, box.width, box.height) == (r, px, py, shape[1], shape[0])


def test_gpu_providers_fall_back_to_cpu_when_not_available(tmp_path):
    # this machine's onnxruntime has no CUDA/TensorRT: asking for them must still give a working model
    model = OnnxModel(constant_model(tmp_path / "v8.onnx", v8_output([(5, 2, 0.9, (16, 16, 8, 12))])),
                      providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    assert model.provider == "CPUExecutionProvider"
    assert len(OnnxDetector(model).detect([np.zeros((32, 32, 3), np.uint8)])[0]) == 1


def test_yolox_with_decoded_boxes_and_transposed_yolov8_are_decoded_too(tmp_path):
    frame = np.zeros((32, 32, 3), np.uint8)  # r = 1, no padding
    dec = np.zeros((1, ANCHORS, 85), np.float32)
    dec[0, :, 0] = 16.0  # centres in pixels: YOLOX exported with decode_in_inference
    dec[0, 3, :5] = [10, 12, 6, 8, 0.9]
    dec[0, 3, 5 + 2] = 0.9
    model = OnnxModel(constant_model(tmp_path / "dec.onnx", dec))
    assert model.info.layout == "yolox_decoded"
    d = OnnxDetector(model).detect([frame])[0]
    assert len(d) == 1 and COCO_CLASSES[d.class_ids[0]] == "car"
    np.testing.assert_allclose(d.boxes[0], [7, 8, 13, 16], atol=1e-4)
    tr = np.transpose(v8_output([(4, 0, 0.8, (20, 10, 4, 6))]), (0, 2, 1))  # [1, A, 84]
    model = OnnxModel(constant_model(tmp_path / "v8t.onnx", np.ascontiguousarray(tr)))
    assert model.info.layout == "yolov8_transposed"
    d = OnnxDetector(model).detect([frame])[0]
    assert len(d) == 1 and COCO_CLASSES[d.class_ids[0]] == "person"
    np.testing.assert_allclose(d.boxes[0], [18, 7, 22, 13], atol=1e-4)
