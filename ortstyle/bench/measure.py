"""Driving the two workers: interleaved evaluations, whole runs, the memory fit, the report.

The measuring functions return plain dicts (the JSON schema); only the command prints.
"""

import math
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

from ortstyle.bench.machine import machine, source_state, wait_until_quiet
from ortstyle.bench.worker import Worker
from ortstyle.engine import memory
from ortstyle.options import StyleOptions

SIDES = ("ort", "eager")
DEFAULTS = StyleOptions()


@dataclass(frozen=True)
class BenchSettings:
    """What both sides run. Sizes are square sides in px; the content is centre-cropped."""

    model_path: str  # the exported model the engine runs
    weights: str  # the model's weights source, which the eager side loads: same weights
    weights_sha256: str
    pooling: str
    content: str
    style: str
    threads: int
    sizes: tuple
    repeats: int = 5  # timed evaluations per side and size
    warmup: int = 1  # untimed evaluations per side and size, first
    iterations: int = 0  # L-BFGS evaluations of a whole run per size; 0: no whole runs
    quiet: float = 0.0  # wait for other processes' CPU share to fall below this; 0: never
    loss_backend: str = DEFAULTS.loss_backend  # the engine's; the eager side has one way
    # The engine's provider and precision. On cuda or tensorrt the eager side runs on the
    # GPU too, in float32 with PyTorch's defaults.
    provider: str = "cpu"
    precision: str = "fp32"


def _spec(settings: BenchSettings, side: str, task: str, size: int, out: Path) -> dict:
    return {**asdict(settings), "side": side, "task": task, "size": size, "out": str(out)}


def _stats(side: str, times: list) -> dict:
    return {
        f"{side}_ms": float(np.median(times)),
        f"{side}_ms_min": float(min(times)),
        f"{side}_ms_max": float(max(times)),
        f"{side}_ms_all": [round(t, 2) for t in times],
    }


def measure_size(settings: BenchSettings, size: int, gflop: float, out: Path) -> dict:
    """Interleaved evaluations of both sides at one size: times, memory, agreement, peak."""
    with (
        Worker(_spec(settings, "ort", "evaluate", size, out)) as ort,
        Worker(_spec(settings, "eager", "evaluate", size, out)) as eager,
    ):
        workers = {"ort": ort, "eager": eager}
        setups = {side: worker.reply()["setup"] for side, worker in workers.items()}
        for _ in range(settings.warmup):
            for worker in workers.values():
                worker.ask("eval")
        timings = _time_evaluations(settings, workers)
        final = {side: worker.ask("finish") for side, worker in workers.items()}
        peaks = {}
        for worker in workers.values():
            if settings.quiet:
                wait_until_quiet(settings.quiet)
            peaks.update(worker.ask("peak"))

    record = {"size": size, "height": size, "width": size, "gflop": gflop}
    for side in SIDES:
        record.update(_side_record(side, gflop, timings[side], final[side], setups[side]))
    grads = {side: np.load(out / f"{side}-{size}.npy") for side in SIDES}
    record.update(_agreement(record, grads, final))
    record.update(
        peak_gflops_here=max(peaks.values()),
        matmul_gflops=peaks,
        engine_estimate_bytes=memory.estimate_bytes(size, size),
    )
    return record


def _time_evaluations(settings: BenchSettings, workers: dict) -> dict:
    """Per side, the replies of its timed evaluations: ms, others' CPU share, cores busy."""
    timings = {side: [] for side in SIDES}
    for repeat in range(settings.repeats):
        # Alternate who goes first, so neither always runs on the other's warm caches.
        for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
            if settings.quiet:
                wait_until_quiet(settings.quiet)
            timings[side].append(workers[side].ask("eval"))
    return timings


def _side_record(side: str, gflop: float, replies: list, final: dict, setup: dict) -> dict:
    """One side's fields of a size's record: times, FLOP/s, memory, setup, CPU use."""
    record = _stats(side, [reply["ms"] for reply in replies])
    record[f"{side}_gflops"] = gflop / (record[f"{side}_ms"] / 1e3)
    record[f"{side}_rss_bytes"] = final["rss_bytes"]
    record[f"{side}_process_peak_bytes"] = final["process_peak_bytes"]
    record[f"{side}_setup"] = setup
    # The share of the machine's CPU other processes took while this side was timed.
    record[f"{side}_others_cpu"] = [round(reply["others"], 3) for reply in replies]
    record[f"{side}_cores_busy"] = [round(reply["cores"], 2) for reply in replies]
    return record


def _agreement(record: dict, grads: dict, final: dict) -> dict:
    """The speed ratios, and how far the two sides' gradients and losses differ."""
    ort_loss, eager_loss = final["ort"]["loss"], final["eager"]["loss"]
    return {
        "ratio": record["eager_ms"] / record["ort_ms"],
        "ratio_of_minima": record["eager_ms_min"] / record["ort_ms_min"],
        "grad_rel_l2": float(
            np.linalg.norm(grads["ort"] - grads["eager"]) / np.linalg.norm(grads["eager"])
        ),
        "ort_loss": ort_loss,
        "eager_loss": eager_loss,
        "loss_rel_diff": abs(ort_loss - eager_loss) / max(abs(eager_loss), 1e-30),
    }


def whole_run(settings: BenchSettings, size: int, out: Path, eager_first: bool) -> dict:
    """Both sides stylize the pair with L-BFGS-B for `settings.iterations` evaluations."""
    runs = {}
    for side in SIDES[::-1] if eager_first else SIDES:
        if settings.quiet:
            wait_until_quiet(settings.quiet)
        with Worker(_spec(settings, side, "run", size, out)) as worker:
            runs[side] = worker.reply()
    images = [np.load(out / f"{side}-run-{size}.npy") for side in SIDES]
    record = {"size": size, "iterations": settings.iterations}
    for side in SIDES:
        record.update({f"{side}_{key}": value for key, value in runs[side].items()})
    record["ratio"] = record["eager_wall_s"] / record["ort_wall_s"]
    record["image_mean_abs_diff"] = float(np.abs(images[0] - images[1]).mean())
    return record


def memory_fit(results: list) -> dict:
    """Peak memory = base + bytes per pixel x pixels, fitted per side over the sizes, and the
    largest square that fits the memory available now; beside it the engine's own estimate."""
    available = memory.available_bytes()
    fit = {"available_bytes": available, "total_bytes": psutil.virtual_memory().total}
    pixels = [r["height"] * r["width"] for r in results]
    if len(set(pixels)) < 2:
        return fit
    for side in SIDES:
        per_pixel, base = np.polyfit(pixels, [r[f"{side}_rss_bytes"] for r in results], 1)
        fit[side] = {
            "bytes_per_pixel": float(per_pixel),
            "base_bytes": float(base),
            "largest_square_px": int(math.sqrt(max(available - base, 0) / max(per_pixel, 1e-9))),
        }
    fit["engine_estimate"] = {
        "bytes_per_pixel": memory.BYTES_PER_PIXEL,
        "base_bytes": memory.BASE_BYTES,
        "largest_square_px": memory.largest_long_side((1, 1), available),
    }
    return fit


def run_bench(settings: BenchSettings, gflops: dict, progress=None) -> dict:
    """Every measurement `settings` asks for, as the JSON report (`results`, `whole_runs`, ...).

    `gflops` maps each size to its evaluation's GFLOP; `progress` receives one line per step.
    """
    say = progress or (lambda line: None)
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    report.update(machine=machine(), source=source_state(), settings=asdict(settings))
    report["load_before"] = os.getloadavg()
    results, whole_runs = [], []
    with tempfile.TemporaryDirectory(prefix="ortstyle-bench-") as folder:
        for size in settings.sizes:
            say(f"{size} px: {settings.warmup} warm-up, {settings.repeats} timed evaluations each")
            results.append(measure_size(settings, size, gflops[size], Path(folder)))
        for index, size in enumerate(settings.sizes if settings.iterations else ()):
            say(f"{size} px: whole runs of {settings.iterations} L-BFGS evaluations")
            whole_runs.append(whole_run(settings, size, Path(folder), eager_first=index % 2 == 1))

    peak = max(r["peak_gflops_here"] for r in results)
    _add_peak_fractions(results, peak)
    report.update(load_after=os.getloadavg(), peak_gflops=peak, results=results)
    report.update(whole_runs=whole_runs, memory=memory_fit(results))
    return report


def _add_peak_fractions(results: list, peak: float) -> None:
    """Each side's achieved FLOP/s as a fraction of the run's peak: median, and best."""
    for record in results:
        for side in SIDES:
            record[f"{side}_peak_fraction"] = record[f"{side}_gflops"] / peak
            record[f"{side}_best_peak_fraction"] = (
                record["gflop"] / record[f"{side}_ms_min"] * 1e3 / peak
            )
