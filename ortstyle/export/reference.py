"""The eager-PyTorch reference objective: the engine's losses on the same VGG19, by autograd.

It reproduces `ortstyle.engine.losses` term for term (target-normalised content and
style losses, Gram = F F^T / (H W), TV = mean squared neighbour difference) on
`VGGFeatures` with frozen weights, and takes the input gradient with torch.autograd.
Tests check the engine against it; `ortstyle bench` times the two side by side.
"""

import numpy as np
import torch

from ortstyle.engine.losses import LossParts, Targets
from ortstyle.engine.optimize import NonFiniteLoss, OptimizerState, Tracker, run_adam, run_lbfgs
from ortstyle.engine.stylize import StyleResult, check_size, loss_weights, pass_count
from ortstyle.export.vgg import VGGFeatures, Weights
from ortstyle.images import fit_long_side, resize
from ortstyle.layers import FEATURE_LAYERS, MIN_SIDE_PX
from ortstyle.options import StyleOptions

_EPS = 1e-12  # the engine's guard against a target norm of zero (losses._EPS)


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float pixels -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], np.float32))


def _target(arrays: dict, layer: str, device: torch.device) -> torch.Tensor:
    """A numpy target as a tensor: sharing its memory on the CPU, copied to a GPU."""
    return torch.from_numpy(arrays[layer]).to(device)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) -> (C, C) Gram matrix divided by H*W, as the engine defines it."""
    _, channels, height, width = features.shape
    flat = features.reshape(channels, height * width)
    return flat @ flat.T / (height * width)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of vertical and horizontal neighbours of (1, 3, H, W)."""
    down = image[:, :, 1:, :] - image[:, :, :-1, :]
    right = image[:, :, :, 1:] - image[:, :, :, :-1]
    return down.square().mean() + right.square().mean()


def _normalised_sq_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|value - target|^2 / |target|^2, the target norm kept away from zero."""
    norm = target.square().sum().clamp_min(_EPS)
    return (value - target).square().sum() / norm


class ReferenceObjective:
    """Eager PyTorch twin of `Stylizer`: same weights, layers and losses, autograd gradient.

    `threads` sets torch's intra-op thread count for the whole process (None leaves it).
    """

    def __init__(self, weights: Weights, options: StyleOptions, device: str = "cpu"):
        self.options, self.device = options, torch.device(device)
        self.weights = loss_weights(options)
        if options.threads:
            torch.set_num_threads(options.threads)
        self.network = VGGFeatures(weights, options.pooling).to(self.device)
        self._index = {name: i for i, name in enumerate(FEATURE_LAYERS)}

    def features(self, image: torch.Tensor) -> dict:
        """Loss-layer features of a (1, 3, H, W) tensor in [0, 1], keyed by layer name."""
        outputs = self.network(image.to(self.device))
        return {layer: outputs[self._index[layer]] for layer in self.weights.layers}

    @torch.no_grad()
    def targets(self, content: np.ndarray, styles: list, shape_hw: tuple) -> Targets:
        """The engine's targets computed in torch: content features at `shape_hw`, blended Grams.

        Returned as numpy arrays in the engine's `Targets`, so either side can use them.
        """
        options = self.options
        style_side = max(round(max(shape_hw) * options.style_scale), MIN_SIDE_PX)
        blend = np.asarray(options.style_blend_weights or [1.0] * len(styles), np.float64)
        blend = blend / blend.sum()
        grams = {layer: 0.0 for layer in self.weights.style_layers}
        for weight, style in zip(blend, styles):
            pixels = resize(style, fit_long_side(style.shape[:2], style_side))
            features = self.features(_tensor(pixels))
            for layer in grams:
                grams[layer] = grams[layer] + float(weight) * gram_matrix(features[layer])
        features = self.features(_tensor(resize(content, shape_hw)))
        return Targets(
            {layer: features[layer].cpu().numpy() for layer in self.weights.content_layers},
            {layer: gram.cpu().numpy().astype(np.float32) for layer, gram in grams.items()},
        )

    def evaluate(self, image: np.ndarray, targets: Targets):
        """One forward, the losses and one autograd backward: (LossParts, d loss / d image).

        `image` is (1, 3, H, W) float32 in [0, 1]; the gradient has the same shape and dtype.
        """
        weights = self.weights
        pixels = torch.from_numpy(np.ascontiguousarray(image, np.float32))
        pixels = pixels.to(self.device).requires_grad_()
        features = self.features(pixels)
        content = sum(
            w * _normalised_sq_error(features[layer], _target(targets.content, layer, self.device))
            for layer, w in weights.content_layers.items()
        )
        style = sum(
            w
            * _normalised_sq_error(
                gram_matrix(features[layer]), _target(targets.grams, layer, self.device)
            )
            for layer, w in weights.style_layers.items()
        )
        tv = tv_loss(pixels) if weights.tv > 0 else torch.zeros(())
        content, style, tv = weights.content * content, weights.style * style, weights.tv * tv
        (grad,) = torch.autograd.grad(content + style + tv, pixels)
        parts = LossParts(*(float(term.detach()) for term in (content, style, tv)))
        return parts, grad.cpu().numpy()

    def stylize(self, content: np.ndarray, styles: list, callback=None) -> StyleResult:
        """A single-scale run with the engine's optimisers, as `Stylizer.stylize` does it.

        Starts from the content (or seeded noise) at `options.size`; no resume, no colours.
        """
        options = self.options
        if (
            pass_count(options) != 1
            or options.original_colors
            or options.init
            not in (
                "content",
                "noise",
            )
        ):
            raise NotImplementedError(
                "the reference covers single-scale runs from content or noise only"
            )
        check_size(content.shape[:2], options.size)
        shape_hw = fit_long_side(content.shape[:2], options.size)
        targets = self.targets(content, styles, shape_hw)
        if options.init == "noise":
            start = np.random.default_rng(options.seed).random((*shape_hw, 3), dtype=np.float32)
        else:
            start = resize(content, shape_hw)

        state = OptimizerState(options.optimizer)
        tracker = Tracker(
            lambda x: self.evaluate(x, targets),
            (1, 3, *shape_hw),
            options.iterations,
            state,
            callback,
        )
        stopped = None
        try:
            if options.optimizer == "lbfgs":
                run_lbfgs(tracker, _tensor(start).numpy())
            else:
                run_adam(tracker, _tensor(start).numpy(), options.learning_rate)
        except NonFiniteLoss as error:
            stopped = f"stopped: {error}"
        image = tracker.image()
        image = np.ascontiguousarray(image[0].transpose(1, 2, 0)) if image is not None else start
        return StyleResult(image, list(state.history), state.evaluations, stopped, state)
