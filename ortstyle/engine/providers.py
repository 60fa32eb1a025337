"""Choosing ONNX Runtime execution providers and saying which one really runs."""

from dataclasses import dataclass

import onnxruntime

from ortstyle.errors import OrtStyleError

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
PROVIDER_CHOICES = ("auto", *PROVIDER_NAMES)


@dataclass(frozen=True)
class ProviderPlan:
    """The provider chain handed to ONNX Runtime and the one the user asked for."""

    requested: str  # one of PROVIDER_CHOICES
    chain: tuple  # ONNX Runtime provider names, preferred first
    notes: tuple  # one line per degraded mode (e.g. "auto: no GPU provider, using cpu")


def short_name(provider: str) -> str:
    """'CUDAExecutionProvider' -> 'cuda'."""
    return {v: k for k, v in PROVIDER_NAMES.items()}.get(provider, provider)


def plan_providers(requested: str) -> ProviderPlan:
    """The provider chain for a request, or OrtStyleError if a named provider is missing."""
    if requested not in PROVIDER_CHOICES:
        raise OrtStyleError(f"provider {requested!r} is not one of: {', '.join(PROVIDER_CHOICES)}")
    available = onnxruntime.get_available_providers()
    if requested == "auto":
        chain = tuple(p for p in PROVIDER_NAMES.values() if p in available)
        notes = (
            ()
            if chain[0] != "CPUExecutionProvider"
            else ("provider auto: no GPU provider in this onnxruntime, using cpu",)
        )
        return ProviderPlan(requested, chain, notes)
    name = PROVIDER_NAMES[requested]
    if name not in available:
        known = [short_name(p) for p in available if p in PROVIDER_NAMES.values()]
        raise OrtStyleError(
            f"provider {requested} is not available in onnxruntime {onnxruntime.__version__} "
            f"(it has: {', '.join(known)}); "
            "install ortstyle[gpu] for cuda/tensorrt, or use --provider auto"
        )
    chain = (name,) if name == "CPUExecutionProvider" else (name, "CPUExecutionProvider")
    return ProviderPlan(requested, chain, ())


def check_session_provider(session, plan: ProviderPlan) -> str:
    """The provider a session really runs on; OrtStyleError if a named GPU provider failed to load.

    ONNX Runtime quietly drops a provider whose libraries (CUDA, cuDNN, TensorRT) are
    missing and runs on the CPU; asking for one by name must not end that way.
    """
    active = session.get_providers()[0]
    if plan.requested != "auto" and active != plan.chain[0]:
        raise OrtStyleError(
            f"provider {plan.requested} could not start (its CUDA/TensorRT libraries did not "
            f"load) and onnxruntime fell back to {short_name(active)}; use --provider auto "
            "to accept that fallback"
        )
    return short_name(active)


def provider_options(plan: ProviderPlan, fp16: bool = False, cuda_graph: bool = False) -> list:
    """The plan's chain with each GPU provider's options, ready for InferenceSession.

    TensorRT keeps its engines and timing cache in the cache folder, so a second run with
    the same model and size starts without rebuilding; CUDA searches cuDNN's algorithms
    once per shape, which pays off over hundreds of evaluations.
    """
    from ortstyle.files import cache_dir

    entries = []
    for name in plan.chain:
        if name == "TensorrtExecutionProvider":
            folder = cache_dir() / "tensorrt"
            folder.mkdir(parents=True, exist_ok=True)
            options = {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(folder),
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": str(folder),
                "trt_fp16_enable": str(fp16),
            }
            entries.append((name, options))
        elif name == "CUDAExecutionProvider":
            options = {"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}
            if cuda_graph:
                options["enable_cuda_graph"] = "1"
            entries.append((name, options))
        else:
            entries.append(name)
    return entries
