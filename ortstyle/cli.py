"""The `ortstyle` command: stylize images, export the network, show what is installed."""

import dataclasses
import functools
import importlib.util
import math
import platform
import re
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import onnxruntime
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import ortstyle
from ortstyle import checkpoint
from ortstyle.bench import bench
from ortstyle.console import err, fail, out
from ortstyle.engine.memory import available_bytes, estimate_bytes, largest_long_side
from ortstyle.engine.objective import LOSS_BACKENDS
from ortstyle.engine.providers import GPU_PROVIDERS, PROVIDER_CHOICES, probe_provider, short_name
from ortstyle.engine.stylize import Stylizer, check_size, scale_sizes, to_hwc, to_nchw
from ortstyle.errors import OrtStyleError
from ortstyle.files import cache_dir, check_distinct_outputs, check_writable_output
from ortstyle.images import (
    check_output_format,
    fit_long_side,
    load_image,
    resize,
    save_image,
)
from ortstyle.layers import MIN_SIDE_PX
from ortstyle.models import WEIGHTS_CHOICES, cached_models, downloads_allowed, resolve_model
from ortstyle.options import MAX_THREADS, OPTIMIZERS, POOLINGS, PRECISIONS, StyleOptions
from ortstyle.progress import thumbnail, write_progress

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Neural style transfer with gradients through ONNX Runtime.",
)
DEFAULTS = StyleOptions()
FLAT_STD = 0.03  # pixel std in [0, 1]: photos have 0.15 to 0.3; below 0.03 the eye sees a flat wash


def user_errors(command):
    """Turn OrtStyleError and bad option values into one line and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OrtStyleError as error:
            fail(str(error))
        except KeyboardInterrupt:  # typer would exit 130 without a word
            fail("interrupted; nothing was written", code=130)

    return wrapper


def _split(option: str, text: str | None, convert=str) -> tuple | None:
    """'a,b' -> ('a', 'b'); None stays None; empty items, duplicates and NaN are refused."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        fail(f"{option} {text!r}: give a comma-separated list with no empty items")
    try:
        values = tuple(convert(part) for part in parts)
    except ValueError:
        fail(f"{option} {text!r}: give a comma-separated list of numbers")
    if convert is float and not all(0 <= v < math.inf for v in values):
        fail(f"{option} {text!r}: each number must be finite and 0 or more")
    if convert is str and len(set(values)) != len(values):
        fail(f"{option} {text!r}: a layer is named twice")
    return values


MAX_WEIGHT = 1e12  # beyond this a loss term overflows float32 and the run only makes NaN
# Each rule: (test, what is allowed). NaN fails every comparison, so it is refused too.
RANGES = {
    "size": (lambda v: v >= MIN_SIDE_PX, f"must be at least {MIN_SIDE_PX} px"),
    "iterations": (lambda v: v >= 1, "must be at least 1"),
    "content_weight": (lambda v: 0 <= v <= MAX_WEIGHT, f"must be from 0 to {MAX_WEIGHT:g}"),
    "style_weight": (lambda v: 0 <= v <= MAX_WEIGHT, f"must be from 0 to {MAX_WEIGHT:g}"),
    "tv_weight": (lambda v: 0 <= v <= MAX_WEIGHT, f"must be from 0 to {MAX_WEIGHT:g}"),
    "style_scale": (lambda v: 0 < v <= 8, "must be more than 0 and at most 8"),
    "scales": (lambda v: 0 <= v <= 8, "must be from 0 (auto) to 8"),
    "save_every": (lambda v: v >= 0, "must be 0 (off) or more"),
    "learning_rate": (lambda v: 0 < v <= 1, "must be more than 0 and at most 1 (pixel units)"),
    "threads": (lambda v: 0 <= v <= MAX_THREADS, f"must be from 0 (all cores) to {MAX_THREADS}"),
    "seed": (lambda v: 0 <= v < 2**63, "must be from 0 to 2**63 - 1"),
    "target_loss": (lambda v: v is None or 0 < v < math.inf, "must be a positive finite number"),
}


def _check_ranges(**values) -> None:
    """One line for the first value outside its range, before any work."""
    for name, value in values.items():
        allowed, message = RANGES[name]
        if not allowed(value):
            fail(f"--{name.replace('_', '-')} {value}: {message}")


def _check_memory(job: "Job") -> None:
    """C7: refuse a size whose estimated memory exceeds what the machine has free."""
    size, have = job.options.size, available_bytes()
    shape_hw = job.content_pixels.shape[:2]
    need = estimate_bytes(*fit_long_side(shape_hw, size))
    if need > have:
        fail(
            f"--size {size} needs about {need / 2**30:.1f} GiB but {have / 2**30:.1f} GiB is "
            f"free; the largest size that fits is --size {largest_long_side(shape_hw, have)}"
        )
    # The style images pass through the network at --style-scale times the output's size.
    style_side = round(size * job.options.style_scale)
    for path, pixels in zip(job.styles, job.style_pixels, strict=True):
        if min(fit_long_side(pixels.shape[:2], style_side)) < MIN_SIDE_PX:
            aspect = max(pixels.shape[:2]) / min(pixels.shape[:2])
            scale = math.ceil(100 * MIN_SIDE_PX * aspect / size) / 100
            fail(
                f"--style-scale {job.options.style_scale}: style {path} would be "
                f"{style_side} px long and under {MIN_SIDE_PX} px wide; use --style-scale "
                f"{scale:g} or more, or a larger --size"
            )
        need = estimate_bytes(*fit_long_side(pixels.shape[:2], style_side))
        if need > have:
            fail(
                f"--style-scale {job.options.style_scale} makes the style {style_side} px "
                f"long, which needs about {need / 2**30:.1f} GiB but {have / 2**30:.1f} GiB "
                "is free; lower --style-scale or --size"
            )


def _output_metadata(job: "Job", stylizer: Stylizer, result) -> dict:
    model = stylizer.model
    return {
        "settings": dataclasses.asdict(job.options),
        "content": str(job.content),
        "styles": [str(s) for s in job.styles],
        "model": {
            "weights": model.weights,
            "weights_sha256": model.weights_sha256,
            "pooling": model.pooling,
        },
        "provider": stylizer.network.provider,
        "loss_backend": stylizer.loss_backend,
        "evaluations": result.evaluations,
        "final_loss": result.final_loss,
        "versions": {
            "ortstyle": ortstyle.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4g}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


@dataclasses.dataclass
class Job:
    """One stylize command, checked and loaded, ready to run."""

    options: StyleOptions
    content: Path
    styles: list
    output: Path
    save_every: int
    bit_depth: int
    progress_file: Path | None
    content_pixels: np.ndarray | None = None  # the images, once _load_job has read them
    style_pixels: list = dataclasses.field(default_factory=list)
    init_pixels: np.ndarray | None = None
    resumed: checkpoint.Resumed | None = None
    frames: list = dataclasses.field(default_factory=list)  # (evaluation, thumbnail)


@app.command()
@user_errors
def stylize(
    content: Annotated[Path, typer.Argument(help="The photo whose content is kept.")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output image (.png .jpg .webp .tif).")
    ],
    size: Annotated[int, typer.Option(help="Long side of the output in px.")] = DEFAULTS.size,
    iterations: Annotated[int, typer.Option(help="Evaluations per scale.")] = DEFAULTS.iterations,
    content_weight: Annotated[float, typer.Option()] = DEFAULTS.content_weight,
    style_weight: Annotated[float, typer.Option()] = DEFAULTS.style_weight,
    tv_weight: Annotated[float, typer.Option(help="Total-variation weight.")] = DEFAULTS.tv_weight,
    optimizer: Annotated[str, typer.Option(help="lbfgs or adam.")] = DEFAULTS.optimizer,
    learning_rate: Annotated[float, typer.Option(help="Adam's step.")] = DEFAULTS.learning_rate,
    init: Annotated[str, typer.Option(help="content, noise or an image path.")] = DEFAULTS.init,
    seed: Annotated[int, typer.Option()] = DEFAULTS.seed,
    content_layers: Annotated[
        str | None, typer.Option(help="Comma-separated, e.g. relu4_2.")
    ] = None,
    style_layers: Annotated[str | None, typer.Option(help="Comma-separated ReLU layers.")] = None,
    style_layer_weights: Annotated[str | None, typer.Option(help="One per style layer.")] = None,
    style_blend_weights: Annotated[str | None, typer.Option(help="One per style image.")] = None,
    style_scale: Annotated[
        float, typer.Option(help="Style size relative to the output.")
    ] = DEFAULTS.style_scale,
    original_colors: Annotated[bool, typer.Option(help="Keep the content's colours.")] = False,
    scales: Annotated[
        int, typer.Option(help="Coarse-to-fine passes; 0: one per halving down to 256 px.")
    ] = DEFAULTS.scales,
    target_loss: Annotated[
        float | None, typer.Option(help="End the last pass once the loss reaches this.")
    ] = None,
    weights: Annotated[
        str, typer.Option(help="auto, imagenet, random or a .pth path.")
    ] = DEFAULTS.weights,
    pooling: Annotated[
        str | None, typer.Option(help="avg or max (default avg; a --model has its own).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="An exported .onnx model; no torch needed.")
    ] = None,
    provider: Annotated[str, typer.Option(help="auto, cpu, cuda or tensorrt.")] = DEFAULTS.provider,
    loss_backend: Annotated[
        str, typer.Option(help="auto, onnx (one session) or numpy (reference).")
    ] = DEFAULTS.loss_backend,
    precision: Annotated[str, typer.Option(help="fp32, or fp16 on a GPU.")] = DEFAULTS.precision,
    cuda_graph: Annotated[
        bool, typer.Option(help="Replay each evaluation as a CUDA graph.")
    ] = False,
    threads: Annotated[int, typer.Option(help="CPU threads; 0 = all cores.")] = 0,
    save_every: Annotated[
        int,
        typer.Option(
            help="Save OUTPUT_00040.png etc. every N evaluations, replacing files "
            "of those names (0: off)."
        ),
    ] = 0,
    progress: Annotated[
        Path | None, typer.Option(help="Write a contact sheet and loss curve (.png).")
    ] = None,
    bit_depth: Annotated[int, typer.Option(help="8, or 16 for .png/.tif.")] = 8,
    resume: Annotated[bool, typer.Option(help="Continue from OUTPUT's checkpoint.")] = False,
) -> None:
    """Stylize CONTENT in the manner of STYLES and write OUTPUT."""
    _check_ranges(
        size=size, iterations=iterations, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, style_scale=style_scale, scales=scales,
        save_every=save_every, learning_rate=learning_rate, threads=threads, seed=seed,
        target_loss=target_loss,
    )  # fmt: skip
    _check_choices(optimizer=optimizer, pooling=pooling or DEFAULTS.pooling, provider=provider,
                   loss_backend=loss_backend, precision=precision)  # fmt: skip
    if weights not in WEIGHTS_CHOICES and not Path(weights).is_file():
        fail(f"--weights {weights!r}: use {', '.join(WEIGHTS_CHOICES)} or the path of a .pth file")
    _check_outputs(output, progress, bit_depth, [content, *styles, Path(init), model], save_every)

    options = StyleOptions(
        size=size, iterations=iterations, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, optimizer=optimizer,
        learning_rate=learning_rate, init=init, seed=seed,
        content_layers=_split("--content-layers", content_layers) or DEFAULTS.content_layers,
        style_layers=_split("--style-layers", style_layers) or DEFAULTS.style_layers,
        style_layer_weights=_split("--style-layer-weights", style_layer_weights, float),
        style_blend_weights=_split("--style-blend-weights", style_blend_weights, float),
        style_scale=style_scale, original_colors=original_colors, scales=scales,
        target_loss=target_loss,
        pooling=pooling or DEFAULTS.pooling, weights=weights, provider=provider,
        loss_backend=loss_backend, precision=precision, cuda_graph=cuda_graph,
        threads=threads or None,
    )  # fmt: skip
    _check_blend(options, len(styles))
    job = _load_job(Job(options, content, list(styles), output, save_every, bit_depth, progress))
    if resume:
        job.resumed = checkpoint.load(output, options, content, styles)

    resolved = resolve_model(weights, options.pooling, model)
    try:
        stylizer = Stylizer(resolved.model, options)
    except ValueError as error:
        fail(str(error))
    _say_plan(stylizer, resolved, job, requested_pooling=pooling if model is not None else None)
    _run(stylizer, job)


def _load_job(job: Job) -> Job:
    """`job` with its images read, checked against the size and the machine's memory."""
    init = job.options.init
    job.content_pixels = load_image(job.content)
    job.style_pixels = [load_image(path) for path in job.styles]
    job.init_pixels = None if init in ("content", "noise") else load_image(Path(init))
    try:
        check_size(job.content_pixels.shape[:2], job.options.size)
    except ValueError as error:
        fail(str(error))
    _check_memory(job)
    return job


def _check_choices(**choices) -> None:
    """One line for the first option that is not one of its allowed words."""
    allowed = {"optimizer": OPTIMIZERS, "pooling": POOLINGS, "provider": PROVIDER_CHOICES,
               "loss_backend": LOSS_BACKENDS, "precision": PRECISIONS}  # fmt: skip
    for name, value in choices.items():
        if value not in allowed[name]:
            option = "--" + name.replace("_", "-")
            fail(f"{option} {value!r} is not one of: {', '.join(allowed[name])}")


def _check_outputs(output: Path, progress: Path | None, bit_depth: int, inputs: list,
                   save_every: int) -> None:  # fmt: skip
    """The output (and progress picture) can be written and overwrite nothing read."""
    check_output_format(output, bit_depth)
    # Beside the output: OUTPUT.ckpt.npz, and with --save-every OUTPUT_00040.png and so on.
    check_writable_output(output, appended=len(".ckpt.npz"))
    _check_distinct_outputs(output, progress, inputs, save_every)
    if progress is not None:
        check_output_format(progress)
        check_writable_output(progress)
        _check_matplotlib()


def _say_plan(stylizer: Stylizer, resolved, job: Job, requested_pooling: str | None) -> None:
    """One note per degraded or ignored setting, then one line of what will run."""
    options, provider = job.options, stylizer.network.provider
    notes = [*resolved.notes, *stylizer.network.plan.notes]
    if requested_pooling and requested_pooling != resolved.model.pooling:
        notes.append(
            f"--pooling {requested_pooling} is ignored: the model file has {resolved.model.pooling}"
        )
    if options.cuda_graph and provider != "cuda":
        notes.append(f"--cuda-graph is ignored on the {provider} provider")
    if options.precision == "fp16" and provider == "cpu":
        notes.append("--precision fp16 on the cpu provider is no faster than fp32 and less exact")
    for note in notes:
        err.print(f"note: {note}", markup=False)
    sizes = scale_sizes(job.content_pixels.shape[:2], options)
    height, width = sizes[-1]
    passes = f" per pass, {len(sizes)} passes from {max(sizes[0])} px" if len(sizes) > 1 else ""
    err.print(
        f"{resolved.model.describe()}; provider {provider}, {stylizer.loss_backend} loss, "
        f"{options.precision}; {width}x{height} px, {options.optimizer}, "
        f"{options.iterations} evaluations{passes}",
        markup=False,
    )


def _check_distinct_outputs(
    output: Path, progress: Path | None, inputs: list, save_every: int = 0
) -> None:
    """Refuse an output path that is an input, or both outputs on one file, and likewise the
    checkpoint and frames written beside the output: never overwrite what was read."""
    check_distinct_outputs({"--output": output, "--progress": progress}, inputs)
    taken = {path.resolve() for path in inputs if path is not None and path.exists()}
    if checkpoint.checkpoint_path(output).resolve() in taken:  # removed after a finished run
        fail(f"{checkpoint.checkpoint_path(output)} is one of the input files and would be "
             "the run's checkpoint; rename it or choose another --output")  # fmt: skip
    if save_every:
        frame = re.compile(re.escape(output.stem) + r"_\d{5}" + re.escape(output.suffix))
        for path in [*taken, *([progress.resolve()] if progress else [])]:
            if path.parent == output.resolve().parent and frame.fullmatch(path.name):
                first = frame_name(output, save_every).name
                fail(f"--save-every frames ({first} ...) would overwrite {path.name}; "
                     "choose another --output name")  # fmt: skip


def frame_name(output: Path, evaluation: int) -> Path:
    """Where --save-every writes the image after `evaluation` evaluations."""
    return output.with_name(f"{output.stem}_{evaluation:05d}{output.suffix}")


def _check_matplotlib() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        fail("--progress needs matplotlib: pip install 'ortstyle[plot]'")


def _check_blend(options: StyleOptions, count: int) -> None:
    """The blend and style-layer weight lists: one number each, from 0 to MAX_WEIGHT."""
    lists = (
        ("--style-blend-weights", options.style_blend_weights, count, "style image"),
        ("--style-layer-weights", options.style_layer_weights, len(options.style_layers),
         "style layer"),
    )  # fmt: skip
    for option, values, expected, each in lists:
        shown = ",".join(f"{v:g}" for v in values or ())
        if values and len(values) != expected:
            fail(f"{option} {shown}: needs one number per {each} ({expected})")
        if values and (min(values) < 0 or max(values) > MAX_WEIGHT or sum(values) <= 0):
            fail(f"{option} {shown}: each must be from 0 to {MAX_WEIGHT:g}, not all 0")


def _report_to(job: Job, progress: Progress, task):
    """The engine's callback: advance the bar, save numbered frames and checkpoints."""
    total = progress.tasks[0].total
    done = [0]

    def report(it) -> None:
        done[0] += 1
        progress.update(task, completed=min(done[0], total), loss=it.loss)
        if not job.save_every or it.evaluation % job.save_every or it.scale != it.scales:
            return
        pixels = to_hwc(it.image)
        _save(pixels, frame_name(job.output, it.evaluation), bit_depth=job.bit_depth)
        checkpoint.save(job.output, job.options, job.content, job.styles, it.image, it.state)
        if job.progress_file is not None:
            job.frames.append((it.evaluation, thumbnail(pixels)))

    return report


def _save(pixels, path: Path, metadata: dict | None = None, bit_depth: int = 8) -> None:
    """save_image, with a full disk or a refused write as one line (the old file stays)."""
    try:
        save_image(pixels, path, metadata, bit_depth)
    except OSError as error:
        fail(f"could not write {path} ({error.strerror or error}); any earlier file is intact")


def _run(stylizer: Stylizer, job: Job) -> None:
    """Optimise with a progress bar; save the result (or the best so far) and say where."""
    passes = 1 if job.resumed else len(scale_sizes(job.content_pixels.shape[:2], job.options))
    with _progress() as progress:
        task = progress.add_task("stylizing", total=job.options.iterations * passes, loss=np.nan)
        try:
            result = stylizer.stylize(
                job.content_pixels,
                job.style_pixels,
                init=job.resumed.image if job.resumed else job.init_pixels,
                callback=_report_to(job, progress, task),
                resume=job.resumed.state if job.resumed else None,
            )
        except KeyboardInterrupt:
            fail("interrupted before the first evaluation; nothing was saved", code=130)
    if not result.history and result.stopped and result.stopped != "interrupted":
        fail(f"{result.stopped}: an input image, weight or the model holds NaN or infinite "
             "values, or the weights are too large; nothing was saved")  # fmt: skip
    if not result.history:
        fail("interrupted before the first evaluation; nothing was saved", code=130)

    _save(_at_output_size(job, result.image), job.output, _output_metadata(job, stylizer, result),
          job.bit_depth)  # fmt: skip
    if job.progress_file is not None:
        if not job.frames or job.frames[-1][0] != result.evaluations:
            job.frames.append((result.evaluations, thumbnail(result.image)))
        write_progress(job.progress_file, job.frames, result.history)
    if result.stopped:
        image = to_nchw(result.image)
        checkpoint.save(job.output, job.options, job.content, job.styles, image, result.state)
    _say_how_it_ended(job, result)


def _at_output_size(job: Job, pixels: np.ndarray) -> np.ndarray:
    """`pixels` resampled to the output's size if a run stopped in an earlier, smaller pass.

    The checkpoint keeps the pass's own image; `--resume` continues from that.
    """
    height, width = scale_sizes(job.content_pixels.shape[:2], job.options)[-1]
    if pixels.shape[:2] == (height, width):
        return pixels
    err.print(
        f"note: stopped in a {pixels.shape[1]}x{pixels.shape[0]} px pass; the image saved is "
        f"that pass's, enlarged to {width}x{height} px",
        markup=False,
    )
    return resize(pixels, (height, width))


def _say_how_it_ended(job: Job, result) -> None:
    last_pass = result.state.history if result.state and result.state.history else []
    if 0 < len(last_pass) < len(result.history):  # passes at other sizes have other losses
        said = f"loss {last_pass[0]:.4g} -> {result.final_loss:.4g} in the last pass"
    else:
        said = f"loss {result.initial_loss:.4g} -> {result.final_loss:.4g}"
    err.print(f"{said} ({result.evaluations} evaluations)", markup=False)
    if float(result.image.std()) < FLAT_STD:
        err.print(
            "warning: the output is nearly constant; lower --style-weight or --tv-weight",
            markup=False,
        )
    if result.stopped == "interrupted":
        err.print(
            f"interrupted: the best image so far is saved to {job.output}; "
            "continue with the same command and --resume",
            markup=False,
        )
        raise typer.Exit(130)
    if result.stopped:
        err.print(f"error: {result.stopped}; the last good image is saved to {job.output}",
                  markup=False)  # fmt: skip
        raise typer.Exit(1)
    checkpoint.checkpoint_path(job.output).unlink(missing_ok=True)
    out.print(f"saved {job.output}", markup=False)


@app.command()
@user_errors
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="The .onnx file to write.")],
    weights: Annotated[str, typer.Option(help="imagenet, random or a .pth path.")] = "imagenet",
    pooling: Annotated[str, typer.Option(help="avg or max.")] = DEFAULTS.pooling,
) -> None:
    """Export VGG19 (up to relu5_1, dynamic size) to ONNX; needs PyTorch."""
    if pooling not in POOLINGS:
        fail(f"--pooling {pooling!r} is not one of: {', '.join(POOLINGS)}")
    if weights not in ("imagenet", "random") and not Path(weights).is_file():
        fail(f"--weights {weights!r}: use imagenet, random or the path of a .pth file")
    if output.suffix.lower() != ".onnx":
        fail(f"--output {output}: the file name must end in .onnx")
    check_writable_output(output)
    if Path(weights).is_file() and Path(weights).resolve() == output.resolve():
        fail(f"--output {output} is the --weights file; choose another name")
    try:
        from ortstyle.export.onnx_export import export_model
        from ortstyle.export.vgg import load_weights
    except ImportError as error:
        fail(
            f"export needs PyTorch ({error.name} is not installed): pip install 'ortstyle[export]'"
        )
    report = export_model(load_weights(weights, download=downloads_allowed()), pooling, output)
    out.print(
        f"wrote {report.path}: VGG19 {report.weights} weights "
        f"({report.weights_sha256[:12]}), {pooling} pooling; ONNX Runtime vs eager "
        f"PyTorch: max abs diff {report.max_abs_diff:.2e}",
        markup=False,
    )


@app.command()
@user_errors
def info() -> None:
    """Versions, available execution providers and cached models."""
    out.print(
        f"ortstyle {ortstyle.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"numpy {np.__version__}, python {platform.python_version()}",
        markup=False,
    )
    try:
        import torch

        out.print(f"torch {torch.__version__} (export available)", markup=False)
    except ImportError:
        out.print("torch not installed (stylize needs --model or a cached model)", markup=False)
    out.print("providers: " + ", ".join(onnxruntime.get_available_providers()), markup=False)
    for name in GPU_PROVIDERS:
        if name in onnxruntime.get_available_providers():
            cause = probe_provider(name)
            state = "starts" if cause is None else f"does not start: {cause}"
            out.print(f"  {short_name(name)}: {state}", markup=False)
    out.print(f"cache: {cache_dir()}", markup=False)
    for path in cached_models():
        out.print(f"  {path.name} ({path.stat().st_size / 2**20:.0f} MiB)", markup=False)


app.command()(bench)


def main(prog_name: str | None = None) -> None:
    """Entry point: usage mistakes and Ctrl-C outside a run as one line each."""
    try:
        code = app(standalone_mode=False, prog_name=prog_name)
    except typer.TyperException as error:  # a usage mistake: typer would draw a 5-line box
        if not error.format_message().strip():  # no command given: the help was the answer
            sys.exit(error.exit_code)
        context = getattr(error, "ctx", None)
        hint = f"; see `{context.command_path} --help`" if context else ""
        err.print(f"error: {error.format_message().rstrip('.')}{hint}", markup=False)
        code = error.exit_code
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", markup=False)
        code = 130
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
