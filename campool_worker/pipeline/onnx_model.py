"""The ONNX Runtime side of a detector: session, execution provider, input and output layout.

`OnnxModel` loads a file once, picks the best execution provider that really works
(TensorRT > CUDA > CPU, falling back cleanly), learns the input size and the output
layout from one warm-up run, letterboxes frames into blobs and decodes raw outputs
into candidate boxes. NMS, class filters and thresholds are per camera and live in
`detectors.OnnxDetector`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from campool_worker.errors import ModelError

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
STRIDES = (8, 16, 32)
PAD_VALUE = 114
Layout = Literal["yolox", "yolox_decoded", "yolov8", "yolov8_transposed"]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was placed into the model input: frame = (input - pad) / scale."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        out = np.empty_like(boxes)
        out[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / self.scale
        out[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / self.scale
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out


def anchor_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX grid cells (A,2) and their strides (A,1), in the order the model emits them."""
    grids, strides = [], []
    for s in STRIDES:
        hs, ws = height // s, width // s
        xv, yv = np.meshgrid(np.arange(ws), np.arange(hs))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((hs * ws, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


@dataclass
class LayoutInfo:
    layout: Layout
    num_classes: int
    anchors: int


def classify_output(shape: Sequence[int], input_hw: tuple[int, int], sample: np.ndarray | None = None,
                    num_labels: int | None = None) -> LayoutInfo:
    """Recognise the output layout from the shape of a real output (batch 1 run).

    Raises ModelError naming the shape when it is none we know.
    """
    anchors = sum((input_hw[0] // s) * (input_hw[1] // s) for s in STRIDES)
    if len(shape) == 3 and shape[0] == 1:
        _, d1, d2 = shape
        if d2 == anchors and d1 > 4 and d1 != anchors:
            return LayoutInfo("yolov8", d1 - 4, anchors)
        if d1 == anchors and d2 > 5:
            classes = num_labels or 80
            if d2 == classes + 4 and d2 != classes + 5:
                return LayoutInfo("yolov8_transposed", d2 - 4, anchors)
            # Raw YOLOX box centres are offsets within a grid cell (|x| ~ 1); decoded ones are pixels.
            decoded = sample is not None and float(np.median(np.abs(sample[0, :, 0]))) > 4.0
            return LayoutInfo("yolox_decoded" if decoded else "yolox", d2 - 5, anchors)
    raise ModelError(
        f"model output shape {list(shape)} is not a layout CamPool knows (YOLOX [1, {anchors}, 5+classes] "
        f"or YOLOv8/YOLO11 [1, 4+classes, {anchors}] for a {input_hw[1]}x{input_hw[0]} input); "
        f"export the detector with one of those heads")


def _session_options(intra_op_threads: int, spin: bool) -> Any:  # an ort.SessionOptions; ORT ships no types
    import onnxruntime as ort

    so = ort.SessionOptions()
    # ORT's pool threads normally spin after each parallel step waiting for the next one.
    # On a worker they share the cores with the decoders and the tracker: spinning burns
    # the CPU those need, and a spinning thread that gets preempted stalls the whole
    # step (measured: a 2-thread session fell from ~190 to ~50 images/s with background load).
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = intra_op_threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # ORT's own warnings (e.g. unused initialisers) are noise to an operator
    return so


def default_intra_op_threads() -> int:
    """Threads for the one shared session: the cores minus a quarter (at least one) kept for decoding.

    Every camera's decode, letterbox, tracking and counting run on other threads at the
    same time; giving the model every core makes it fight them (Frigate's CPU detector
    advice is the same: leave cores for ffmpeg). Measured on the 2-core box with
    yolox-nano: 1 thread 130 images/s; 2 threads without spinning 126 (no gain); 2
    spinning threads ~190 alone but the pipeline around them fell to ~60 frames/s, while
    1 thread keeps the pipeline at ~95 % of the model's speed.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores - max(1, cores // 4), 8))


def _provider_chain(requested: Sequence[str] | None) -> list[str]:
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    wanted = list(requested) if requested else list(PREFERRED_PROVIDERS)
    chain = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chain:
        chain.append("CPUExecutionProvider")
    return chain


def _provider_options(name: str) -> tuple[str, dict[str, str]] | str:
    if name == "TensorrtExecutionProvider":
        from platformdirs import user_cache_dir

        cache = Path(user_cache_dir("campool")) / "tensorrt"  # built engines are reused across restarts
        cache.mkdir(parents=True, exist_ok=True)
        return name, {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache)}
    return name


class OnnxModel:
    """An ONNX Runtime session plus what we learnt about its input and output.

    Thread-safe: `run()` serialises calls with a lock (one session on a CPU uses all
    its threads for one call; concurrent calls only fight over them).
    """

    def __init__(self, path: str | os.PathLike[str], *, intra_op_threads: int | None = None,
                 providers: Sequence[str] | None = None, num_labels: int | None = None,
                 spin: bool = False) -> None:
        self.path = Path(path)
        _check_model_file(self.path)
        import onnxruntime as ort

        self.intra_op_threads = intra_op_threads or default_intra_op_threads()
        self.spin = bool(spin)
        so = _session_options(self.intra_op_threads, self.spin)
        errors: list[str] = []
        session: Any = None  # an ort.InferenceSession; ORT ships no types
        chain = _provider_chain(providers)
        for i in range(len(chain)):
            try:
                session = ort.InferenceSession(str(self.path), so,
                                               providers=[_provider_options(p) for p in chain[i:]])
                break
            except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind types; each means "try the next EP"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                errors.append(f"{chain[i]}: {first}")
                if chain[i] != "CPUExecutionProvider":
                    log.warning("model %s: %s failed (%s); falling back", self.path.name, chain[i], first)
        if session is None:
            raise ModelError(f"{str(self.path)!r} is not an ONNX model ONNX Runtime can load ({errors[-1]}); "
                             f"give an .onnx file exported from YOLOX or YOLOv8/YOLO11")
        self.session: Any = session
        self.provider: str = self.session.get_providers()[0]
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"model {self.path.name} has inputs {[(i.name, i.shape) for i in inputs]}; "
                             f"CamPool needs one image input [batch, 3, height, width]")
        self.input_name = inputs[0].name
        b, c, h, w = inputs[0].shape
        if c not in (3, None) and not isinstance(c, str):
            raise ModelError(f"model {self.path.name} takes {c} channels; CamPool feeds 3-channel images")
        self.dynamic_batch = not isinstance(b, int) or b <= 0
        fixed = isinstance(h, int) and h > 0 and isinstance(w, int) and w > 0
        self.input_hw: tuple[int, int] = (h, w) if fixed else (640, 640)
        self.output_name = self.session.get_outputs()[0].name
        probe = np.full((1, 3, *self.input_hw), 0.45 * 255, np.float32)
        try:
            out = self._run_raw(probe)
        except Exception as exc:  # noqa: BLE001 - ORT's pybind error types cannot be named; all mean a bad model
            raise ModelError(f"model {self.path.name} failed on a {self.input_hw[1]}x{self.input_hw[0]} test "
                             f"image: {str(exc).splitlines()[0]}") from None
        self.info = classify_output(out.shape, self.input_hw, out, num_labels)
        if self.info.layout == "yolox":
            self._grid, self._strides = anchor_grid(*self.input_hw)
        if self.dynamic_batch:
            self._probe_batch_order()
        log.info("model %s: layout %s, %d classes, input %dx%d, %s batch, provider %s, %d intra-op threads",
                 self.path.name, self.info.layout, self.info.num_classes, self.input_hw[1], self.input_hw[0],
                 "dynamic" if self.dynamic_batch else "fixed", self.provider, self.intra_op_threads)

    @property
    def yolox_style_input(self) -> bool:
        return self.info.layout.startswith("yolox")

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """Letterbox one BGR frame into a (1, 3, H, W) float32 blob for this model.

        YOLOX: BGR 0..255 at the top-left; YOLOv8/11: RGB 0..1 in the centre; pad 114.
        Written plane by plane into a fresh blob (only the pad strips are filled, the
        image part is written once): cv2.dnn.blobFromImage on a padded canvas cost
        several times more CPU, and this runs for every frame of every camera.
        """
        in_h, in_w = self.input_hw
        h, w = image.shape[:2]
        r = min(in_h / h, in_w / w)
        nh, nw = max(1, int(h * r)), max(1, int(w * r))
        yolox = self.yolox_style_input
        px, py = (0, 0) if yolox else ((in_w - nw) // 2, (in_h - nh) // 2)
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = np.empty((1, 3, in_h, in_w), np.float32)
        pad = float(PAD_VALUE) if yolox else PAD_VALUE / 255.0
        blob[:, :, :py] = pad
        blob[:, :, py + nh:] = pad
        blob[:, :, py:py + nh, :px] = pad
        blob[:, :, py:py + nh, px + nw:] = pad
        planes = cv2.split(resized)
        for ch, src in enumerate((0, 1, 2) if yolox else (2, 1, 0)):
            dst = blob[0, ch, py:py + nh, px:px + nw]
            dst[...] = planes[src]
            if not yolox:
                dst *= 1.0 / 255.0
        return blob, Letterbox(r, px, py, w, h)

    def _run_raw(self, blob: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run([self.output_name], {self.input_name: blob})[0]
        return out

    def run(self, blob: np.ndarray) -> np.ndarray:
        """Raw outputs for a (B,3,H,W) blob, one row per image: (B, A, K) or (B, K, A)."""
        n = blob.shape[0]
        if n > 1 and not self.dynamic_batch:
            return np.concatenate([self.run(blob[i:i + 1]) for i in range(n)])
        out = self._run_raw(blob)
        if out.shape[0] != n:
            out = self._unfold_batch(out, n)
        return out

    @staticmethod
    def _unfold_batch(out: np.ndarray, n: int) -> np.ndarray:
        """(1, n*A, K) -> (n, A, K) for a graph whose last reshape folds the batch into the rows."""
        return out.reshape(n, -1, out.shape[-1])

    def _probe_batch_order(self) -> str:
        """Run two different images alone and together: does a batch really give per-image results?"""
        rng = np.random.default_rng(0)
        probes = rng.uniform(0, 255 if self.yolox_style_input else 1, (2, 3, *self.input_hw)).astype(np.float32)
        singles = [self._run_raw(probes[i:i + 1])[0] for i in range(2)]
        try:
            both = self._run_raw(probes)
        except Exception as exc:  # noqa: BLE001 - ORT's own error types: a "dynamic" dim that is not really batchable
            log.warning("model %s: declares a dynamic batch but fails on 2 images (%s); running one by one",
                        self.path.name, str(exc).splitlines()[0])
            self.dynamic_batch = False
            return "none"
        order = "none" if both.shape[0] == 2 else "folded"
        got = both if order == "none" else self._unfold_batch(both, 2)
        if got.shape[1:] == singles[0].shape and all(
                np.allclose(got[i], singles[i], rtol=1e-3, atol=1e-3) for i in range(2)):
            return order
        # Typically a graph whose input dim was made dynamic while its reshapes still say
        # batch 1: it runs, but mixes the images' features. See make_batch_dynamic().
        log.warning("model %s: declares a dynamic batch, but a batch of 2 does not give the results of 2 "
                    "single runs (its reshapes are fixed to batch 1); running one image per call",
                    self.path.name)
        self.dynamic_batch = False
        return "none"

    def decode(self, raw: np.ndarray, box: Letterbox, min_score: float,
               allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate boxes (frame pixels), scores and class ids of one image, before NMS."""
        layout = self.info.layout
        if layout == "yolov8":
            raw = raw.T  # (A, 4 + C); a view, only the few kept rows are copied below
        if layout.startswith("yolox"):
            obj = raw[:, 4]
            cand = np.flatnonzero(obj >= min_score)  # score = obj * cls <= obj: cheap pre-filter
            cls = raw[cand, 5:]
            if allowed is not None:
                cls = cls[:, allowed]
            ids = cls.argmax(1)
            scores = cls[np.arange(len(cand)), ids] * obj[cand]
        else:
            cls = raw[:, 4:]
            if allowed is not None:
                cls = cls[:, allowed]
            best = cls.max(1)
            cand = np.flatnonzero(best >= min_score)
            ids = cls[cand].argmax(1)
            scores = best[cand]
        keep = scores >= min_score
        cand, ids, scores = cand[keep], ids[keep], scores[keep]
        if allowed is not None:
            ids = allowed[ids]
        if layout == "yolox":
            xy = (raw[cand, :2] + self._grid[cand]) * self._strides[cand]
            wh = np.exp(raw[cand, 2:4]) * self._strides[cand]
        else:
            xy, wh = raw[cand, :2], raw[cand, 2:4]
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1).astype(np.float32)
        return box.to_frame(boxes), scores.astype(np.float32), ids.astype(np.int32)


def make_batch_dynamic(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Write a copy of an exported model whose batch dim is dynamic, for batching cameras on a GPU.

    Editing the input/output dims alone is not enough for exported YOLOX graphs: their
    head reshapes to a literal [1, 85, -1], which then silently mixes the images of a
    batch. Here every Reshape target whose first entry is a literal 1 becomes 0 ("keep
    the input's batch dim"). Needs the `onnx` package.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("making a model batch-dynamic needs the 'onnx' package: pip install onnx") from None
    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    consts = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        name = node.input[1]
        if name in inits:
            shape = numpy_helper.to_array(inits[name])
            if shape.ndim == 1 and shape.size > 1 and shape[0] == 1:
                new = shape.copy()
                new[0] = 0
                inits[name].CopyFrom(numpy_helper.from_array(new, name))
        elif name in consts:
            for attr in consts[name].attribute:
                if attr.name == "value":
                    shape = numpy_helper.to_array(attr.t)
                    if shape.ndim == 1 and shape.size > 1 and shape[0] == 1:
                        new = shape.copy()
                        new[0] = 0
                        attr.t.CopyFrom(numpy_helper.from_array(new, attr.t.name))
    for value in list(model.graph.input[:1]) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].dim_param = "batch"
    out = Path(dst)
    onnx.save(model, str(out))
    return out


def _check_model_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} not found; give the path to an .onnx detector")
    if path.is_dir():
        raise ModelError(f"model path {str(path)!r} is a folder; give the path to an .onnx file")
    if not os.access(path, os.R_OK):
        raise ModelError(f"model file {str(path)!r} is not readable; check its permissions")
