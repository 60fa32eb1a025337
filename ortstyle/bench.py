"""`ortstyle bench`: the ONNX Runtime engine against eager PyTorch on one objective.

Both sides get the same weights, image pair, layers, losses and thread count. Each side
runs in a worker process of its own (`python -m ortstyle.bench --worker SPEC`), so the
peak resident memory it reports is its own and no idle thread pool of the other side
sits in its way; the parent warms both up, then alternates single evaluations between
them. The measuring functions return plain dicts (the JSON schema); only `bench` prints.
"""

import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata, util
from pathlib import Path
from typing import Annotated

import numpy as np
import onnx
import psutil
import typer
from rich.console import Console
from rich.table import Table

import ortstyle
from ortstyle.engine import memory
from ortstyle.engine.model import MODEL_INPUT
from ortstyle.engine.objective import LOSS_BACKENDS
from ortstyle.errors import OrtStyleError
from ortstyle.files import atomic_path, check_writable_output
from ortstyle.images import load_image, resize
from ortstyle.layers import MIN_SIDE_PX
from ortstyle.options import POOLINGS, StyleOptions

SIDES = ("ort", "eager")
WORKER_FLAG = "--worker"
PEAK_MATMUL_SIDE = 2048  # float32 square matrices of the peak measurement (17 GFLOP each)
PEAK_REPEATS = 10  # the best of these counts: the machine's peak, not its average
NOISE_SHARE = 0.2  # the evaluated image is 80% content, 20% noise: every loss term is active
NOISE_SEED = 0
MIB = 2**20
QUIET_SAMPLE_S = 0.5  # how long the machine's CPU use is sampled before a timed evaluation
QUIET_PATIENCE_S = 120  # the longest wait for a quiet machine before timing anyway
DEFAULTS = StyleOptions()
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
VERSIONED = ("onnxruntime", "onnx", "numpy", "scipy", "torch", "torchvision")


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


# ---- the cost model -------------------------------------------------------------------


def network_macs(model: onnx.ModelProto, height: int, width: int) -> int:
    """Multiply-adds of one forward pass of the exported graph at (height, width).

    Read from the Conv weights' shapes and the pools' strides; the loss layer is not counted.
    """
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    sizes = {MODEL_INPUT: (height, width)}
    macs = 0
    for node in model.graph.node:
        hw = next((sizes[name] for name in node.input if name in sizes), None)
        if hw is None:
            continue
        if node.op_type in ("Conv", "MaxPool", "AveragePool"):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            kernel = attrs.get("kernel_shape") or shapes[node.input[1]][2:]
            strides, pads = attrs.get("strides", (1, 1)), attrs.get("pads", (0, 0, 0, 0))
            hw = tuple(
                (hw[i] + pads[i] + pads[i + 2] - kernel[i]) // strides[i] + 1 for i in (0, 1)
            )
        if node.op_type == "Conv":
            out_channels, in_channels, kernel_h, kernel_w = shapes[node.input[1]]
            macs += hw[0] * hw[1] * out_channels * in_channels * kernel_h * kernel_w
        for name in node.output:
            sizes[name] = hw
    return macs


def evaluation_gflop(model: onnx.ModelProto, height: int, width: int) -> float:
    """GFLOP of one evaluation: forward plus input-gradient backward, which costs the same
    multiply-adds (each Conv's input gradient is a Conv of the same size), 2 FLOP each."""
    return 2 * 2 * network_macs(model, height, width) / 1e9


# ---- the worker processes -------------------------------------------------------------


def _square(pixels: np.ndarray) -> np.ndarray:
    """The centred square crop of (H, W, 3) pixels, so that size N means N x N pixels."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return pixels[top : top + side, left : left + side]


def evaluation_image(content: np.ndarray, shape_hw: tuple) -> np.ndarray:
    """(1, 3, H, W) float32: the content blended with seeded noise, the same on both sides."""
    noise = np.random.default_rng(NOISE_SEED).random((*shape_hw, 3), dtype=np.float32)
    pixels = (1 - NOISE_SHARE) * resize(content, shape_hw) + NOISE_SHARE * noise
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32)


def reset_peak_rss() -> int:
    """This process's peak resident bytes so far; then, on Linux, restart the peak count."""
    peak = peak_rss_bytes()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0 and later)
    except OSError:
        pass  # elsewhere the later peak still includes loading
    return peak


def peak_rss_bytes() -> int:
    """Peak resident bytes since the last reset_peak_rss (Linux) or since the start."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB


def _best_gflops(product, flop: float) -> float:
    """GFLOP/s of the best of PEAK_REPEATS calls of `product`, after one untimed call."""
    product()
    best = math.inf
    for _ in range(PEAK_REPEATS):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9


def peak_gflops(side: str, threads: int) -> dict:
    """GFLOP/s of a large float32 matrix product, per library the side has loaded.

    The libraries differ by up to 2x on one machine (MKL takes its AVX2 path on AMD CPUs,
    MLAS and OpenBLAS use AVX-512), so the best of them stands for the machine's peak.
    """
    n = PEAK_MATMUL_SIDE
    flop = 2.0 * n**3
    a, b = (np.random.default_rng(k).random((n, n), dtype=np.float32) for k in (0, 1))
    if side == "eager":
        import torch

        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return {"torch": _best_gflops(lambda: torch.mm(ta, tb), flop)}
    session = _matmul_session(n, threads)
    return {
        "onnxruntime": _best_gflops(lambda: session.run(None, {"a": a, "b": b}), flop),
        "numpy": _best_gflops(lambda: a @ b, flop),
    }


def _matmul_session(n: int, threads: int):
    """An ONNX Runtime CPU session of one (n, n) x (n, n) float32 MatMul."""
    import onnxruntime
    from onnx import TensorProto, helper

    tensors = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "abc"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                              tensors[:2], tensors[2:])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (Linux /proc/stat; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(share: float, patience_s: float = QUIET_PATIENCE_S) -> float:
    """Sleep until other processes use less than `share` of the CPU over QUIET_SAMPLE_S,
    at most `patience_s`; return the last share seen. The idle workers use none."""
    deadline = time.monotonic() + patience_s
    while True:
        busy, start = _busy_seconds(), time.monotonic()
        time.sleep(QUIET_SAMPLE_S)
        seen = (_busy_seconds() - busy) / ((time.monotonic() - start) * (os.cpu_count() or 1))
        if seen < share or time.monotonic() > deadline:
            return seen


def timed(evaluate) -> tuple:
    """Run `evaluate()`: (its result, milliseconds, share of the machine's CPU others used)."""
    busy, own, start = _busy_seconds(), time.process_time(), time.perf_counter()
    result = evaluate()
    wall = time.perf_counter() - start
    others = (_busy_seconds() - busy) - (time.process_time() - own)
    return result, wall * 1e3, max(others, 0.0) / (wall * (os.cpu_count() or 1))


def _load_side(spec: dict, size: int):
    """The engine's Stylizer or the eager ReferenceObjective, set up alike."""
    options = StyleOptions(
        size=size,
        iterations=max(spec["iterations"], 1),
        scales=1,  # one pass on both sides: the eager reference has no coarse-to-fine
        pooling=spec["pooling"],
        provider="cpu",
        threads=spec["threads"],
        loss_backend=spec["loss_backend"],
    )
    if spec["side"] == "ort":
        from ortstyle.engine.model import read_model_file
        from ortstyle.engine.stylize import Stylizer

        return Stylizer(read_model_file(Path(spec["model_path"])), options)
    from ortstyle.export.reference import ReferenceObjective
    from ortstyle.export.vgg import load_weights

    weights = load_weights(spec["weights"], download=False)
    if weights.sha256 != spec["weights_sha256"]:
        raise OrtStyleError(f"weights {spec['weights']} differ from those the model was built with")
    return ReferenceObjective(weights, options)


def _describe(side: str, objective) -> dict:
    """How a side is set up, for the record."""
    if side == "ort":
        backend = getattr(objective, "loss_backend", "numpy")  # engines before it had numpy
        return {"provider": objective.network.provider, "loss_backend": backend}
    import torch

    return {"torch_threads": torch.get_num_threads(), "device": "cpu"}


def _serve(spec: dict, reply) -> None:
    """One side at one size: a whole run, or `eval` / `finish` / `peak` lines from stdin."""
    side, size, out = spec["side"], spec["size"], Path(spec["out"])
    objective = _load_side(spec, size)
    content, style = _square(load_image(spec["content"])), load_image(spec["style"])
    if spec["task"] == "run":
        result, ms, others = timed(lambda: objective.stylize(content, [style]))
        np.save(out / f"{side}-run-{size}.npy", result.image)
        reply(
            wall_s=ms / 1e3,
            others_cpu=others,
            evaluations=result.evaluations,
            initial_loss=result.initial_loss,
            final_loss=result.final_loss,
            process_peak_bytes=peak_rss_bytes(),
        )
        return

    shape_hw = (size, size)
    targets = objective.targets(content, [style], shape_hw)
    image = evaluation_image(content, shape_hw)
    gc.collect()
    # From here the peak is that of stylizing: the loading's transients (torchvision builds
    # the whole VGG19 with its classifier to get the features' weights) are left out.
    load_peak = reset_peak_rss()
    reply(setup=_describe(side, objective))
    for line in sys.stdin:
        if line.strip() == "eval":
            own = time.process_time()
            (parts, grad), ms, others = timed(lambda: objective.evaluate(image, targets))
            # Cores this side kept busy on average: under its thread count, threads waited.
            reply(ms=ms, others=others, cores=(time.process_time() - own) / (ms / 1e3))
        elif line.strip() == "finish":
            np.save(out / f"{side}-{size}.npy", grad)
            rss = peak_rss_bytes()
            reply(loss=parts.total, rss_bytes=rss, process_peak_bytes=max(rss, load_peak))
        elif line.strip() == "peak":
            reply(**peak_gflops(side, spec["threads"]))


def _worker_main(spec_json: str) -> None:
    """Entry of a worker: replies are JSON lines on the real stdout; all else goes to stderr."""
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # a stray print, or a library's C-level one, cannot corrupt the replies
    sys.stdout = sys.stderr

    def reply(**fields):
        channel.write(json.dumps(fields) + "\n")
        channel.flush()

    _serve(json.loads(spec_json), reply)


class _Worker:
    """A worker process; `ask` sends one command line and returns its JSON reply."""

    def __init__(self, spec: dict):
        self.side = spec["side"]
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ortstyle.bench", WORKER_FLAG, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.stdin.close()  # the worker's stdin ends: it returns and exits
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.log.seek(0)
            lines = self.log.read().strip().splitlines() or ["no message"]
            raise OrtStyleError(f"the {self.side} worker failed: {lines[-1]}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.reply()


# ---- measuring ------------------------------------------------------------------------


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
        _Worker(_spec(settings, "ort", "evaluate", size, out)) as ort,
        _Worker(_spec(settings, "eager", "evaluate", size, out)) as eager,
    ):
        workers = {"ort": ort, "eager": eager}
        setups = {side: worker.reply()["setup"] for side, worker in workers.items()}
        for _ in range(settings.warmup):
            for worker in workers.values():
                worker.ask("eval")
        times, others, cores = ({side: [] for side in SIDES} for _ in range(3))
        for repeat in range(settings.repeats):
            # Alternate who goes first, so neither always runs on the other's warm caches.
            for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                if settings.quiet:
                    wait_until_quiet(settings.quiet)
                reply = workers[side].ask("eval")
                times[side].append(reply["ms"])
                others[side].append(reply["others"])
                cores[side].append(reply["cores"])
        final = {side: worker.ask("finish") for side, worker in workers.items()}
        peaks = {}
        for worker in workers.values():
            if settings.quiet:
                wait_until_quiet(settings.quiet)
            peaks.update(worker.ask("peak"))

    grads = {side: np.load(out / f"{side}-{size}.npy") for side in SIDES}
    ort_loss, eager_loss = final["ort"]["loss"], final["eager"]["loss"]
    record = {"size": size, "height": size, "width": size, "gflop": gflop}
    for side in SIDES:
        record.update(_stats(side, times[side]))
        record[f"{side}_gflops"] = gflop / (record[f"{side}_ms"] / 1e3)
        record[f"{side}_rss_bytes"] = final[side]["rss_bytes"]
        record[f"{side}_process_peak_bytes"] = final[side]["process_peak_bytes"]
        record[f"{side}_setup"] = setups[side]
        # The share of the machine's CPU other processes took while this side was timed.
        record[f"{side}_others_cpu"] = [round(share, 3) for share in others[side]]
        record[f"{side}_cores_busy"] = [round(used, 2) for used in cores[side]]
    record.update(
        ratio=record["eager_ms"] / record["ort_ms"],
        ratio_of_minima=record["eager_ms_min"] / record["ort_ms_min"],
        grad_rel_l2=float(
            np.linalg.norm(grads["ort"] - grads["eager"]) / np.linalg.norm(grads["eager"])
        ),
        ort_loss=ort_loss,
        eager_loss=eager_loss,
        loss_rel_diff=abs(ort_loss - eager_loss) / max(abs(eager_loss), 1e-30),
        peak_gflops_here=max(peaks.values()),
        matmul_gflops=peaks,
        engine_estimate_bytes=memory.estimate_bytes(size, size),
    )
    return record


def whole_run(settings: BenchSettings, size: int, out: Path, eager_first: bool) -> dict:
    """Both sides stylize the pair with L-BFGS-B for `settings.iterations` evaluations."""
    runs = {}
    for side in SIDES[::-1] if eager_first else SIDES:
        if settings.quiet:
            wait_until_quiet(settings.quiet)
        with _Worker(_spec(settings, side, "run", size, out)) as worker:
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


def machine() -> dict:
    """The CPU, its cores, memory and load, and the versions that matter."""
    cpu = platform.processor()
    if Path("/proc/cpuinfo").is_file():
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    versions = {"ortstyle": ortstyle.__version__, "python": platform.python_version()}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "system": platform.platform(),
        "logical_cores": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "versions": versions,
    }


def source_state() -> dict:
    """The git commit of the code measured and its files changed since (None outside git)."""
    git = ["git", "-C", str(Path(__file__).resolve().parent.parent)]
    try:
        commit, changed = (
            subprocess.run(git + args, capture_output=True, text=True, check=True).stdout
            for args in (["rev-parse", "HEAD"], ["status", "--porcelain", "--", "ortstyle"])
        )
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    return {"commit": commit.strip(), "changed": [line[3:] for line in changed.splitlines()]}


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
    for record in results:
        for side in SIDES:
            record[f"{side}_peak_fraction"] = record[f"{side}_gflops"] / peak
            record[f"{side}_best_peak_fraction"] = (
                record["gflop"] / record[f"{side}_ms_min"] * 1e3 / peak
            )
    report.update(load_after=os.getloadavg(), peak_gflops=peak, results=results)
    report.update(whole_runs=whole_runs, memory=memory_fit(results))
    return report


# ---- showing --------------------------------------------------------------------------


def _table(title: str, columns: list) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    return table


def time_table(report: dict) -> Table:
    """Per size: median (min-max) ms per evaluation, the ratio, the fraction of peak FLOP/s."""
    table = _table(
        f"time per evaluation ({report['settings']['threads']} threads; "
        f"peak {report['peak_gflops']:.0f} GFLOP/s, best float32 matmul)",
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
    from matplotlib import ticker

    results = report["results"]
    sizes = [r["size"] for r in results]
    figure, (times, peak, rss) = plt.subplots(1, 3, figsize=(14, 4.2))
    for side, label in (("ort", "ONNX Runtime"), ("eager", "eager PyTorch")):
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
    rss.plot(
        sizes,
        [r["engine_estimate_bytes"] / MIB for r in results],
        "k--",
        label="engine's estimate (memory.py)",
    )
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
    figure.suptitle(
        f"ortstyle bench {report['date'][:10]}: {report['machine']['cpu']}, "
        f"{report['settings']['threads']} threads"
    )
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


# ---- the command ----------------------------------------------------------------------

_err = Console(stderr=True, highlight=False, soft_wrap=True)
_out = Console(highlight=False)


def _fail(message: str) -> None:
    _err.print(f"error: {message}", markup=False)
    raise typer.Exit(1)


def _parse_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        _fail(f"--sizes {text!r}: give comma-separated whole numbers of pixels, e.g. 256,512")
    if not sizes or min(sizes) < MIN_SIDE_PX:
        _fail(f"--sizes {text!r}: each size must be at least {MIN_SIDE_PX} px")
    return tuple(sorted(set(sizes)))


def _check_arguments(
    repeats, warmup, threads, iterations, quiet, pooling, backend, json_file, plot
):
    checks = [
        (
            backend in LOSS_BACKENDS,
            f"--loss-backend {backend!r} is not one of: {', '.join(LOSS_BACKENDS)}",
        ),
        (0 <= quiet < 1, f"--quiet {quiet}: must be from 0 (never wait) to below 1"),
        (repeats >= 1, f"--repeats {repeats}: must be at least 1"),
        (warmup >= 0, f"--warmup {warmup}: must be 0 or more"),
        (threads >= 0, f"--threads {threads}: must be 0 (the physical cores) or more"),
        (iterations >= 1, f"--iterations {iterations}: must be at least 1"),
        (pooling in POOLINGS, f"--pooling {pooling!r} is not one of: {', '.join(POOLINGS)}"),
        (plot is None or plot.suffix.lower() == ".png", f"--plot {plot}: must end in .png"),
        (
            util.find_spec("torch") is not None,
            "bench needs PyTorch for the eager side: pip install 'ortstyle[export]'",
        ),
    ]
    for ok, message in checks:
        if not ok:
            _fail(message)
    for path in (json_file, plot):
        if path is not None:
            check_writable_output(path)


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
    content: Annotated[Path, typer.Option(help="Content image.")] = Path("examples/tubingen.jpg"),
    style: Annotated[Path, typer.Option(help="Style image.")] = Path("examples/starry_night.jpg"),
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
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the results here.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the results to this .png.")] = None,
) -> None:
    """Time the ONNX Runtime engine against eager PyTorch autograd on the same objective."""
    from ortstyle.models import resolve_model

    size_list = _parse_sizes(sizes)
    _check_arguments(
        repeats, warmup, threads, iterations, quiet, pooling, loss_backend, json_file, plot
    )
    threads = threads or psutil.cpu_count(logical=False) or os.cpu_count() or 1
    try:
        for path in (content, style):
            load_image(path)
        resolved = resolve_model(weights, pooling)
    except OrtStyleError as error:
        _fail(str(error))
    for note in resolved.notes:
        _err.print(f"note: {note}", markup=False)
    model = resolved.model
    settings = BenchSettings(
        model_path=str(model.path),
        weights=model.weights,
        weights_sha256=model.weights_sha256,
        pooling=pooling,
        content=str(content),
        style=str(style),
        threads=threads,
        sizes=size_list,
        repeats=repeats,
        warmup=warmup,
        iterations=iterations if whole_run else 0,
        quiet=quiet,
        loss_backend=loss_backend,
    )
    # TODO: CPU only. A GPU comparison needs the CUDA provider against torch on CUDA, with
    # synchronised timing; until then the engine runs on its CPU provider here.
    _err.print(f"{model.describe()}; provider cpu; {threads} threads on both sides", markup=False)

    gflops = {size: evaluation_gflop(model.proto, size, size) for size in size_list}
    try:
        report = run_bench(settings, gflops, lambda line: _err.print(line, markup=False))
    except OrtStyleError as error:
        _fail(str(error))
    report["command"] = _command_line(ctx.params)
    _out.print(time_table(report))
    _out.print(memory_table(report))
    if report["whole_runs"]:
        _out.print(whole_run_table(report))
    _err.print(
        f"load average {report['load_before'][0]:.2f} before, "
        f"{report['load_after'][0]:.2f} after ({report['machine']['logical_cores']} cores)",
        markup=False,
    )
    if json_file:
        with atomic_path(json_file) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
        _out.print(f"wrote {json_file}", markup=False)
    if plot:
        draw(report, plot)
        _out.print(f"wrote {plot}", markup=False)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == WORKER_FLAG:
        _worker_main(sys.argv[2])
    else:  # `python -m ortstyle.bench OPTIONS` is `ortstyle bench OPTIONS`
        typer.run(bench)
