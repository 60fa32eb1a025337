"""The report shown: rich tables of times, memory and whole runs, and the plot."""

from pathlib import Path

import numpy as np
from rich.table import Table

from ortstyle.bench.measure import SIDES
from ortstyle.files import atomic_path

MIB = 2**20
TIME_COLUMNS = (
    "px|GFLOP|ORT ms|eager ms|eager/ORT|of minima|ORT % peak|eager % peak|others' CPU"
).split("|")
MEMORY_COLUMNS = (
    "px|ORT MiB|eager MiB|ORT process MiB|eager process MiB|engine estimate MiB|"
    "grad rel L2|loss rel diff"
).split("|")
WHOLE_RUN_COLUMNS = (
    "px|evaluations|ORT s|eager s|eager/ORT|ORT final loss|eager final loss|"
    "ORT process MiB|eager process MiB"
).split("|")
SIDE_LABELS = (("ort", "ONNX Runtime"), ("eager", "eager PyTorch"))


def _table(title: str, columns: list) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    return table


def time_table(report: dict) -> Table:
    """Per size: median (min-max) ms per evaluation, the ratio, the fraction of peak FLOP/s."""
    settings = report["settings"]
    engine = f"{settings.get('provider', 'cpu')} {settings.get('precision', 'fp32')}"
    table = _table(
        f"time per evaluation (engine on {engine}, {settings['threads']} threads; "
        f"peak {report['peak_gflops']:.0f} GFLOP/s, best matmul measured)",
        TIME_COLUMNS,
    )
    for r in report["results"]:
        others = np.mean([r["ort_others_cpu"] + r["eager_others_cpu"]])
        table.add_row(
            str(r["size"]),
            f"{r['gflop']:.0f}",
            *(f"{r[f'{s}_ms']:.0f} ({r[f'{s}_ms_min']:.0f}-{r[f'{s}_ms_max']:.0f})" for s in SIDES),
            f"{r['ratio']:.2f}",
            f"{r['ratio_of_minima']:.2f}",
            *(f"{r[f'{s}_peak_fraction']:.0%} ({r[f'{s}_best_peak_fraction']:.0%})" for s in SIDES),
            f"{others:.0%}",
        )
    caption = "ms: median (min-max); % peak: median (best); others' CPU: what other processes "
    table.caption = caption + "took of the machine's CPU while the sides were timed"
    return table


def memory_table(report: dict) -> Table:
    """Per size: peak resident memory of each side (stylizing, whole process), agreement."""
    table = _table("peak resident memory and agreement", MEMORY_COLUMNS)
    for r in report["results"]:
        table.add_row(
            str(r["size"]),
            *(f"{r[f'{s}_rss_bytes'] / MIB:.0f}" for s in SIDES),
            *(f"{r[f'{s}_process_peak_bytes'] / MIB:.0f}" for s in SIDES),
            f"{r['engine_estimate_bytes'] / MIB:.0f}",
            f"{r['grad_rel_l2']:.1e}",
            f"{r['loss_rel_diff']:.1e}",
        )
    return table


def whole_run_table(report: dict) -> Table:
    """Per size: wall time and final loss of each side's whole run."""
    table = _table("whole runs (L-BFGS-B, same evaluations)", WHOLE_RUN_COLUMNS)
    for r in report["whole_runs"]:
        table.add_row(
            str(r["size"]),
            str(r["iterations"]),
            *(f"{r[f'{s}_wall_s']:.1f}" for s in SIDES),
            f"{r['ratio']:.2f}",
            *(f"{r[f'{s}_final_loss']:.4g}" for s in SIDES),
            *(f"{r[f'{s}_process_peak_bytes'] / MIB:.0f}" for s in SIDES),
        )
    return table


def draw(report: dict, path: Path) -> None:
    """Time, % of peak and peak memory against size, both sides, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for side, label in SIDE_LABELS:
        _plot_side(report, side, label, *axes)
    results = report["results"]
    axes[2].plot(
        [r["size"] for r in results],
        [r["engine_estimate_bytes"] / MIB for r in results],
        "k--",
        label="engine's estimate (memory.py)",
    )
    _label_axes(axes, [r["size"] for r in results])
    figure.suptitle(
        f"ortstyle bench {report['date'][:10]}: {report['machine']['cpu']}, "
        f"{report['settings']['threads']} threads"
    )
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


def _plot_side(report: dict, side: str, label: str, times, peak, rss) -> None:
    """One side's curves: ms with its min-max spread, % of peak, memory, whole runs' peaks."""
    results = report["results"]
    sizes = [r["size"] for r in results]
    median = np.array([r[f"{side}_ms"] for r in results])
    spread = [
        median - [r[f"{side}_ms_min"] for r in results],
        [r[f"{side}_ms_max"] for r in results] - median,
    ]
    times.errorbar(sizes, median, yerr=spread, marker="o", capsize=3, label=label)
    peak.plot(sizes, [100 * r[f"{side}_peak_fraction"] for r in results], "o-", label=label)
    rss.plot(sizes, [r[f"{side}_rss_bytes"] / MIB for r in results], "o-", label=label)
    if runs := report["whole_runs"]:
        rss.plot(
            [r["size"] for r in runs],
            [r[f"{side}_process_peak_bytes"] / MIB for r in runs],
            "x",
            color=times.lines[-1].get_color(),
            label=f"{label}, whole run",
        )


def _label_axes(axes, sizes: list) -> None:
    """Titles, units, the sizes as ticks on log x axes; time and memory on log y axes too."""
    from matplotlib import ticker

    times, peak, rss = axes
    for axis, title, unit in (
        (times, "time per evaluation", "ms"),
        (peak, "achieved / peak FLOP/s", "% of peak"),
        (rss, "peak resident memory", "MiB"),
    ):
        axis.set(title=title, xlabel="size (px, square)", ylabel=unit, xscale="log")
        axis.set_xticks(sizes, [str(s) for s in sizes], minor=False)
        axis.xaxis.set_minor_locator(ticker.NullLocator())
        axis.grid(alpha=0.3)
        axis.legend()
    for axis in (times, rss):
        axis.set_yscale("log")
        axis.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        axis.yaxis.set_major_formatter(ticker.ScalarFormatter())
        axis.yaxis.set_minor_formatter(ticker.NullFormatter())
    peak.set_ylim(0, 110)
