"""One side at one size in a process of its own, and the parent's handle on that process.

The parent starts `python -m ortstyle.bench --worker SPEC` and talks to it in lines: it
sends `eval`, `finish` or `peak` on stdin and reads one JSON reply per command on stdout.
"""

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ortstyle.bench.cost import peak_gflops
from ortstyle.bench.machine import peak_rss_bytes, reset_peak_rss, timed
from ortstyle.engine.placement import describe_fallbacks
from ortstyle.engine.providers import PROVIDER_NAMES
from ortstyle.errors import OrtStyleError
from ortstyle.images import load_image, resize
from ortstyle.options import StyleOptions

WORKER_FLAG = "--worker"  # also spelled out in __main__.py, which must not import this
NOISE_SHARE = 0.2  # the evaluated image is 80% content, 20% noise: every loss term is active
NOISE_SEED = 0


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


def eager_device(provider: str) -> str:
    """Where eager PyTorch runs against the engine on `provider`: the same kind of device."""
    return "cpu" if provider == "cpu" else "cuda"


def _load_side(spec: dict, size: int):
    """The engine's Stylizer or the eager ReferenceObjective, set up alike."""
    options = StyleOptions(
        size=size,
        iterations=max(spec["iterations"], 1),
        scales=1,  # one pass on both sides: the eager reference has no coarse-to-fine
        pooling=spec["pooling"],
        provider=spec["provider"],
        precision=spec["precision"],  # the engine's; the eager side stays in float32
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
    return ReferenceObjective(weights, options, device=eager_device(spec["provider"]))


def _describe(side: str, objective, spec: dict) -> dict:
    """How a side is set up, for the record."""
    if side == "ort":
        backend = getattr(objective, "loss_backend", "numpy")  # engines before it had numpy
        return {
            "provider": objective.network.provider,
            "loss_backend": backend,
            "precision": spec["precision"],
        }
    import torch

    setup = {"torch_threads": torch.get_num_threads(), "device": eager_device(spec["provider"])}
    if setup["device"] == "cuda":
        setup["gpu"] = torch.cuda.get_device_name(0)
        setup["cudnn_tf32"] = torch.backends.cudnn.allow_tf32  # PyTorch's default: True
    return setup


def _placement(spec: dict, objective, targets, image: np.ndarray) -> str | None:
    """On a GPU provider, which nodes of the loss graph ran elsewhere (one line)."""
    if spec["side"] != "ort" or spec["provider"] == "cpu":
        return None
    if not hasattr(objective.objective, "placement"):
        return "not checked (numpy loss backend)"
    objective.objective.set_targets(targets)
    placement = objective.objective.placement(image)
    return describe_fallbacks(placement, PROVIDER_NAMES[objective.network.provider])


def _serve(spec: dict, reply) -> None:
    """One side at one size: a whole run, or `eval` / `finish` / `peak` lines from stdin."""
    objective = _load_side(spec, spec["size"])
    content, style = _square(load_image(spec["content"])), load_image(spec["style"])
    if spec["task"] == "run":
        _serve_run(spec, objective, content, style, reply)
    else:
        _serve_evaluations(spec, objective, content, style, reply)


def _serve_run(spec: dict, objective, content: np.ndarray, style: np.ndarray, reply) -> None:
    """Stylize the pair once; the image goes to the shared folder, the numbers to `reply`."""
    result, ms, others = timed(lambda: objective.stylize(content, [style]))
    np.save(Path(spec["out"]) / f"{spec['side']}-run-{spec['size']}.npy", result.image)
    reply(
        wall_s=ms / 1e3,
        others_cpu=others,
        evaluations=result.evaluations,
        initial_loss=result.initial_loss,
        final_loss=result.final_loss,
        process_peak_bytes=peak_rss_bytes(),
    )


def _serve_evaluations(spec: dict, objective, content, style, reply) -> None:
    """Answer the parent's command lines until stdin ends; the gradient goes to the folder."""
    side, size = spec["side"], spec["size"]
    shape_hw = (size, size)
    targets = objective.targets(content, [style], shape_hw)
    image = evaluation_image(content, shape_hw)
    setup = _describe(side, objective, spec)
    setup["placement"] = _placement(spec, objective, targets, image)
    gc.collect()
    # From here the peak is that of stylizing: the loading's transients (torchvision builds
    # the whole VGG19 with its classifier to get the features' weights) are left out.
    load_peak = reset_peak_rss()
    reply(setup=setup)
    for line in sys.stdin:
        if line.strip() == "eval":
            own = time.process_time()
            (parts, grad), ms, others = timed(lambda: objective.evaluate(image, targets))
            # Cores this side kept busy on average: under its thread count, threads waited.
            reply(ms=ms, others=others, cores=(time.process_time() - own) / (ms / 1e3))
        elif line.strip() == "finish":
            np.save(Path(spec["out"]) / f"{side}-{size}.npy", grad)
            rss = peak_rss_bytes()
            reply(loss=parts.total, rss_bytes=rss, process_peak_bytes=max(rss, load_peak))
        elif line.strip() == "peak":
            reply(**peak_gflops(side, spec["threads"], eager_device(spec["provider"]),
                                spec["precision"]))  # fmt: skip


def worker_main(spec_json: str) -> None:
    """Entry of a worker: replies are JSON lines on the real stdout; all else goes to stderr."""
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # a stray print, or a library's C-level one, cannot corrupt the replies
    sys.stdout = sys.stderr

    def reply(**fields):
        channel.write(json.dumps(fields) + "\n")
        channel.flush()

    _serve(json.loads(spec_json), reply)


class Worker:
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
            code = self.process.wait()
            self.log.seek(0)
            # A worker the kernel killed (out of memory: exit status -9) leaves no message.
            lines = self.log.read().strip().splitlines() or [f"no message (exit status {code})"]
            raise OrtStyleError(f"the {self.side} worker failed: {lines[-1]}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.reply()
