"""The loss layer as ONNX ops, so that one session run gives the loss and the input gradient.

The same math as `losses.py` (see its docstring), emitted between the forward graph and
the derived backward graph. Targets and their coefficients are graph inputs, not
constants, so one session serves every image pair; on a GPU they are bound once and
stay on the device.

Inputs:  image; content_<layer> (1, C, H, W); gram_<layer> (C, C); coef_<kind>_<layer> ()
         where coef = term weight x layer weight / |target|^2; tv_coef () = TV weight.
Outputs: loss, content_loss, style_loss, tv_loss (scalars), grad_image (1, 3, H, W).
"""

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from ortstyle.engine.backward import INPUT_GRAD, OPSET, _Builder, emit_gradient, needed_nodes
from ortstyle.engine.losses import LossWeights, Targets

_EPS = 1e-12  # as losses._EPS: a zero target norm must not divide by zero
LOSS_OUTPUTS = ("loss", "content_loss", "style_loss", "tv_loss")


def _scalar(b: _Builder, hint: str, value: float) -> str:
    return b.const(hint, np.array(value, np.float32))


def _content_term(b: _Builder, layer: str) -> tuple[str, str]:
    """Returns (loss, d loss / d features) for one content layer."""
    diff = b.op("Sub", [layer, f"content_{layer}"], "content_diff")
    coef = f"coef_content_{layer}"
    loss = b.op("Mul", [b.op("ReduceSumSquare", [diff], "sq", keepdims=0), coef], "content_loss")
    grad = b.op("Mul", [diff, b.op("Mul", [coef, _scalar(b, "two", 2.0)], "c2")], "content_grad")
    return loss, grad


def _style_term(b: _Builder, layer: str, channels: int) -> tuple[str, str]:
    """Returns (loss, d loss / d features) for one style layer: Gram in float32 via MatMul."""
    flat = b.op("Reshape", [layer, b.const("cm", np.array([channels, -1], np.int64))], "flat")
    size = b.op("Cast", [b.op("Size", [layer], "size")], "size_f", to=TensorProto.FLOAT)
    inv_hw = b.op("Div", [_scalar(b, "channels", float(channels)), size], "inv_hw")
    gram = b.op("MatMul", [flat, b.op("Transpose", [flat], "flat_t", perm=[1, 0])], "gram")
    diff = b.op("Sub", [b.op("Mul", [gram, inv_hw], "gram_n"), f"gram_{layer}"], "gram_diff")
    coef = f"coef_style_{layer}"
    loss = b.op("Mul", [b.op("ReduceSumSquare", [diff], "sq", keepdims=0), coef], "style_loss")
    # d loss / d G = 2 coef diff is symmetric, so d loss / d F = 4 coef diff F / (H W).
    scale = b.op("Mul", [b.op("Mul", [coef, inv_hw], "ci"), _scalar(b, "four", 4.0)], "c4")
    grad_flat = b.op("Mul", [b.op("MatMul", [diff, flat], "df"), scale], "style_grad_flat")
    grad = b.op("Reshape", [grad_flat, b.op("Shape", [layer], "feat_shape")], "style_grad")
    return loss, grad


def _tv_term(b: _Builder, image: str) -> tuple[str, str]:
    """Returns (loss, d loss / d image) of the mean squared neighbour difference."""
    losses, grads = [], []
    for axis in (2, 3):
        one = b.const("one", np.array([1], np.int64))
        big = b.const("end", np.array([2**62], np.int64))
        minus1 = b.const("m1", np.array([-1], np.int64))
        zero = b.const("zero_i", np.array([0], np.int64))
        ax = b.const("axis", np.array([axis], np.int64))
        later = b.op("Slice", [image, one, big, ax], "later")
        earlier = b.op("Slice", [image, zero, minus1, ax], "earlier")
        diff = b.op("Sub", [later, earlier], "tv_diff")
        count = b.op("Cast", [b.op("Size", [diff], "n")], "n_f", to=TensorProto.FLOAT)
        scale = b.op("Div", ["tv_coef", count], "tv_scale")
        losses.append(
            b.op("Mul", [b.op("ReduceSumSquare", [diff], "sq", keepdims=0), scale], "tv_part")
        )
        g = b.op("Mul", [diff, b.op("Mul", [scale, _scalar(b, "two", 2.0)], "s2")], "tv_g")
        after = np.zeros(8, np.int64)
        before = np.zeros(8, np.int64)
        before[axis] = 1  # pad at the start: the gradient lands on `later`
        after[4 + axis] = 1  # pad at the end: the gradient lands on `earlier`
        plus = b.op("Pad", [g, b.const("pads", before)], "tv_plus")
        minus = b.op("Pad", [g, b.const("pads", after)], "tv_minus")
        grads.append(b.op("Sub", [plus, minus], "tv_grad_axis"))
    return b.op("Add", losses, "tv_loss_raw"), b.op("Add", grads, "tv_grad")


def _sum(b: _Builder, terms: list, hint: str) -> str:
    if not terms:
        return _scalar(b, hint, 0.0)
    return terms[0] if len(terms) == 1 else b.op("Sum", terms, hint)


@dataclass(frozen=True)
class LossGraph:
    """The single-session model and the names of its target inputs."""

    model: onnx.ModelProto
    content_layers: tuple
    style_layers: tuple


def _channels(model: onnx.ModelProto, layer: str) -> int:
    """Output channels of the Conv feeding `layer` (the ReLU after it keeps them)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    node = producer[layer]
    while node.op_type != "Conv":
        node = producer[node.input[0]]
    weight = next(i for i in model.graph.initializer if i.name == node.input[1])
    return int(weight.dims[0])


def build_loss_graph(model: onnx.ModelProto, weights: LossWeights) -> LossGraph:
    """Forward graph + loss + backward, as one model with the I/O in the module docstring."""
    graph = model.graph
    image = graph.input[0].name
    b = _Builder(image=image)
    seeds: dict = {}
    content_terms, style_terms = [], []
    for layer in weights.content_layers:
        loss, grad = _content_term(b, layer)
        content_terms.append(loss)
        seeds.setdefault(layer, []).append(grad)
    for layer in weights.style_layers:
        loss, grad = _style_term(b, layer, _channels(model, layer))
        style_terms.append(loss)
        seeds.setdefault(layer, []).append(grad)
    seed_names = {layer: _sum(b, grads, "seed") for layer, grads in seeds.items()}
    tv_loss, tv_grad = _tv_term(b, image)

    b, network_grad = emit_gradient(graph, seed_names, b)
    content = _sum(b, content_terms, "content_sum")
    style = _sum(b, style_terms, "style_sum")
    b.nodes += [
        helper.make_node("Identity", [content], ["content_loss"]),
        helper.make_node("Identity", [style], ["style_loss"]),
        helper.make_node("Identity", [tv_loss], ["tv_loss"]),
        helper.make_node("Sum", [content, style, tv_loss], ["loss"]),
        helper.make_node("Add", [network_grad, tv_grad], [INPUT_GRAD]),
    ]
    forward = needed_nodes(graph, list(weights.layers))
    used = {name for node in forward for name in node.input}
    inputs = [graph.input[0]] + _target_inputs(weights) + [_scalar_info("tv_coef")]
    outputs = [_scalar_info(name) for name in LOSS_OUTPUTS]
    outputs.append(helper.make_tensor_value_info(INPUT_GRAD, TensorProto.FLOAT, [1, 3, None, None]))
    combined = helper.make_graph(
        forward + b.nodes,
        "ortstyle_objective",
        inputs,
        outputs,
        [init for init in graph.initializer if init.name in used] + b.initializers,
    )
    onnx_model = helper.make_model(
        combined, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=model.ir_version
    )
    return LossGraph(onnx_model, tuple(weights.content_layers), tuple(weights.style_layers))


def _scalar_info(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [])


def _target_inputs(weights: LossWeights) -> list:
    infos = []
    for layer in weights.content_layers:
        infos.append(
            helper.make_tensor_value_info(
                f"content_{layer}", TensorProto.FLOAT, [1, None, None, None]
            )
        )
        infos.append(_scalar_info(f"coef_content_{layer}"))
    for layer in weights.style_layers:
        infos.append(
            helper.make_tensor_value_info(f"gram_{layer}", TensorProto.FLOAT, [None, None])
        )
        infos.append(_scalar_info(f"coef_style_{layer}"))
    return infos


def target_feeds(targets: Targets, weights: LossWeights) -> dict:
    """The loss graph's target inputs for `targets`, coefficients included (numpy arrays)."""
    feeds = {"tv_coef": np.array(weights.tv, np.float32)}
    for layer, layer_weight in weights.content_layers.items():
        target = targets.content[layer]
        norm = max(float(np.vdot(target, target)), _EPS)
        feeds[f"content_{layer}"] = target
        feeds[f"coef_content_{layer}"] = np.array(weights.content * layer_weight / norm, np.float32)
    for layer, layer_weight in weights.style_layers.items():
        gram = targets.grams[layer]
        norm = max(float(np.vdot(gram, gram)), _EPS)
        feeds[f"gram_{layer}"] = gram
        feeds[f"coef_style_{layer}"] = np.array(weights.style * layer_weight / norm, np.float32)
    return feeds
