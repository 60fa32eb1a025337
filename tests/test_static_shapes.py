"""Fixed-shape loss graphs (the GPU path) compute what the dynamic one does, with no shape ops."""

import collections

import numpy as np
import onnx
import onnxruntime
import pytest

from ortstyle.engine.loss_graph import build_loss_graph, target_feeds
from ortstyle.engine.precision import to_half
from ortstyle.engine.static_shapes import static_graph
from ortstyle.engine.stylize import Stylizer
from ortstyle.options import StyleOptions

SHAPE_HW = (30, 41)  # odd width: the pooling gradients pad, so their pads depend on shape
CPU = ["CPUExecutionProvider"]


@pytest.fixture
def loss_problem(random_model, rng):
    """The loss graph of the random VGG19 and feeds for one image."""
    stylizer = Stylizer(random_model, StyleOptions(size=max(SHAPE_HW)))
    content = rng.random((*SHAPE_HW, 3), dtype=np.float32)
    style = rng.random((40, 52, 3), dtype=np.float32)
    feeds = target_feeds(stylizer.targets(content, [style], SHAPE_HW), stylizer.weights)
    feeds["image"] = rng.random((1, 3, *SHAPE_HW), dtype=np.float32)
    return random_model.proto, stylizer.weights, feeds


def _run(model: onnx.ModelProto, feeds: dict, level="ORT_ENABLE_ALL", saved=None) -> list:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
    if saved:
        options.optimized_model_filepath = str(saved)
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=CPU)
    return session.run(None, feeds)


def test_static_graph_gives_the_same_loss_and_gradient(loss_problem):
    model, weights, feeds = loss_problem
    dynamic = build_loss_graph(model, weights).model
    static = static_graph(dynamic, {name: value.shape for name, value in feeds.items()})
    assert [d.dim_value for d in static.graph.input[0].type.tensor_type.shape.dim] == [
        1, 3, *SHAPE_HW
    ]  # fmt: skip
    for a, b in zip(_run(dynamic, feeds), _run(static, feeds), strict=True):
        # Kernels chosen for known shapes may sum in another order: compare by relative L2.
        assert np.linalg.norm(a - b) <= 1e-5 * np.linalg.norm(b)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_static_graph_has_no_shape_ops_left_for_the_host(loss_problem, precision, tmp_path):
    """Shape/Size would run on the CPU beside the CUDA provider and stop CUDA graphs."""
    model, weights, feeds = loss_problem
    model = to_half(model) if precision == "fp16" else model
    dynamic = build_loss_graph(model, weights).model
    assert {"Shape", "Size"} <= {node.op_type for node in dynamic.graph.node}
    static = static_graph(dynamic, {name: value.shape for name, value in feeds.items()})
    onnx.checker.check_model(static)
    # After ONNX Runtime's own folding (basic level: what every provider gets), no node
    # computes a shape; what is left is arithmetic on tensors.
    saved = tmp_path / "optimized.onnx"
    _run(static, feeds, level="ORT_ENABLE_BASIC", saved=saved)
    ops = collections.Counter(node.op_type for node in onnx.load(saved).graph.node)
    assert not {"Shape", "Size", "Concat"} & set(ops), ops


def test_a_session_per_size_agrees_with_the_dynamic_session(random_model):
    """The GPU path (a static session per size, buffers bound once) run on the CPU."""
    results = {}
    for static in (False, True):
        stylizer = Stylizer(random_model, StyleOptions(size=max(SHAPE_HW)))
        stylizer.objective.static_shapes = static
        for shape_hw in (SHAPE_HW, (17, 22), SHAPE_HW):
            content = np.random.default_rng(1).random((*shape_hw, 3), dtype=np.float32)
            style = np.random.default_rng(2).random((40, 52, 3), dtype=np.float32)
            targets = stylizer.targets(content, [style], shape_hw)
            image = np.random.default_rng(3).random((1, 3, *shape_hw), dtype=np.float32)
            results.setdefault(shape_hw, []).append(stylizer.evaluate(image, targets))
        if static:
            assert set(stylizer.objective._sessions) == {SHAPE_HW, (17, 22)}
    for (dynamic_parts, dynamic_grad), *others in results.values():
        for parts, grad in others:
            assert parts.total == pytest.approx(dynamic_parts.total, rel=1e-5)
            assert np.linalg.norm(grad - dynamic_grad) <= 1e-5 * np.linalg.norm(dynamic_grad)


# Ops marked supported (with float32/float16) in onnx-tensorrt's docs/operators.md, the
# table of what TensorRT's ONNX parser takes; Resize there allows nearest, asymmetric and
# floor, as the pooling gradients use it. Ops outside it would fall back from TensorRT.
TENSORRT_OPS = {
    "Add", "AveragePool", "Cast", "Concat", "Conv", "Div", "Equal", "Greater", "Identity",
    "MatMul", "MaxPool", "Mul", "Neg", "Pad", "ReduceSumSquare", "Relu", "Reshape", "Resize",
    "Slice", "Sub", "Sum", "Transpose", "Where",
}  # fmt: skip


@pytest.mark.parametrize(
    ("fixture", "precision"),
    [("random_model", "fp32"), ("random_model", "fp16"), ("random_model_max", "fp32")],
)
def test_static_graph_uses_only_ops_tensorrt_parses(request, rng, fixture, precision):
    model = request.getfixturevalue(fixture)
    stylizer = Stylizer(model, StyleOptions(size=max(SHAPE_HW)))
    content = rng.random((*SHAPE_HW, 3), dtype=np.float32)
    feeds = target_feeds(stylizer.targets(content, [content], SHAPE_HW), stylizer.weights)
    feeds["image"] = rng.random((1, 3, *SHAPE_HW), dtype=np.float32)
    proto = to_half(model.proto) if precision == "fp16" else model.proto
    graph = build_loss_graph(proto, stylizer.weights).model
    static = static_graph(graph, {name: value.shape for name, value in feeds.items()})
    ops = {node.op_type for node in static.graph.node}
    assert ops <= TENSORRT_OPS, ops - TENSORRT_OPS
    resizes = [n for n in static.graph.node if n.op_type == "Resize"]
    modes = {(a.name, a.s) for n in resizes for a in n.attribute}
    assert resizes and modes == {
        ("mode", b"nearest"),
        ("coordinate_transformation_mode", b"asymmetric"),
        ("nearest_mode", b"floor"),
    }
