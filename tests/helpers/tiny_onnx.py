"""Tiny ONNX graphs with a known output, for testing detectors without a real model."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def constant_model(path: Path, output: np.ndarray, size: int = 32) -> Path:
    """An ONNX graph that returns `output` for any [1,3,size,size] image.

    The output is const + 0 * mean(image), so the image input is really used.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    const = numpy_helper.from_array(output.astype(np.float32), "raw")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["raw", "z"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "const",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(output.shape))],
        initializer=[const, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
