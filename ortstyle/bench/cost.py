"""What an evaluation costs in FLOP, and the machine's peak float32 FLOP/s to set it against."""

import math
import time

import numpy as np
import onnx

from ortstyle.engine.model import MODEL_INPUT

PEAK_MATMUL_SIDE = 2048  # float32 square matrices of the peak measurement (17 GFLOP each)
PEAK_REPEATS = 10  # the best of these counts: the machine's peak, not its average


def network_macs(model: onnx.ModelProto, height: int, width: int) -> int:
    """Multiply-adds of one forward pass of the exported graph at (height, width).

    Read from the Conv weights' shapes and the pools' strides; the loss layer is not counted.
    """
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    sizes = {MODEL_INPUT: (height, width)}
    macs = 0
    for node in model.graph.node:
        hw = next((sizes[name] for name in node.input if name in sizes), None)
        if hw is None:
            continue
        if node.op_type in ("Conv", "MaxPool", "AveragePool"):
            hw = _output_hw(node, hw, shapes)
        if node.op_type == "Conv":
            out_channels, in_channels, kernel_h, kernel_w = shapes[node.input[1]]
            macs += hw[0] * hw[1] * out_channels * in_channels * kernel_h * kernel_w
        for name in node.output:
            sizes[name] = hw
    return macs


def _output_hw(node: onnx.NodeProto, hw: tuple, shapes: dict) -> tuple:
    """(height, width) out of a Conv or pool node, from its kernel, strides and pads."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    kernel = attrs.get("kernel_shape") or shapes[node.input[1]][2:]
    strides, pads = attrs.get("strides", (1, 1)), attrs.get("pads", (0, 0, 0, 0))
    return tuple((hw[i] + pads[i] + pads[i + 2] - kernel[i]) // strides[i] + 1 for i in (0, 1))


def evaluation_gflop(model: onnx.ModelProto, height: int, width: int) -> float:
    """GFLOP of one evaluation: forward plus input-gradient backward, which costs the same
    multiply-adds (each Conv's input gradient is a Conv of the same size), 2 FLOP each."""
    return 2 * 2 * network_macs(model, height, width) / 1e9


def _best_gflops(product, flop: float) -> float:
    """GFLOP/s of the best of PEAK_REPEATS calls of `product`, after one untimed call."""
    product()
    best = math.inf
    for _ in range(PEAK_REPEATS):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9


def peak_gflops(side: str, threads: int, device: str = "cpu", precision: str = "fp32") -> dict:
    """GFLOP/s of a large float32 matrix product, per library the side has loaded.

    The libraries differ by up to 2x on one machine (MKL takes its AVX2 path on AMD CPUs,
    MLAS and OpenBLAS use AVX-512), so the best of them stands for the machine's peak.
    On a GPU the eager side measures torch's product at the engine's precision, and the
    engine's side measures nothing: its libraries (cuBLAS, cuDNN) are the same.
    """
    n = PEAK_MATMUL_SIDE
    flop = 2.0 * n**3
    if device == "cuda":
        return _gpu_peak_gflops(side, n, flop, precision)
    a, b = (np.random.default_rng(k).random((n, n), dtype=np.float32) for k in (0, 1))
    if side == "eager":
        import torch

        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return {"torch": _best_gflops(lambda: torch.mm(ta, tb), flop)}
    session = _matmul_session(n, threads)
    return {
        "onnxruntime": _best_gflops(lambda: session.run(None, {"a": a, "b": b}), flop),
        "numpy": _best_gflops(lambda: a @ b, flop),
    }


def _gpu_peak_gflops(side: str, n: int, flop: float, precision: str) -> dict:
    if side != "eager":
        return {}
    import torch

    dtype = torch.float16 if precision == "fp16" else torch.float32
    a, b = (torch.rand(n, n, device="cuda", dtype=dtype) for _ in range(2))

    def product():
        torch.mm(a, b)
        torch.cuda.synchronize()

    return {f"torch-cuda-{precision}": _best_gflops(product, flop)}


def _matmul_session(n: int, threads: int):
    """An ONNX Runtime CPU session of one (n, n) x (n, n) float32 MatMul."""
    import onnxruntime
    from onnx import TensorProto, helper

    tensors = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "abc"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                              tensors[:2], tensors[2:])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
