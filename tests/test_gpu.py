"""CUDA and TensorRT against the CPU provider (marker `gpu`: skipped without a CUDA device)."""

import numpy as np
import onnxruntime
import pytest

from ortstyle.engine.stylize import Stylizer
from ortstyle.options import StyleOptions

pytestmark = pytest.mark.gpu
FP32_AGREEMENT = 1e-3  # relative L2 of the gradient, GPU fp32 vs CPU fp32 (issue 5)
FP16_AGREEMENT = 5e-2
SHAPE_HW = (96, 128)


def _evaluate(model, rng_seed=0, **options):
    rng = np.random.default_rng(rng_seed)
    content = rng.random((*SHAPE_HW, 3), dtype=np.float32)
    style = rng.random((80, 100, 3), dtype=np.float32)
    image = np.ascontiguousarray(rng.random((1, 3, *SHAPE_HW), dtype=np.float32))
    stylizer = Stylizer(model, StyleOptions(size=max(SHAPE_HW), **options))
    parts, grad = stylizer.evaluate(image, stylizer.targets(content, [style], SHAPE_HW))
    return stylizer, parts, grad


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("backend", ["onnx", "numpy"])
def test_cuda_fp32_agrees_with_cpu(random_model, backend):
    _, cpu_parts, cpu_grad = _evaluate(random_model, provider="cpu", loss_backend=backend)
    stylizer, parts, grad = _evaluate(random_model, provider="cuda", loss_backend=backend)
    assert stylizer.network.provider == "cuda"
    assert abs(parts.total - cpu_parts.total) / cpu_parts.total < 1e-4
    assert _rel(grad, cpu_grad) < FP32_AGREEMENT


def test_cuda_graph_agrees_with_cpu(random_model):
    _, cpu_parts, cpu_grad = _evaluate(random_model, provider="cpu")
    stylizer, parts, grad = _evaluate(random_model, provider="cuda", cuda_graph=True)
    again = stylizer.objective.evaluate(
        np.ascontiguousarray(np.random.default_rng(0).random((1, 3, *SHAPE_HW), dtype=np.float32))
    )
    assert _rel(grad, cpu_grad) < FP32_AGREEMENT
    assert again[0].total == pytest.approx(parts.total, rel=1e-5)


def test_every_node_of_the_loss_graph_runs_on_cuda(random_model):
    """What CUDA graphs need, and what keeps every tensor on the device."""
    rng = np.random.default_rng(0)
    stylizer = Stylizer(random_model, StyleOptions(size=max(SHAPE_HW), provider="cuda"))
    content = rng.random((*SHAPE_HW, 3), dtype=np.float32)
    stylizer.objective.set_targets(stylizer.targets(content, [content], SHAPE_HW))
    placement = stylizer.objective.placement(rng.random((1, 3, *SHAPE_HW), dtype=np.float32))
    assert set(placement) == {"CUDAExecutionProvider"}, placement


def test_cuda_fp16_is_close(random_model):
    _, _, cpu_grad = _evaluate(random_model, provider="cpu")
    _, _, grad = _evaluate(random_model, provider="cuda", precision="fp16")
    assert _rel(grad, cpu_grad) < FP16_AGREEMENT


@pytest.mark.skipif(
    "TensorrtExecutionProvider" not in onnxruntime.get_available_providers(),
    reason="needs the TensorRT execution provider",
)
@pytest.mark.parametrize(
    ("precision", "tolerance"), [("fp32", FP32_AGREEMENT), ("fp16", FP16_AGREEMENT)]
)
def test_tensorrt_agrees_with_cpu(random_model, precision, tolerance):
    _, _, cpu_grad = _evaluate(random_model, provider="cpu")
    stylizer, _, grad = _evaluate(random_model, provider="tensorrt", precision=precision)
    assert stylizer.network.provider == "tensorrt"
    assert _rel(grad, cpu_grad) < tolerance
