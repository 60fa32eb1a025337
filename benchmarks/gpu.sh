#!/usr/bin/env bash
# The GPU check in one go, for a machine with an NVIDIA GPU and no network (under 8 min):
# the GPU tests, then `ortstyle bench` at 512 and 1024 px, once per engine variant (ONNX
# Runtime CUDA fp32, TensorRT fp32, TensorRT fp16), each against eager PyTorch on CUDA,
# then one markdown table of the three. Results (the JSON reports, the table, the logs)
# go to $OUT when it is set, else to benchmarks/results/gpu-<date>/.
#
# Needs, installed beforehand: this project with `pip install -e '.[tensorrt,export,test]'`
# (onnxruntime-gpu, CUDA, cuDNN and TensorRT 10 from pip) and a CUDA build of torch.
# Set PYTHON to choose the interpreter (default: .venv/bin/python if present, else python3).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${OUT:-benchmarks/results/gpu-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
export ORTSTYLE_OFFLINE=1 PYTHONUNBUFFERED=1

# 0. What is here: versions, and whether each GPU provider starts (and if not, why).
{
    "$PYTHON" -m ortstyle info
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
} 2>&1 | tee "$OUT/environment.txt"

# 1. The GPU tests (and the CPU runs they compare against): about a minute.
timeout 150 "$PYTHON" -m pytest -q -m gpu -rs tests/test_gpu.py 2>&1 | tee "$OUT/gpu-tests.log"

# 2. The benchmark, one variant at a time; the first run also exports the model (~20 s).
for variant in cuda:fp32 tensorrt:fp32 tensorrt:fp16; do
    provider=${variant%%:*} precision=${variant##*:}
    timeout 100 "$PYTHON" -m ortstyle bench --sizes 512,1024 --repeats 5 --warmup 2 \
        --weights random --provider "$provider" --precision "$precision" \
        --json "$OUT/bench-$provider-$precision.json" 2>&1 | tee -a "$OUT/bench.log"
done

# 3. One table of whatever finished.
reports=("$OUT"/bench-*.json)
if [ -e "${reports[0]}" ]; then
    "$PYTHON" benchmarks/gpu_table.py "${reports[@]}" | tee "$OUT/gpu-bench.md"
else
    echo "no benchmark finished; see $OUT/bench.log" | tee "$OUT/gpu-bench.md"
fi
