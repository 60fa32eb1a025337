"""Derive the input-gradient of an exported feature graph as a graph of standard ONNX ops.

The stock onnxruntime packages have no gradient kernels (ConvGrad, MaxPoolGrad, ... live
only in the deprecated training builds), so each forward op VGG uses is differentiated
here by hand into ops every execution provider runs:

- Conv (stride 1): a Conv of the output gradient with the weights transposed and flipped.
  It measured faster than ConvTranspose on the CPU provider (../shared/NOTES.md).
- Relu: the gradient times a 0/1 mask of where the output is positive.
- AveragePool 2x2: a nearest-neighbour upsample times 1/4.
- MaxPool 2x2: the upsampled gradient where the input equals the upsampled maximum;
  MaxUnpool and ScatterND are avoided (no CUDA kernel, rejected by TensorRT, slow).
- Sub/Add/Mul/Div by a constant: the input normalisation.
Only the input image's gradient is built: the weights are frozen.
"""

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
GRAD_PREFIX = "grad_"  # the gradient of tensor T is fed or produced as grad_T
INPUT_GRAD = "grad_image"


@dataclass
class _Builder:
    """Collects the nodes and constants of the backward graph as they are emitted."""

    dtype: type = np.float32  # of the network's tensors (float16 under --precision fp16)
    # The input image, when the graph has it: pooled sizes are then computed from its shape,
    # so no activation is kept alive from the forward pass only for a Shape node.
    image: str | None = None
    pools_before: dict = field(default_factory=dict)  # tensor -> poolings between image and it
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    saved: list = field(default_factory=list)  # forward tensors the backward reads
    counter: int = 0

    def name(self, hint: str) -> str:
        self.counter += 1
        return f"bw{self.counter}_{hint}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list, hint: str, **attrs) -> str:
        out = self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def save(self, tensor: str) -> str:
        if tensor not in self.saved:
            self.saved.append(tensor)
        return tensor


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph: onnx.GraphProto) -> dict:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    return values


def needed_nodes(graph: onnx.GraphProto, outputs) -> list:
    """The nodes, in graph order, on which any of `outputs` depends."""
    producer = {out: node for node in graph.node for out in node.output}
    wanted, stack = set(), list(outputs)
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in wanted:
            wanted.add(id(node))
            stack.extend(node.input)
    return [node for node in graph.node if id(node) in wanted]


def _conv_grad(b: _Builder, node, g: str, consts: dict) -> str:
    attrs = _attrs(node)
    weight = consts[node.input[1]]
    kh, kw = weight.shape[2:]
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    assert all(s == 1 for s in attrs.get("strides", [1, 1])), "only stride-1 Conv is supported"
    assert all(d == 1 for d in attrs.get("dilations", [1, 1])), "dilated Conv is not supported"
    assert attrs.get("group", 1) == 1, "grouped Conv is not supported"
    flipped = weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    w = b.const(node.input[1] + "_T", flipped)
    pads = [kh - 1 - pt, kw - 1 - pl, kh - 1 - pb, kw - 1 - pr]
    return b.op("Conv", [g, w], "conv_grad", kernel_shape=[kh, kw], pads=pads)


def _relu_grad(b: _Builder, node, g: str, consts: dict) -> str:
    y = b.save(node.output[0])
    zero = b.const("zero", np.zeros((), b.dtype))
    positive = b.op("Greater", [y, zero], "relu_mask")
    # Mul by a 0/1 mask, not Where: ONNX Runtime's CPU Where measured 9x slower than Mul
    # on a (1, 64, 512, 512) tensor (benchmarks/README.md).
    mask = b.op(
        "Cast", [positive], "relu_mask_f", to=helper.np_dtype_to_tensor_dtype(np.dtype(b.dtype))
    )
    return b.op("Mul", [g, mask], "relu_grad")


def _spatial_size(b: _Builder, tensor: str) -> str:
    """(H, W) of `tensor` as an int64 tensor, from the image's shape where the graph has it."""
    if b.image is None:
        return b.op("Shape", [tensor], "like_shape", start=2, end=4)
    image_hw = b.op("Shape", [b.image], "image_shape", start=2, end=4)
    halvings = b.const("halvings", np.array(2 ** b.pools_before[tensor], np.int64))
    return b.op("Div", [image_hw, halvings], "like_shape")  # floor: pools drop an odd edge


def _upsample_to(b: _Builder, g: str, like: str, pad_value: float) -> str:
    """Nearest 2x upsample of `g`, padded at the end to `like`'s H and W (odd sizes)."""
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    up = b.op(
        "Resize",
        [g, "", scales],
        "up",
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    like_hw = _spatial_size(b, like)
    up_hw = b.op("Shape", [up], "up_shape", start=2, end=4)
    tail = b.op("Sub", [like_hw, up_hw], "pad_tail")
    head = b.const("pad_head", np.zeros(6, np.int64))
    pads = b.op("Concat", [head, tail], "pads", axis=0)
    value = b.const("pad_value", np.array(pad_value, b.dtype))
    return b.op("Pad", [up, pads, value], "up_pad", mode="constant")


def _check_pool(node) -> None:
    attrs = _attrs(node)
    assert list(attrs.get("kernel_shape")) == [2, 2], "only 2x2 pooling is supported"
    assert list(attrs.get("strides", [1, 1])) == [2, 2], "only stride-2 pooling is supported"
    assert not any(attrs.get("pads", [0] * 4)) and not attrs.get("ceil_mode", 0), "pool padding"


def _avgpool_grad(b: _Builder, node, g: str, consts: dict) -> str:
    _check_pool(node)
    quarter = b.const("quarter", np.array(0.25, b.dtype))
    scaled = b.op("Mul", [g, quarter], "avg_scale")
    like = node.input[0] if b.image else b.save(node.input[0])
    return _upsample_to(b, scaled, like, 0.0)


def _maxpool_grad(b: _Builder, node, g: str, consts: dict) -> str:
    _check_pool(node)
    x, y = b.save(node.input[0]), b.save(node.output[0])
    # Ties share the gradient (PyTorch picks one); VGG pools ReLU outputs, where ties are
    # zeros whose gradient the ReLU below discards anyway.
    winners = b.op("Equal", [x, _upsample_to(b, y, x, float("-inf"))], "max_mask")
    zero = b.const("zero", np.zeros((), b.dtype))
    return b.op("Where", [winners, _upsample_to(b, g, x, 0.0), zero], "max_grad")


def _elementwise_grad(b: _Builder, node, g: str, consts: dict) -> str:
    a_const, b_const = node.input[0] in consts, node.input[1] in consts
    assert a_const != b_const, f"{node.op_type} needs exactly one constant operand"
    c = consts[node.input[0] if a_const else node.input[1]]
    if node.op_type == "Add":
        return g
    if node.op_type == "Sub":
        return g if b_const else b.op("Neg", [g], "neg")
    if node.op_type == "Mul":
        return b.op("Mul", [g, b.const("mul", c)], "mul_grad")
    assert b_const, "Div by a variable is not supported"
    return b.op("Mul", [g, b.const("inv", (1.0 / c).astype(c.dtype))], "div_grad")


def _cast_grad(b: _Builder, node, g: str, consts: dict) -> str:
    # The only Casts are precision.to_half's: float32 <-> float16, so the source type is
    # the other one of the pair.
    to = _attrs(node)["to"]
    assert to in (TensorProto.FLOAT, TensorProto.FLOAT16), "only float32/float16 Casts"
    source = TensorProto.FLOAT if to == TensorProto.FLOAT16 else TensorProto.FLOAT16
    return b.op("Cast", [g], "cast_grad", to=source)


_GRADIENTS = {
    "Cast": _cast_grad,
    "Conv": _conv_grad,
    "Relu": _relu_grad,
    "AveragePool": _avgpool_grad,
    "MaxPool": _maxpool_grad,
    "Add": _elementwise_grad,
    "Sub": _elementwise_grad,
    "Mul": _elementwise_grad,
    "Div": _elementwise_grad,
    "Identity": lambda b, node, g, consts: g,
}


def emit_gradient(graph: onnx.GraphProto, seeds: dict, builder: _Builder | None = None):
    """Emit nodes computing d(loss)/d(graph input) from `seeds` {tensor: its gradient's name}.

    Returns (builder, name of the input gradient). Only nodes between the input and the
    seeded tensors are differentiated; gradients meeting at a tensor are summed.
    """
    builder = builder or _Builder()
    if any(init.data_type == TensorProto.FLOAT16 for init in graph.initializer):
        builder.dtype = np.float16
    consts = _constants(graph)
    builder.pools_before = _count_pools(graph)
    grads = {tensor: [grad] for tensor, grad in seeds.items()}
    for node in reversed(needed_nodes(graph, seeds)):
        if node.op_type == "Constant" or node.output[0] not in grads:
            continue
        if node.op_type not in _GRADIENTS:
            raise NotImplementedError(f"no gradient for ONNX op {node.op_type} ({node.name})")
        g = _sum(builder, grads.pop(node.output[0]))
        data_input = next(name for name in node.input if name not in consts)
        grads.setdefault(data_input, []).append(_GRADIENTS[node.op_type](builder, node, g, consts))
    image = graph.input[0].name
    return builder, _sum(builder, grads[image])


def _count_pools(graph: onnx.GraphProto) -> dict:
    """{tensor: number of pooling nodes between the graph input and it}."""
    counts = {graph.input[0].name: 0}
    for node in graph.node:
        data = [counts[name] for name in node.input if name in counts]
        if data:
            pooled = int(node.op_type in ("AveragePool", "MaxPool"))
            for out in node.output:
                counts[out] = max(data) + pooled
    return counts


def _sum(b: _Builder, terms: list) -> str:
    total = terms[0]
    for term in terms[1:]:
        total = b.op("Add", [total, term], "grad_sum")
    return total


def _float_info(name: str, elem_type: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, [None, None, None, None])


@dataclass(frozen=True)
class GradientGraphs:
    """A forward graph that also returns what the backward needs, and the backward graph.

    forward:  image -> loss layers, then `saved` tensors (in that order).
    backward: saved tensors and grad_<layer> for each loss layer -> grad_image.
    """

    forward: onnx.ModelProto
    backward: onnx.ModelProto
    loss_layers: tuple
    saved: tuple


def forward_graph(model: onnx.ModelProto, outputs, extra: dict | None = None) -> onnx.ModelProto:
    """`model` pruned to what `outputs` (float32) and `extra` {name: elem type} need."""
    extra = extra or {}
    graph = model.graph
    nodes = needed_nodes(graph, [*outputs, *extra])
    used = {name for node in nodes for name in node.input}
    pruned = helper.make_graph(
        nodes,
        "forward",
        [graph.input[0]],
        [_float_info(name) for name in outputs] + [_float_info(n, t) for n, t in extra.items()],
        [init for init in graph.initializer if init.name in used],
    )
    opsets = [helper.make_opsetid("", OPSET)]
    return helper.make_model(pruned, opset_imports=opsets, ir_version=model.ir_version)


def build_gradient_graphs(model: onnx.ModelProto, loss_layers) -> GradientGraphs:
    """Split `model` into a pruned forward graph and the backward graph for `loss_layers`."""
    loss_layers = tuple(loss_layers)
    graph = model.graph
    seeds = {layer: GRAD_PREFIX + layer for layer in loss_layers}
    builder, input_grad = emit_gradient(graph, seeds)
    builder.nodes.append(helper.make_node("Identity", [input_grad], [INPUT_GRAD]))

    extra = tuple(t for t in builder.saved if t not in loss_layers)
    # Loss layers are float32 (cast up under fp16); saved activations are the network's type.
    network_type = helper.np_dtype_to_tensor_dtype(np.dtype(builder.dtype))
    forward = forward_graph(model, loss_layers, {name: network_type for name in extra})
    backward_graph = helper.make_graph(
        builder.nodes,
        "backward",
        [
            _float_info(n, TensorProto.FLOAT if n in loss_layers else network_type)
            for n in builder.saved
        ]
        + [_float_info(GRAD_PREFIX + layer) for layer in loss_layers],
        [_float_info(INPUT_GRAD)],
        builder.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    return GradientGraphs(
        forward=forward,
        backward=helper.make_model(
            backward_graph, opset_imports=opsets, ir_version=model.ir_version
        ),
        loss_layers=loss_layers,
        saved=tuple(builder.saved),
    )
