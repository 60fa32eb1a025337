"""Fixed-shape copies of the loss graph, one per image size, for the GPU providers.

TensorRT builds one engine per input shape, and a CUDA graph can only be captured when
every node runs on the GPU. Shape and Size nodes do not: the CUDA provider keeps their
outputs in host memory, and copies them back for the arithmetic that follows. With the
input shapes fixed, their values are known before the run, so they become constants.
"""

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def fix_input_shapes(model: onnx.ModelProto, shapes: dict) -> onnx.ModelProto:
    """A copy of `model` whose inputs have the given static shapes {name: shape}."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, shapes[value.name], strict=True):
            dim.Clear()
            dim.dim_value = int(size)
    return fixed


def _known_dims(model: onnx.ModelProto) -> dict:
    """{tensor: [size or None per axis]} from ONNX shape inference with data propagation."""
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    graph = inferred.graph
    dims = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        shape = value.type.tensor_type.shape
        dims[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    return dims


def _static_value(node: onnx.NodeProto, dims: dict) -> np.ndarray | None:
    """The value of a Shape or Size node if the dimensions it reads are all known."""
    shape = dims.get(node.input[0])
    if node.op_type not in ("Shape", "Size") or shape is None:
        return None
    if node.op_type == "Shape":
        attributes = {a.name: a.i for a in node.attribute}
        shape = shape[attributes.get("start", 0) : attributes.get("end", len(shape))]
    if any(size is None for size in shape):
        return None
    if node.op_type == "Size":
        return np.array(np.prod(shape, dtype=np.int64), np.int64)
    return np.array(shape, np.int64)


def _freeze_shapes(model: onnx.ModelProto) -> None:
    """Replace, in place, the Shape and Size nodes of a fixed-shape `model` by constants."""
    dims = _known_dims(model)
    graph = model.graph
    kept = []
    for node in graph.node:
        value = _static_value(node, dims)
        if value is None:
            kept.append(node)
        else:
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
    del graph.node[:]
    graph.node.extend(kept)


def static_graph(model: onnx.ModelProto, shapes: dict) -> onnx.ModelProto:
    """A copy of `model` with its input shapes fixed and every Shape and Size node folded."""
    fixed = fix_input_shapes(model, shapes)
    _freeze_shapes(fixed)
    return fixed
