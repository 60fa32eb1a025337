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

from ortstyle.bench.command import bench
from ortstyle.bench.cost import evaluation_gflop, network_macs
from ortstyle.bench.measure import BenchSettings, memory_fit, run_bench

__all__ = ["BenchSettings", "bench", "evaluation_gflop", "memory_fit", "network_macs", "run_bench"]
