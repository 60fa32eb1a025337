"""torchvision's VGG19 feature extractor, its weights, and a module that returns every ReLU."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from ortstyle.errors import OrtStyleError
from ortstyle.layers import FEATURE_LAYERS, IMAGENET_MEAN, IMAGENET_STD, VGG19_LAYERS

RANDOM_SEED = 0  # the seed of the random-weight backbone, so every machine builds the same one
POOLINGS = ("avg", "max")


@dataclass(frozen=True)
class Weights:
    """A VGG19 `features` state dict and where it came from."""

    source: str  # "imagenet", "random" or the path of a state-dict file
    state_dict: dict
    sha256: str  # of the tensors' bytes in key order: names the weights whatever their file


def weights_digest(state_dict: dict) -> str:
    """SHA-256 over the parameter names and bytes, independent of the file they came from."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        digest.update(key.encode())
        digest.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _features_only(state_dict: dict, origin: str) -> dict:
    """Keep the `features.*` entries of a whole-model state dict, or accept a features-only one."""
    if any(key.startswith("features.") for key in state_dict):
        state_dict = {
            key.removeprefix("features."): value
            for key, value in state_dict.items()
            if key.startswith("features.")
        }
    needed = [
        f"{index}.weight" for index, name in enumerate(VGG19_LAYERS) if name.startswith("conv")
    ]
    missing = [key for key in needed if key not in state_dict]
    if missing:
        raise OrtStyleError(
            f"{origin} is not a VGG19 state dict: missing {missing[0]} "
            "(expected torchvision's vgg19 format, whole model or `features` only)"
        )
    return state_dict


def imagenet_checkpoint() -> Path:
    """Where torch hub keeps torchvision's ImageNet VGG19 file (present or not)."""
    url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def load_weights(spec: str, download: bool = True) -> Weights:
    """Load VGG19 features weights: 'imagenet', 'random' (seeded) or a state-dict path."""
    if spec == "random":
        torch.manual_seed(RANDOM_SEED)
        state = torchvision.models.vgg19(weights=None).features.state_dict()
        return Weights("random", state, weights_digest(state))
    if spec == "imagenet":
        return _load_imagenet(download)
    path = Path(spec)
    if not path.is_file():
        raise OrtStyleError(f"weights {spec!r}: no such file; use imagenet, random or a .pth path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds, with pages of advice: keep one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = reason.split(". ")[0].rstrip(".")[:120]  # torch's first sentence only
        raise OrtStyleError(
            f"weights {path} could not be read as a PyTorch state dict (.pth): {reason}"
        ) from error
    if not isinstance(state, dict):
        raise OrtStyleError(f"weights {path} holds a {type(state).__name__}, not a state dict")
    state = _features_only(state, str(path))
    _check_tensors(state, str(path))
    return Weights(str(path.resolve()), state, weights_digest(state))


def _check_tensors(state: dict, origin: str) -> None:
    """Refuse weights of the wrong shapes or with NaN/infinite values, naming the tensor."""
    reference = torchvision.models.vgg19(weights=None).features.state_dict()
    for key, value in state.items():
        if key not in reference:
            continue
        if not isinstance(value, torch.Tensor) or value.shape != reference[key].shape:
            shape = tuple(getattr(value, "shape", ()))
            raise OrtStyleError(
                f"weights {origin}: {key} has shape {shape}, VGG19 needs "
                f"{tuple(reference[key].shape)}"
            )
        if not torch.isfinite(value).all():
            raise OrtStyleError(f"weights {origin}: {key} holds NaN or infinite values")


def _load_imagenet(download: bool) -> Weights:
    checkpoint = imagenet_checkpoint()
    if not checkpoint.is_file() and not download:
        raise OrtStyleError(
            f"ImageNet weights are not cached at {checkpoint} and downloads are off "
            "(ORTSTYLE_OFFLINE); copy vgg19-dcbb9e9d.pth there, or use --weights random"
        )
    try:
        state = torchvision.models.VGG19_Weights.IMAGENET1K_V1.get_state_dict(
            progress=False, check_hash=True
        )
    except Exception as error:  # no network, a proxy, a corrupt download
        raise OrtStyleError(
            f"ImageNet weights could not be downloaded to {checkpoint} ({error}); "
            "copy vgg19-dcbb9e9d.pth there, or use --weights random"
        )
    state = _features_only(state, str(checkpoint))
    return Weights("imagenet", state, weights_digest(state))


class VGGFeatures(nn.Module):
    """VGG19 up to relu5_1, with ImageNet normalisation, returning every ReLU output.

    Input (1, 3, H, W) float32 RGB in [0, 1]; outputs in FEATURE_LAYERS order.
    """

    def __init__(self, weights: Weights, pooling: str = "avg"):
        super().__init__()
        if pooling not in POOLINGS:
            raise OrtStyleError(f"pooling {pooling!r} is not one of: {', '.join(POOLINGS)}")
        features = torchvision.models.vgg19(weights=None).features[: len(VGG19_LAYERS)]
        features.load_state_dict(
            {
                k: v
                for k, v in weights.state_dict.items()
                if int(k.split(".")[0]) < len(VGG19_LAYERS)
            }
        )
        if pooling == "avg":
            # Gatys et al. found average pooling gives slightly smoother results than max.
            for index, name in enumerate(VGG19_LAYERS):
                if name.startswith("pool"):
                    features[index] = nn.AvgPool2d(kernel_size=2, stride=2)
        self.layers = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (image - self.mean) / self.std
        outputs = []
        for name, layer in zip(VGG19_LAYERS, self.layers):
            x = layer(x)
            if name in FEATURE_LAYERS:
                outputs.append(x)
        return tuple(outputs)
