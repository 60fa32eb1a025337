"""A whole stylization: targets from the images, then the optimiser, coarse to fine."""

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ortstyle.engine.colors import keep_content_colors
from ortstyle.engine.losses import LossWeights, Targets, layer_weights
from ortstyle.engine.model import ExportedModel
from ortstyle.engine.network import FeatureNetwork
from ortstyle.engine.objective import (
    DEFAULT_LOSS_BACKEND,
    LOSS_BACKENDS,
    NumpyObjective,
    OnnxObjective,
)
from ortstyle.engine.optimize import NonFiniteLoss, OptimizerState, Tracker, run_adam, run_lbfgs
from ortstyle.engine.precision import to_half
from ortstyle.images import fit_long_side, resize
from ortstyle.layers import MIN_SIDE_PX, check_layer_names
from ortstyle.options import OPTIMIZERS, PRECISIONS, StyleOptions

# With --scales 0 (auto), the coarsest pass is at least this long: a coarse pass costs a
# quarter of the next, and below this size the style's larger strokes no longer fit.
AUTO_COARSEST_PX = 256


@dataclass(frozen=True)
class StyleResult:
    """The stylized image and how the run went."""

    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    history: list  # total loss of every evaluation, all scales
    evaluations: int
    stopped: str | None  # None when the budget was spent; else why it ended early
    state: OptimizerState  # enough to resume the last scale

    @property
    def initial_loss(self) -> float:
        return self.history[0]

    @property
    def final_loss(self) -> float:
        """The loss of the returned image: the best of the last pass."""
        return min(self.state.history) if self.state and self.state.history else self.history[-1]


def loss_weights(options: StyleOptions) -> LossWeights:
    """The loss weights an options object asks for, with the layer names checked."""
    content_layers = check_layer_names(options.content_layers, "content")
    style_layers = check_layer_names(options.style_layers, "style")
    return LossWeights(
        content=options.content_weight,
        style=options.style_weight,
        tv=options.tv_weight,
        content_layers=layer_weights(content_layers),
        style_layers=layer_weights(style_layers, options.style_layer_weights),
    )


def pass_count(options: StyleOptions) -> int:
    """options.scales, or for 0 (auto) one pass per halving down to AUTO_COARSEST_PX."""
    if options.scales:
        return options.scales
    return 1 + max(0, math.floor(math.log2(options.size / AUTO_COARSEST_PX)))


def scale_sizes(shape_hw: tuple, options: StyleOptions) -> list[tuple[int, int]]:
    """(H, W) of each pass, coarse to fine, each half the next; the last is the output size."""
    passes = pass_count(options)
    long_sides = [max(round(options.size / 2**k), 1) for k in reversed(range(passes))]
    sizes = [fit_long_side(shape_hw, side) for side in long_sides]
    return [hw for hw in sizes if min(hw) >= MIN_SIDE_PX] or [sizes[-1]]


def check_size(shape_hw: tuple, size: int) -> None:
    """ValueError naming the smallest usable size when the output's short side is too small."""
    height, width = fit_long_side(shape_hw, size)
    if min(height, width) < MIN_SIDE_PX:
        needed = int(np.ceil(MIN_SIDE_PX * max(shape_hw) / min(shape_hw)))
        raise ValueError(
            f"size {size} gives a {width}x{height} output; the network needs at least "
            f"{MIN_SIDE_PX} px on each side, so use --size {needed} or more for this image"
        )


def to_nchw(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) pixels -> contiguous (1, 3, H, W) float32, the network's layout."""
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32)


def to_hwc(image: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) -> contiguous (H, W, 3), the images' layout."""
    return np.ascontiguousarray(image[0].transpose(1, 2, 0))


class Stylizer:
    """ONNX Runtime sessions for one model and loss-layer choice; stylizes any number of images."""

    def __init__(self, model: ExportedModel, options: StyleOptions):
        if options.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {options.optimizer!r} is not one of {OPTIMIZERS}")
        if options.loss_backend not in LOSS_BACKENDS:
            raise ValueError(
                f"loss backend {options.loss_backend!r} is not one of: {', '.join(LOSS_BACKENDS)}"
            )
        self.model, self.options = model, options
        self.weights = loss_weights(options)
        self.loss_backend = (
            DEFAULT_LOSS_BACKEND if options.loss_backend == "auto" else options.loss_backend
        )
        if options.precision not in PRECISIONS:
            raise ValueError(f"precision {options.precision!r} is not one of {PRECISIONS}")
        proto = to_half(model.proto) if options.precision == "fp16" else model.proto
        numpy_backend = self.loss_backend == "numpy"
        self.network = FeatureNetwork(
            proto, self.weights.layers, options.provider, options.threads, numpy_backend
        )
        if numpy_backend:
            self.objective = NumpyObjective(self.network, self.weights)
        else:
            self.objective = OnnxObjective(
                proto, self.weights, self.network.plan, options.threads, options.cuda_graph
            )
        self._targets = None

    def features(self, pixels: np.ndarray) -> dict:
        """Loss-layer features of (H, W, 3) pixels."""
        return self.network.forward(to_nchw(pixels))

    def targets(self, content: np.ndarray, styles: list, shape_hw: tuple) -> Targets:
        """Content features at `shape_hw`; blended style Grams at the style scale."""
        options = self.options
        style_side = max(round(max(shape_hw) * options.style_scale), MIN_SIDE_PX)
        style_features = [
            self.features(resize(style, fit_long_side(style.shape[:2], style_side)))
            for style in styles
        ]
        blend = options.style_blend_weights or [1.0] * len(styles)
        return Targets.build(
            self.features(resize(content, shape_hw)), style_features, list(blend), self.weights
        )

    def evaluate(self, image: np.ndarray, targets: Targets):
        """One forward, the losses, one backward: (LossParts, d loss / d image)."""
        if targets is not self._targets:
            self.objective.set_targets(targets)
            self._targets = targets
        return self.objective.evaluate(image)

    def stylize(
        self,
        content: np.ndarray,
        styles: list,
        init: np.ndarray | None = None,
        callback: Callable | None = None,
        resume: OptimizerState | None = None,
    ) -> StyleResult:
        """Stylize (H, W, 3) `content` with the (H', W', 3) `styles`.

        `init` is the starting image (None: per options.init, content or noise); with
        `resume`, the run continues at that state's scale and `init` is its image.
        The callback receives an Iterate after every evaluation (scale fields set).
        """
        options = self.options
        check_size(content.shape[:2], options.size)
        sizes = scale_sizes(content.shape[:2], options)
        first = min(resume.scale, len(sizes)) if resume is not None else 1
        image = self._start_image(content, init, sizes[first - 1])
        history: list = []
        state, stopped = resume, None

        for index in range(first, len(sizes) + 1):
            shape_hw = sizes[index - 1]
            targets = self.targets(content, styles, shape_hw)
            image = resize(image, shape_hw)
            state = state or OptimizerState(options.optimizer, scale=index)
            report = _with_scale(callback, index, len(sizes))
            tracker = Tracker(
                lambda x, t=targets: self.evaluate(x, t),
                (1, 3, *shape_hw),
                options.iterations,
                state,
                report,
                options.target_loss if index == len(sizes) else None,
            )
            stopped = self._optimize(tracker, to_nchw(image))
            history.extend(state.history)
            best = tracker.image()
            image = to_hwc(best) if best is not None else image
            if stopped or index == len(sizes):
                break
            state = None

        if options.original_colors:
            image = keep_content_colors(image, resize(content, image.shape[:2]))
        return StyleResult(image, history, len(history), stopped, state)

    def _optimize(self, tracker: Tracker, start: np.ndarray) -> str | None:
        """Run the chosen optimiser; return why it stopped early, or None."""
        try:
            if self.options.optimizer == "lbfgs":
                run_lbfgs(tracker, start)
            else:
                run_adam(tracker, start, self.options.learning_rate)
        except NonFiniteLoss as error:
            return f"stopped: {error}"
        except KeyboardInterrupt:
            return "interrupted"
        return None

    def _start_image(self, content: np.ndarray, init, shape_hw: tuple) -> np.ndarray:
        if init is not None:
            return resize(init, shape_hw)
        if self.options.init == "noise":
            rng = np.random.default_rng(self.options.seed)
            return rng.random((*shape_hw, 3), dtype=np.float32)
        return resize(content, shape_hw)


def _with_scale(callback: Callable | None, scale: int, scales: int) -> Callable | None:
    if callback is None:
        return None
    return lambda it: callback(dataclasses.replace(it, scale=scale, scales=scales))
