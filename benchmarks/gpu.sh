#!/usr/bin/env bash
# The GPU check in one go, for a machine with an NVIDIA GPU and no network (under 8 min):
# the GPU tests, then `ortstyle bench` at 512 and 1024 px comparing eager PyTorch on CUDA
# with ONNX Runtime CUDA fp32 and TensorRT fp32 and fp16. Results (JSON, a markdown table,
# the test log) go to $OUT when it is set, else to benchmarks/results/gpu-<date>/.
#
# Needs, installed beforehand: this project with `pip install -e '.[tensorrt,export,test]'`
# (onnxruntime-gpu, CUDA, cuDNN and TensorRT 10 from pip) and a CUDA build of torch.
# Set PYTHON to choose the interpreter (default: .venv/bin/python if present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${OUT:-benchmarks/results/gpu-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
export ORTSTYLE_OFFLINE=1 PYTHONUNBUFFERED=1

"$PYTHON" - <<'PY' | tee "$OUT/environment.txt"
import onnxruntime, platform
print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except ImportError:
    print("torch not installed")
print("python", platform.python_version())
PY

# 1. The GPU tests (and the CPU ones they compare against): about a minute.
timeout 180 "$PYTHON" -m pytest -q -m gpu -rs tests/test_gpu.py 2>&1 | tee "$OUT/gpu-tests.log" || true

# 2. The benchmark: eager CUDA against each ONNX Runtime variant, interleaved, per size.
timeout 330 "$PYTHON" benchmarks/gpu_bench.py --device cuda --sizes 512,1024 --repeats 5 \
    --warmup 2 --variants cuda-fp32,tensorrt-fp32,tensorrt-fp16 \
    --json "$OUT/gpu-bench.json" --markdown "$OUT/gpu-bench.md" 2>&1 | tee "$OUT/gpu-bench.log"
