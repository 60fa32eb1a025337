"""The `ortstyle bench` command: its options, their checks, what it prints and writes."""

import json
import os
from importlib import util
from pathlib import Path
from typing import Annotated

import psutil
import typer

from ortstyle.bench.cost import evaluation_gflop
from ortstyle.bench.measure import BenchSettings, run_bench
from ortstyle.bench.report import draw, memory_table, time_table, whole_run_table
from ortstyle.bench.worker import eager_device
from ortstyle.console import err, fail, out
from ortstyle.engine import memory
from ortstyle.engine.model import ExportedModel
from ortstyle.engine.objective import LOSS_BACKENDS
from ortstyle.engine.providers import plan_providers
from ortstyle.errors import OrtStyleError
from ortstyle.files import atomic_path, check_distinct_outputs, check_writable_output
from ortstyle.images import load_image
from ortstyle.layers import MIN_SIDE_PX
from ortstyle.models import WEIGHTS_CHOICES, resolve_model
from ortstyle.options import MAX_THREADS, POOLINGS, PRECISIONS, StyleOptions

DEFAULTS = StyleOptions()
GIB = 2**30
# The repository's example pair, when ortstyle runs from a source checkout.
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BENCH_PROVIDERS = ("cpu", "cuda", "tensorrt")  # named: auto would blur what is compared


def _parse_sizes(text: str, on_cpu: bool = True) -> tuple:
    """'512,256' -> (256, 512): whole numbers of px, each large enough and fitting in memory."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        fail(f"--sizes {text!r}: give comma-separated whole numbers of pixels, e.g. 256,512")
    if not sizes:
        fail(f"--sizes {text!r}: give at least one size in px, e.g. 256,512")
    if min(sizes) < MIN_SIDE_PX:
        fail(f"--sizes {text!r}: each size must be at least {MIN_SIDE_PX} px")
    if on_cpu:  # on a GPU the host holds little; the device's memory is not checked here
        _check_memory(text, max(sizes))
    return tuple(sorted(set(sizes)))


def _check_memory(text: str, size: int) -> None:
    """Refuse a size the machine's free memory cannot hold, before any worker starts.

    Both workers hold their memory at once; the engine's estimate of a whole stylization
    is about the sum of the two sides' fitted peaks per evaluation (benchmarks/README.md)
    and bounds each side's whole run, which run one at a time.
    """
    need, have = memory.estimate_bytes(size, size), memory.available_bytes()
    if need > have:
        fail(
            f"--sizes {text!r}: {size} px needs about {need / GIB:.3g} GiB but "
            f"{have / GIB:.1f} GiB is free; the largest size that fits is "
            f"{memory.largest_long_side((1, 1), have)} px"
        )


def _check_arguments(repeats, warmup, threads, iterations, quiet, pooling, backend, plot):
    """One line for the first option outside what is allowed, before any work."""
    checks = [
        (
            backend in LOSS_BACKENDS,
            f"--loss-backend {backend!r} is not one of: {', '.join(LOSS_BACKENDS)}",
        ),
        (0 <= quiet < 1, f"--quiet {quiet}: must be from 0 (never wait) to below 1"),
        (repeats >= 1, f"--repeats {repeats}: must be at least 1"),
        (warmup >= 0, f"--warmup {warmup}: must be 0 or more"),
        (
            0 <= threads <= MAX_THREADS,
            f"--threads {threads}: must be from 0 (the physical cores) to {MAX_THREADS}",
        ),
        (iterations >= 1, f"--iterations {iterations}: must be at least 1"),
        (pooling in POOLINGS, f"--pooling {pooling!r} is not one of: {', '.join(POOLINGS)}"),
        (plot is None or plot.suffix.lower() == ".png", f"--plot {plot}: must end in .png"),
        (
            plot is None or util.find_spec("matplotlib") is not None,
            "--plot needs matplotlib: pip install 'ortstyle[plot]'",
        ),
        (
            util.find_spec("torch") is not None,
            "bench needs PyTorch for the eager side: pip install 'ortstyle[export]'",
        ),
    ]
    for ok, message in checks:
        if not ok:
            fail(message)


def _check_outputs(outputs: dict, inputs: list) -> None:
    """Raise OrtStyleError unless each output can be written and none is an input or
    another output: a run's end must not overwrite what it read, nor its own report."""
    named = [(option, Path(path)) for option, path in outputs.items() if path is not None]
    for option, path in named:
        try:
            check_writable_output(path)
        except OrtStyleError as error:
            raise OrtStyleError(f"{option}: {error}") from error
    check_distinct_outputs(outputs, inputs)


def _check_provider(provider: str, precision: str) -> None:
    """The engine's provider starts, and on a GPU eager PyTorch has one too; else one line."""
    if provider not in BENCH_PROVIDERS:
        fail(f"--provider {provider!r} is not one of: {', '.join(BENCH_PROVIDERS)}")
    if precision not in PRECISIONS:
        fail(f"--precision {precision!r} is not one of: {', '.join(PRECISIONS)}")
    try:
        plan_providers(provider)
    except OrtStyleError as error:  # its advice to try --provider auto does not apply here
        fail(f"{str(error).split('; ')[0]}; see `ortstyle info`")
    if provider != "cpu" and util.find_spec("torch") is not None:
        import torch

        if not torch.cuda.is_available():
            fail(f"--provider {provider}: the eager side needs PyTorch with CUDA and a GPU, "
                  f"and torch {torch.__version__} sees none")  # fmt: skip


def _resolve_inputs(content: Path, style: Path, weights: str, pooling: str) -> ExportedModel:
    """Read both images once (a bad one fails here, not in a worker) and find the model."""
    for option, path in (("--content", content), ("--style", style)):
        if not path.is_file():
            raise OrtStyleError(
                f"{option} {path}: no such image (the defaults are the examples of a "
                "source checkout); give --content and --style"
            )
        load_image(path)
    resolved = resolve_model(weights, pooling)
    for note in resolved.notes:
        err.print(f"note: {note}", markup=False)
    return resolved.model


def _command_line(params: dict) -> str:
    """The `ortstyle bench` command that reproduces a run, every option spelled out."""
    words = ["ortstyle bench"]
    for name, value in params.items():
        flag = "--json" if name == "json_file" else "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words += [flag] if value else []
        elif value is not None and not (name == "iterations" and not params["whole_run"]):
            words.append(f"{flag} {value}")
    return " ".join(words)


def _show(report: dict) -> None:
    """The tables on stdout; the load average around the run on stderr."""
    out.print(time_table(report))
    out.print(memory_table(report))
    if report["whole_runs"]:
        out.print(whole_run_table(report))
    err.print(
        f"load average {report['load_before'][0]:.2f} before, "
        f"{report['load_after'][0]:.2f} after ({report['machine']['logical_cores']} cores)",
        markup=False,
    )


def _write_json(report: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")


def _write(report: dict, json_file: Path | None, plot: Path | None) -> None:
    """The JSON report and the plot, each written whole or not at all."""
    for path, write in ((json_file, _write_json), (plot, draw)):
        if path is None:
            continue
        try:
            write(report, path)
        except OSError as error:  # a full disk, or a folder writable only in name (read-only)
            fail(f"could not write {path} ({error.strerror or error}); any earlier file is intact")
        out.print(f"wrote {path}", markup=False)


def bench(
    ctx: typer.Context,
    sizes: Annotated[str, typer.Option(help="Comma-separated square sizes in px.")] = "256,512",
    repeats: Annotated[int, typer.Option(help="Timed evaluations per side and size.")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed evaluations per side and size.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads of both sides; 0 = physical cores.")] = 0,
    whole_run: Annotated[
        bool, typer.Option(help="Also stylize the pair on both sides with L-BFGS-B.")
    ] = False,
    iterations: Annotated[int, typer.Option(help="Evaluations of each whole run.")] = 50,
    content: Annotated[Path, typer.Option(help="Content image.")] = EXAMPLES / "tubingen.jpg",
    style: Annotated[Path, typer.Option(help="Style image.")] = EXAMPLES / "starry_night.jpg",
    quiet: Annotated[
        float,
        typer.Option(
            help="Before each timed evaluation wait (up to 2 min) until other processes use "
            "less than this share of the CPU, e.g. 0.1; 0 = never wait."
        ),
    ] = 0.0,
    weights: Annotated[
        str, typer.Option(help="auto, imagenet, random or a .pth path.")
    ] = DEFAULTS.weights,
    pooling: Annotated[str, typer.Option(help="avg or max.")] = DEFAULTS.pooling,
    loss_backend: Annotated[
        str, typer.Option(help="The engine's loss layer: auto, numpy or onnx.")
    ] = DEFAULTS.loss_backend,
    provider: Annotated[
        str,
        typer.Option(help="The engine's: cpu, cuda or tensorrt; on a GPU eager runs on CUDA."),
    ] = "cpu",
    precision: Annotated[
        str, typer.Option(help="The engine's network: fp32 or fp16 (eager stays fp32).")
    ] = DEFAULTS.precision,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the results here.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the results to this .png.")] = None,
) -> None:
    """Time the ONNX Runtime engine against eager PyTorch autograd on the same objective."""
    size_list = _parse_sizes(sizes, on_cpu=provider == "cpu")
    _check_arguments(repeats, warmup, threads, iterations, quiet, pooling, loss_backend, plot)
    _check_provider(provider, precision)
    threads = threads or psutil.cpu_count(logical=False) or os.cpu_count() or 1
    weights_file = [] if weights in WEIGHTS_CHOICES else [Path(weights)]
    try:
        _check_outputs({"--json": json_file, "--plot": plot}, [content, style, *weights_file])
        model = _resolve_inputs(content, style, weights, pooling)
        settings = BenchSettings(
            model_path=str(model.path), weights=model.weights,
            weights_sha256=model.weights_sha256, pooling=pooling, content=str(content),
            style=str(style), threads=threads, sizes=size_list, repeats=repeats, warmup=warmup,
            iterations=iterations if whole_run else 0, quiet=quiet, loss_backend=loss_backend,
            provider=provider, precision=precision,
        )  # fmt: skip
        # Both sides return host arrays from each evaluation, so a GPU's timings include
        # its synchronisation and the gradient's copy to the host, which the optimiser needs.
        err.print(f"{model.describe()}; provider {provider} {precision}, eager on "
                   f"{eager_device(provider)}; {threads} threads on both sides",
                   markup=False)  # fmt: skip
        gflops = {size: evaluation_gflop(model.proto, size, size) for size in size_list}
        report = run_bench(settings, gflops, lambda line: err.print(line, markup=False))
    except OrtStyleError as error:
        fail(str(error))
    report["command"] = _command_line(ctx.params)
    _show(report)
    _write(report, json_file, plot)
