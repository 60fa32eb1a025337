"""The loss layer between the forward and backward passes: Gram matrices, content, style, TV.

Every loss is normalised by its target, which departs from Gatys et al.'s raw sums:
    content_l = |F_l - P_l|^2 / |P_l|^2          style_l = |G_l - S_l|^2 / |S_l|^2
    G_l = F_l F_l^T / (H_l W_l)                 tv = mean squared difference of neighbours
so each term starts near 1 whatever the image size, the backbone's weights (ImageNet or
random) or a layer's activation scale, and one set of default weights serves them all.
Gradients are analytic; `features` are (1, C, H, W) float32 arrays keyed by layer name.
"""

from dataclasses import dataclass

import numpy as np

_EPS = 1e-12  # keeps a target norm of zero (a black style image) from dividing by zero


@dataclass(frozen=True)
class LossWeights:
    """Global weights of the three terms and the normalised per-layer weights."""

    content: float
    style: float
    tv: float
    content_layers: dict  # layer -> weight, summing to 1
    style_layers: dict  # layer -> weight, summing to 1

    @property
    def layers(self) -> tuple:
        """Every layer that carries a loss, in network order of first mention."""
        return tuple(dict.fromkeys([*self.content_layers, *self.style_layers]))


def layer_weights(layers, weights=None) -> dict:
    """Per-layer weights normalised to sum to 1 (equal when `weights` is None)."""
    layers = tuple(layers)
    weights = np.ones(len(layers)) if weights is None else np.asarray(weights, np.float64)
    if len(weights) != len(layers) or not np.all(weights >= 0) or not weights.sum() > 0:
        shown = ",".join(f"{w:g}" for w in weights)
        raise ValueError(
            f"layer weights {shown} must be {len(layers)} non-negative numbers, not all 0"
        )
    return dict(zip(layers, (weights / weights.sum()).tolist()))


def gram_matrix(features: np.ndarray) -> np.ndarray:
    """(1, C, H, W) -> (C, C) float32 Gram matrix divided by H*W (size-independent)."""
    _, channels, height, width = features.shape
    flat = features.reshape(channels, height * width)
    return (flat @ flat.T) / np.float32(height * width)


@dataclass(frozen=True)
class Targets:
    """What the image is pulled towards: content features and (blended) style Gram matrices."""

    content: dict  # layer -> (1, C, H, W)
    grams: dict  # layer -> (C, C)

    @staticmethod
    def build(content_features: dict, style_features: list, blend: list, weights: LossWeights):
        """Targets from the content's features and the style images' features and blend weights."""
        blend = np.asarray(blend, np.float64) / np.sum(blend)
        grams = {
            layer: sum(float(w) * gram_matrix(f[layer]) for w, f in zip(blend, style_features))
            for layer in weights.style_layers
        }
        content = {layer: content_features[layer] for layer in weights.content_layers}
        return Targets(content, {k: v.astype(np.float32) for k, v in grams.items()})


@dataclass(frozen=True)
class LossParts:
    """The weighted terms of one evaluation; total = content + style + tv."""

    content: float
    style: float
    tv: float

    @property
    def total(self) -> float:
        return self.content + self.style + self.tv


def content_loss(features: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """|F - P|^2 / |P|^2 and its gradient with respect to F."""
    diff = features - target
    norm = max(float(np.vdot(target, target)), _EPS)
    return float(np.vdot(diff, diff)) / norm, diff * np.float32(2.0 / norm)


def style_loss(features: np.ndarray, target_gram: np.ndarray) -> tuple[float, np.ndarray]:
    """|G(F) - S|^2 / |S|^2 and its gradient with respect to F."""
    _, channels, height, width = features.shape
    diff = gram_matrix(features) - target_gram
    norm = max(float(np.vdot(target_gram, target_gram)), _EPS)
    # dL/dG = 2 diff / norm is symmetric, so dL/dF = 2 (dL/dG) F / (H W).
    flat = features.reshape(channels, height * width)
    grad = (diff @ flat) * np.float32(4.0 / (norm * height * width))
    return float(np.vdot(diff, diff)) / norm, grad.reshape(features.shape)


def tv_loss(image: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared difference of vertical and horizontal neighbours, and its gradient.

    `image` is (1, 3, H, W) in [0, 1]; H and W must be at least 2.
    """
    down = image[:, :, 1:, :] - image[:, :, :-1, :]
    right = image[:, :, :, 1:] - image[:, :, :, :-1]
    loss = float(np.mean(down * down) + np.mean(right * right))
    down *= 2.0 / down.size
    right *= 2.0 / right.size
    grad = np.zeros_like(image)
    grad[:, :, 1:, :] += down
    grad[:, :, :-1, :] -= down
    grad[:, :, :, 1:] += right
    grad[:, :, :, :-1] -= right
    return loss, grad


def evaluate_losses(features: dict, image: np.ndarray, targets: Targets, weights: LossWeights):
    """Weighted losses and gradients: (LossParts, {layer: dL/dF}, dL/dimage from TV alone)."""
    grads: dict = {}
    content_total = style_total = 0.0
    for layer, layer_weight in weights.content_layers.items():
        loss, grad = content_loss(features[layer], targets.content[layer])
        scale = weights.content * layer_weight
        content_total += scale * loss
        _accumulate(grads, layer, grad * np.float32(scale))
    for layer, layer_weight in weights.style_layers.items():
        loss, grad = style_loss(features[layer], targets.grams[layer])
        scale = weights.style * layer_weight
        style_total += scale * loss
        _accumulate(grads, layer, grad * np.float32(scale))
    tv, image_grad = tv_loss(image) if weights.tv > 0 else (0.0, None)
    if image_grad is not None:
        image_grad *= np.float32(weights.tv)
    return LossParts(content_total, style_total, weights.tv * tv), grads, image_grad


def _accumulate(grads: dict, layer: str, grad: np.ndarray) -> None:
    if layer in grads:
        grads[layer] = grads[layer] + grad
    else:
        grads[layer] = grad
