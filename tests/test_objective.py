"""The two loss backends agree: numpy between two sessions, and the single ONNX loss graph."""

import numpy as np
import onnx
import pytest

from ortstyle.engine.loss_graph import build_loss_graph
from ortstyle.engine.stylize import Stylizer
from ortstyle.options import StyleOptions

AGREEMENT = 1e-4  # relative, float32 (issue 5)


def _pair(rng, shape_hw):
    content = rng.random((*shape_hw, 3), dtype=np.float32)
    styles = [rng.random((40, 52, 3), dtype=np.float32), rng.random((61, 33, 3), dtype=np.float32)]
    return content, styles


@pytest.mark.parametrize("fixture", ["random_model", "random_model_max"])
def test_onnx_loss_graph_matches_numpy_losses(fixture, request, rng):
    model = request.getfixturevalue(fixture)
    shape_hw = (37, 50)
    content, styles = _pair(rng, shape_hw)
    common = dict(
        size=50,
        tv_weight=3.0,
        style_blend_weights=(1.0, 2.0),
        content_layers=("relu4_2", "relu2_1"),
        style_layer_weights=(1, 2, 3, 4, 5),
    )
    image = np.ascontiguousarray(rng.random((1, 3, *shape_hw), dtype=np.float32))
    results = {}
    for backend in ("numpy", "onnx"):
        stylizer = Stylizer(model, StyleOptions(loss_backend=backend, **common))
        assert stylizer.loss_backend == backend
        targets = stylizer.targets(content, styles, shape_hw)
        results[backend] = stylizer.evaluate(image, targets)
    numpy_parts, numpy_grad = results["numpy"]
    onnx_parts, onnx_grad = results["onnx"]
    for name in ("content", "style", "tv"):
        a, b = getattr(onnx_parts, name), getattr(numpy_parts, name)
        assert abs(a - b) <= AGREEMENT * abs(b), name
    error = np.linalg.norm(onnx_grad - numpy_grad) / np.linalg.norm(numpy_grad)
    assert error <= AGREEMENT, f"gradient relative L2 {error:.2e}"


def test_targets_are_rebound_when_they_change(random_model, rng):
    stylizer = Stylizer(random_model, StyleOptions(size=40, loss_backend="onnx"))
    content, styles = _pair(rng, (30, 40))
    image = np.ascontiguousarray(rng.random((1, 3, 30, 40), dtype=np.float32))
    first = stylizer.evaluate(image, stylizer.targets(content, styles[:1], (30, 40)))[0]
    second = stylizer.evaluate(image, stylizer.targets(content, styles[1:], (30, 40)))[0]
    assert first.style != second.style


def test_auto_backend_is_the_single_session_graph(random_model):
    assert Stylizer(random_model, StyleOptions()).loss_backend == "onnx"
    with pytest.raises(ValueError, match="loss backend 'torch'"):
        Stylizer(random_model, StyleOptions(loss_backend="torch"))


def test_loss_graph_is_standard_onnx(random_model):
    stylizer = Stylizer(random_model, StyleOptions(loss_backend="numpy"))
    graph = build_loss_graph(random_model.proto, stylizer.weights).model
    onnx.checker.check_model(graph)
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}
    outputs = [o.name for o in graph.graph.output]
    assert outputs == ["loss", "content_loss", "style_loss", "tv_loss", "grad_image"]
