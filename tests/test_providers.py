"""Provider planning: GPU providers tried first, their failures told in one line."""

import ctypes
import sys

import onnxruntime
import pytest

from ortstyle.engine import providers
from ortstyle.engine.providers import (
    failure_cause,
    load_gpu_libraries,
    plan_providers,
    probe_provider,
)
from ortstyle.errors import OrtStyleError

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"

# What onnxruntime-gpu 1.31.1 printed on a machine with no NVIDIA driver (abridged paths).
CUDA_LOG = (
    "\x1b[1;31m2026-12-04 18:31:27.058 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 "
    "operator()] /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 "
    "onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : "
    "FAIL : Failed to load library /site-packages/onnxruntime/capi/"
    "libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object "
    "file: No such file or directory\n\x1b[m\n\x1b[0;93m2026-12-04 18:31:27.058 "
    "[W:onnxruntime:Default, onnxruntime_pybind_state.cc:1295 "
    "CreateExecutionProviderFactoryInstance] Failed to create CUDAExecutionProvider. Require "
    "cuDNN 9.* and CUDA 13.*.\x1b[m\n"
)
TENSORRT_FALLBACK_LOG = (
    "*************** EP Error ***************\n"
    "EP Error /onnxruntime_src/onnxruntime/python/onnxruntime_pybind_state.cc:729 void "
    "RegisterTensorRTPluginsAsCustomOps Please install TensorRT libraries as mentioned in the "
    "GPU requirements page, make sure they're in the PATH or LD_LIBRARY_PATH\n"
    "Falling back to ['CPUExecutionProvider'] and retrying.\n"
    "****************************************\n"
)
MISSING_LOG = (
    "/venv/onnxruntime_inference_collection.py:197: UserWarning: Specified provider "
    "'CUDAExecutionProvider' is not in available provider names.\n  warnings.warn(\n"
)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (CUDA_LOG, "libcuda.so.1: cannot open shared object file: No such file or directory"),
        (TENSORRT_FALLBACK_LOG, "Please install TensorRT libraries"),
        (MISSING_LOG, "Specified provider 'CUDAExecutionProvider' is not in available"),
        ("", "onnxruntime gave no reason"),
    ],
)
def test_failure_cause_is_the_reason_in_one_line(log, expected):
    cause = failure_cause(log)
    assert cause.startswith(expected)
    assert "\n" not in cause and "\x1b" not in cause


def test_the_cpu_provider_passes_the_probe():
    assert probe_provider(CPU) is None


def test_a_provider_that_cannot_start_is_one_line_and_prints_nothing(capfd):
    if CUDA in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the probe may well pass")
    cause = probe_provider(CUDA)
    assert cause and "CUDAExecutionProvider" in cause and "\n" not in cause
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""


@pytest.fixture
def gpu_build(monkeypatch):
    """An onnxruntime that lists both GPU providers, whose probes answer from `causes`."""
    causes = {}
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(providers, "probe_provider", lambda name: causes.get(name))
    return causes


def test_auto_takes_every_gpu_provider_that_starts(gpu_build):
    plan = plan_providers("auto")
    assert plan.chain == (TRT, CUDA, CPU) and plan.notes == ()


def test_auto_says_what_failed_and_what_it_fell_back_to(gpu_build):
    gpu_build[TRT] = "libnvinfer.so.10: cannot open shared object file"
    plan = plan_providers("auto")
    assert plan.chain == (CUDA, CPU)
    assert plan.notes == (
        "provider auto: tensorrt could not start (libnvinfer.so.10: cannot open shared object "
        "file), using cuda",
    )
    gpu_build[CUDA] = "libcuda.so.1: cannot open shared object file"
    plan = plan_providers("auto")
    assert plan.chain == (CPU,) and len(plan.notes) == 2 and "using cpu" in plan.notes[1]


def test_a_named_provider_that_cannot_start_is_an_error_naming_the_cause(gpu_build):
    gpu_build[CUDA] = "libcublasLt.so.13: cannot open shared object file"
    with pytest.raises(OrtStyleError, match=r"provider cuda could not start: libcublasLt\.so\.13"):
        plan_providers("cuda")
    assert plan_providers("tensorrt").chain == (TRT, CPU)


def test_tensorrt_wheel_libraries_are_loaded_before_the_parser(tmp_path, monkeypatch):
    package = tmp_path / "tensorrt_libs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("libnvonnxparser.so.10", "libnvinfer_plugin.so.10", "libnvinfer.so.10"):
        (package / name).write_bytes(b"")
    loaded = []
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt_libs", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", lambda path, mode=0: loaded.append(path.split("/")[-1]))
    load_gpu_libraries()
    assert loaded == ["libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10"]
