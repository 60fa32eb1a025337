"""Every stylization setting and its default, in one place; the CLI reads its defaults here."""

import os
from dataclasses import dataclass

from ortstyle.layers import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS

OPTIMIZERS = ("lbfgs", "adam")
POOLINGS = ("avg", "max")
PRECISIONS = ("fp32", "fp16")
MAX_THREADS = 4 * (os.cpu_count() or 1)  # --threads beyond this only contend for the cores


@dataclass(frozen=True)
class StyleOptions:
    """Settings of one stylization. Sizes in pixels, weights dimensionless (losses normalised)."""

    size: int = 512  # long side of the output; the content's aspect ratio is kept
    iterations: int = 300  # objective evaluations (forward + backward), per scale
    content_weight: float = 1.0
    style_weight: float = 1000.0
    tv_weight: float = 1.0
    optimizer: str = "lbfgs"
    learning_rate: float = 0.02  # Adam's step in pixel units ([0, 1] range)
    init: str = "content"  # content, noise, or the path of an image
    seed: int = 0
    content_layers: tuple = DEFAULT_CONTENT_LAYERS
    style_layers: tuple = DEFAULT_STYLE_LAYERS
    style_layer_weights: tuple | None = None  # None: equal
    style_blend_weights: tuple | None = None  # None: equal over the style images
    style_scale: float = 1.0  # style image's long side relative to the output's
    original_colors: bool = False
    # Coarse-to-fine passes, each half the next; 0: one per halving down to 256 px. One pass
    # is the default: at 512 px two passes took longer to reach the same loss
    # (benchmarks/results/multiscale-2026-12-04.json).
    scales: int = 1
    target_loss: float | None = None  # end the last pass early once its loss reaches this
    pooling: str = "avg"
    weights: str = "auto"  # auto, imagenet, random or a state-dict path
    provider: str = "auto"
    loss_backend: str = "auto"  # numpy, onnx, or auto (the measured fastest, see objective.py)
    precision: str = "fp32"  # fp16: the network in half precision on a GPU, losses in fp32
    cuda_graph: bool = False  # capture the evaluation as a CUDA graph (cuda provider only)
    threads: int | None = None  # None: ONNX Runtime's default (the physical cores)
