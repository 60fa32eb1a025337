#!/bin/sh
# The commands behind the figures in benchmarks/README.md. Run from the repository root
# with the project's venv; `python -m ortstyle.bench` is `ortstyle bench`.
set -e
day=$(date -u +%Y-%m-%d)
bench=".venv/bin/python -m ortstyle.bench"
uptime

# Per evaluation at 256 and 512 px, and whole L-BFGS runs of 30 evaluations.
$bench --sizes 256,512 --repeats 7 --warmup 2 --quiet 0.1 --whole-run --iterations 30 \
    --weights random --json "benchmarks/results/$day-cpu-256-512.json" \
    --plot "benchmarks/results/$day-cpu-256-512.png"
uptime

# Cost growth with the pixel count, and the memory fit behind the largest size that fits.
$bench --sizes 128,256,512,1024 --repeats 3 --warmup 1 --quiet 0.1 --weights random \
    --json "benchmarks/results/$day-cpu-growth.json" \
    --plot "benchmarks/results/$day-cpu-growth.png"
uptime

# A whole run at 1024 px: what L-BFGS-B adds to an evaluation's memory (about 10 min).
$bench --sizes 1024 --repeats 1 --warmup 0 --quiet 0.1 --whole-run --iterations 25 \
    --weights random --json "benchmarks/results/$day-cpu-whole-run-1024.json"
uptime

# Which ONNX Runtime operators take the time at 512 px.
.venv/bin/python benchmarks/profile_ort.py --size 512 --evaluations 5 --threads 2 \
    --quiet 0.05 --json "benchmarks/results/$day-cpu-profile-512.json"
