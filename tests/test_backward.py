"""The derived ONNX gradient against torch.autograd in float64."""

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from ortstyle.engine.backward import GRAD_PREFIX, INPUT_GRAD, build_gradient_graphs
from ortstyle.layers import DEFAULT_STYLE_LAYERS, FEATURE_LAYERS

torch = pytest.importorskip("torch")
GRAD_TOLERANCE = 1e-3  # relative L2, float32 ORT vs float64 autograd (NOTES.md: ~3e-4)
ODD_HW = (45, 67)  # odd and non-square: pooling drops a row and a column at each stage
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")


def _sessions(model, layers):
    graphs = build_gradient_graphs(model.proto, layers)
    providers = ["CPUExecutionProvider"]
    forward = onnxruntime.InferenceSession(graphs.forward.SerializeToString(), providers=providers)
    backward = onnxruntime.InferenceSession(
        graphs.backward.SerializeToString(), providers=providers
    )
    return graphs, forward, backward


def _onnx_gradient(model, layers, image, seeds):
    graphs, forward, backward = _sessions(model, layers)
    names = [o.name for o in forward.get_outputs()]
    outputs = dict(zip(names, forward.run(names, {"image": image})))
    feed = {name: outputs[name] for name in graphs.saved}
    feed.update({GRAD_PREFIX + layer: seeds[layer] for layer in layers})
    return backward.run([INPUT_GRAD], feed)[0]


def _autograd_gradient(pooling, layers, image, seeds):
    from ortstyle.export.vgg import VGGFeatures, load_weights

    module = VGGFeatures(load_weights("random"), pooling).double()
    x = torch.tensor(image, dtype=torch.float64, requires_grad=True)
    features = dict(zip(FEATURE_LAYERS, module(x)))
    loss = sum((features[k] * torch.tensor(seeds[k], dtype=torch.float64)).sum() for k in layers)
    loss.backward()
    return x.grad.numpy()


def _seeds(model, layers, image, rng):
    _, forward, _ = _sessions(model, layers)
    shapes = {o: v.shape for o, v in zip(layers, forward.run(list(layers), {"image": image}))}
    return {layer: rng.standard_normal(shapes[layer]).astype(np.float32) for layer in layers}


@pytest.mark.parametrize("fixture", ["random_model", "random_model_max"])
def test_gradient_matches_float64_autograd(fixture, request, rng):
    model = request.getfixturevalue(fixture)
    image = rng.random((1, 3, *ODD_HW), dtype=np.float32)
    seeds = _seeds(model, LOSS_LAYERS, image, rng)
    ours = _onnx_gradient(model, LOSS_LAYERS, image, seeds)
    reference = _autograd_gradient(model.pooling, LOSS_LAYERS, image, seeds)
    assert ours.shape == (1, 3, *ODD_HW)
    error = np.linalg.norm(ours - reference) / np.linalg.norm(reference)
    assert error < GRAD_TOLERANCE, f"relative L2 error {error:.2e} ({model.pooling} pooling)"


def test_gradient_of_a_single_shallow_layer(random_model, rng):
    image = rng.random((1, 3, 17, 32), dtype=np.float32)
    seeds = _seeds(random_model, ("relu1_2",), image, rng)
    ours = _onnx_gradient(random_model, ("relu1_2",), image, seeds)
    reference = _autograd_gradient("avg", ("relu1_2",), image, seeds)
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < GRAD_TOLERANCE


@pytest.mark.parametrize("fixture", ["random_model", "random_model_max"])
def test_backward_uses_only_portable_standard_ops(fixture, request):
    graphs = build_gradient_graphs(request.getfixturevalue(fixture).proto, DEFAULT_STYLE_LAYERS)
    ops = {node.op_type for node in graphs.backward.graph.node}
    domains = {node.domain for node in graphs.backward.graph.node}
    assert domains <= {"", "ai.onnx"}
    assert not ops & {"ConvTranspose", "ScatterND", "MaxUnpool", "ConvGrad", "ReluGrad"}
    assert "Conv" in ops and "Greater" in ops
    onnx.checker.check_model(graphs.backward)


def test_forward_graph_is_pruned_to_the_deepest_loss_layer(random_model):
    graphs = build_gradient_graphs(random_model.proto, ("relu2_1",))
    convs = [n for n in graphs.forward.graph.node if n.op_type == "Conv"]
    assert len(convs) == 3  # conv1_1, conv1_2, conv2_1
    assert graphs.forward.graph.output[0].name == "relu2_1"


def test_unsupported_op_is_named():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])
    y = helper.make_tensor_value_info("relu1_1", TensorProto.FLOAT, [1, 3, None, None])
    graph = helper.make_graph([helper.make_node("Sigmoid", ["image"], ["relu1_1"])], "g", [x], [y])
    with pytest.raises(NotImplementedError, match="Sigmoid"):
        build_gradient_graphs(helper.make_model(graph), ("relu1_1",))
