"""Choosing ONNX Runtime execution providers and saying which one really runs.

onnxruntime-gpu lists CUDA and TensorRT as available whether or not their libraries and
a GPU are there; a provider that cannot load is dropped with pages of log on stdout and
stderr. So each GPU provider is first tried on a one-op model with that output captured,
and only the ones that start go into the real sessions.
"""

import contextlib
import ctypes
import importlib.util
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from onnx import TensorProto, helper

from ortstyle.errors import OrtStyleError

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
PROVIDER_CHOICES = ("auto", *PROVIDER_NAMES)
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")  # best first


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
    """The provider chain for a request, or OrtStyleError if a named provider cannot start."""
    if requested not in PROVIDER_CHOICES:
        raise OrtStyleError(f"provider {requested!r} is not one of: {', '.join(PROVIDER_CHOICES)}")
    available = onnxruntime.get_available_providers()
    if requested == "auto":
        return _plan_auto(available)
    name = PROVIDER_NAMES[requested]
    if name not in available:
        known = [short_name(p) for p in available if p in PROVIDER_NAMES.values()]
        raise OrtStyleError(
            f"provider {requested} is not available in onnxruntime {onnxruntime.__version__} "
            f"(it has: {', '.join(known)}); "
            "install ortstyle[gpu] for cuda/tensorrt, or use --provider auto"
        )
    if name == "CPUExecutionProvider":
        return ProviderPlan(requested, (name,), ())
    cause = probe_provider(name)
    if cause:
        raise OrtStyleError(
            f"provider {requested} could not start: {cause}; see `ortstyle info`, the README's "
            "GPU section, or use --provider auto"
        )
    return ProviderPlan(requested, (name, "CPUExecutionProvider"), ())


def _plan_auto(available: list) -> ProviderPlan:
    """Every GPU provider that starts, best first, then the CPU; a note for each that failed."""
    gpu = [name for name in GPU_PROVIDERS if name in available]
    if not gpu:
        note = "provider auto: no GPU provider in this onnxruntime, using cpu"
        return ProviderPlan("auto", ("CPUExecutionProvider",), (note,))
    causes = {name: probe_provider(name) for name in gpu}
    chain = (*(name for name in gpu if not causes[name]), "CPUExecutionProvider")
    notes = tuple(
        f"provider auto: {short_name(name)} could not start ({cause}), using {short_name(chain[0])}"
        for name, cause in causes.items()
        if cause
    )
    return ProviderPlan("auto", chain, notes)


def probe_provider(name: str) -> str | None:
    """None if provider `name` runs a one-op model, else why not, in one line.

    What onnxruntime prints or warns meanwhile is captured: a failure shows as that line.
    """
    error = ""
    with _native_output_captured() as log, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        load_gpu_libraries()
        try:
            session = onnxruntime.InferenceSession(
                _PROBE_MODEL.SerializeToString(),
                providers=list(dict.fromkeys([name, "CPUExecutionProvider"])),
            )
            if session.get_providers()[0] == name:
                session.run(None, {"x": np.ones((1, 4), np.float32)})
                return None
        except Exception as failure:  # noqa: BLE001 - any failure to start is the answer
            error = str(failure)
        sys.stdout.flush()
        printed = log.read_text(errors="replace")
    said = [printed, *(f"Warning: {w.message}" for w in warned), error]
    return failure_cause("\n".join(said))


_PROBE_MODEL = helper.make_model(
    helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    ),
    opset_imports=[helper.make_opsetid("", 17)],
    ir_version=8,  # old enough for every onnxruntime this package allows
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_cause(log: str) -> str:
    """The reason in what onnxruntime printed while a provider failed to start, in one line."""
    text = _ANSI.sub("", log)
    library = re.search(r"with error: ([^\n]+)", text)
    if library:  # the usual case: a CUDA, cuDNN or TensorRT library that did not load
        return library.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip().strip("*")]
    if not lines:
        return "onnxruntime gave no reason"
    # The last line that reads like a reason, without its logger or file prefix.
    reasons = [line for line in lines if re.search(r"error|warning:|fail|not ", line, re.I)]
    reason = re.sub(r"^.*?(\] |Warning: |Error: )", "", (reasons or lines)[-1])
    return re.sub(r"^EP Error \S+ (void \S+ )?", "", reason)[:300]


@contextlib.contextmanager
def _native_output_captured():
    """Send stdout and stderr, native code's included, to a temporary file while inside."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    handle, name = tempfile.mkstemp(prefix="ortstyle-probe-", suffix=".log")
    try:
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        try:
            yield Path(name)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
    finally:
        for fd in (*saved, handle):
            os.close(fd)
        Path(name).unlink(missing_ok=True)


def load_gpu_libraries() -> None:
    """Load CUDA, cuDNN and TensorRT libraries installed as pip wheels.

    They live in site-packages, where the dynamic loader does not look; once loaded, the
    providers' own libraries find them by name.
    """
    if hasattr(onnxruntime, "preload_dlls"):  # onnxruntime-gpu 1.21 and later
        with contextlib.suppress(Exception):
            onnxruntime.preload_dlls()
    spec = importlib.util.find_spec("tensorrt_libs")  # from the tensorrt-cu*-libs wheels
    if spec is None or not spec.submodule_search_locations:
        return
    folder = Path(next(iter(spec.submodule_search_locations)))
    for pattern in ("libnvinfer.so.*", "libnvinfer_plugin.so.*", "libnvonnxparser.so.*"):
        for library in sorted(folder.glob(pattern)):
            with contextlib.suppress(OSError):
                ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)


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
