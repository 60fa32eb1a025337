"""`ortstyle bench`: the ONNX Runtime engine against eager PyTorch on one objective.

Both sides get the same weights, image pair, layers, losses and thread count. Each side
runs in a worker process of its own (`python -m ortstyle.bench --worker SPEC`), so the
peak resident memory it reports is its own and no idle thread pool of the other side
sits in its way; the parent warms both up, then alternates single evaluations between
them.

    cost.py     FLOP of an evaluation, the machine's peak FLOP/s
    machine.py  other processes' CPU use, peak memory, the machine and source measured
    worker.py   one side at one size in its own process, and the parent's handle on it
    measure.py  driving both workers: times, memory, agreement, whole runs, memory fit
    report.py   the tables and the plot
    command.py  the typer command: options, checks, output files
"""

import importlib

# Imported on first use, so that `python -m ortstyle.bench` can say in one line that ONNX
# Runtime is missing before anything imports it.
_EXPORTS = {
    "bench": "command",
    "evaluation_gflop": "cost",
    "network_macs": "cost",
    "BenchSettings": "measure",
    "memory_fit": "measure",
    "run_bench": "measure",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ortstyle.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ortstyle.bench.{_EXPORTS[name]}"), name)
