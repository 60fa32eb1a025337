"""Half precision for the network on GPUs, with the Gram matrices and losses kept in float32.

Gram sums over H*W products overflow float16 (65504) at ordinary image sizes, so only
the convolutions, ReLUs and pooling run in half precision: the image is cast down on
the way in and every feature the losses read is cast up on the way out. The backward
builder differentiates the two Casts like any other op.
"""

import onnx
from onnx import TensorProto, helper, numpy_helper


def _rename_inputs(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name == old:
                node.input[index] = new


def to_half(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of an exported feature model computing in float16, with float32 I/O."""
    half = onnx.ModelProto()
    half.CopyFrom(model)
    graph = half.graph
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT:
            array = numpy_helper.to_array(init).astype("float16")
            graph.initializer[index].CopyFrom(numpy_helper.from_array(array, init.name))

    image = graph.input[0].name
    _rename_inputs(graph, image, image + "_fp16")
    casts = [helper.make_node("Cast", [image], [image + "_fp16"], to=TensorProto.FLOAT16)]
    for output in graph.output:
        name = output.name
        _rename_inputs(graph, name, name + "_fp16")
        for node in graph.node:
            node.output[:] = [name + "_fp16" if out == name else out for out in node.output]
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
    nodes = casts[:1] + list(graph.node) + casts[1:]
    del graph.node[:]
    graph.node.extend(nodes)
    return half
