"""Finding the exported model a run uses: a given file, the cache, or a fresh export.

Imports torch only when an export is really needed, so a deployment with a cached or
given model runs on onnxruntime, numpy and Pillow.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ortstyle.engine.model import ExportedModel, read_model_file
from ortstyle.errors import OrtStyleError
from ortstyle.files import models_dir, sha256_of

OFFLINE_ENV = "ORTSTYLE_OFFLINE"  # set to 1 to never try to download ImageNet weights
WEIGHTS_CHOICES = ("auto", "imagenet", "random")
IMAGENET_HINT = (
    "for ImageNet weights run `ortstyle export --weights imagenet` once on a machine "
    "online (or put vgg19-dcbb9e9d.pth in torch hub's checkpoints folder)"
)


@dataclass(frozen=True)
class ResolvedModel:
    """The model to run, and one line per degraded mode to show the user."""

    model: ExportedModel
    notes: tuple


def cache_name(weights: str, pooling: str) -> str:
    """The cache file name for a weights spec and pooling; a path is named by its content."""
    tag = weights if weights in ("imagenet", "random") else "file-" + sha256_of(Path(weights))[:16]
    return f"vgg19-{tag}-{pooling}.onnx"


def cache_is_intact(path: Path) -> bool:
    """True when a cached model exists, matches its recorded hash and reads as a model."""
    sidecar = Path(str(path) + ".sha256")
    if not (path.is_file() and sidecar.is_file()):
        return False
    if sidecar.read_text().strip() != sha256_of(path):
        return False
    try:
        read_model_file(path)
    except OrtStyleError:
        return False
    return True


def cached_models() -> list[Path]:
    """Intact exported models in the cache folder."""
    return sorted(p for p in models_dir().glob("vgg19-*.onnx") if cache_is_intact(p))


def _export(weights: str, pooling: str, download: bool) -> ExportedModel:
    try:
        from ortstyle.export.onnx_export import cached_model
    except ImportError as error:
        raise OrtStyleError(
            f"exporting the VGG19 model needs PyTorch ({error.name} is not installed): "
            "pip install 'ortstyle[export]', or pass --model FILE.onnx"
        )
    path, _ = cached_model(weights, pooling, download=download)
    return read_model_file(path)


IMAGENET_FILE = "vgg19-dcbb9e9d.pth"  # the name of torchvision's VGG19_Weights.IMAGENET1K_V1


def _imagenet_available() -> bool:
    """ImageNet weights are in torch hub's cache, found as torch finds them (TORCH_HOME, else
    XDG_CACHE_HOME/torch) without importing torch, which costs seconds on every run."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    home = os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")
    return (Path(home) / "hub" / "checkpoints" / IMAGENET_FILE).is_file()


def downloads_allowed() -> bool:
    """False when ORTSTYLE_OFFLINE is set to anything but 0."""
    return os.environ.get(OFFLINE_ENV, "") in ("", "0")


def resolve_model(weights: str, pooling: str, model_file: Path | None = None) -> ResolvedModel:
    """The model for --model, or for --weights/--pooling from the cache or a fresh export.

    `auto` takes ImageNet weights when an export of them is cached or torch hub has the
    file; otherwise the seeded random-weight VGG19 (see README), with a note saying so.
    """
    if model_file is not None:
        model = read_model_file(Path(model_file))
        notes = (
            (f"model {model_file} has random weights; {IMAGENET_HINT}",) if model.is_random else ()
        )
        return ResolvedModel(model, notes)
    if weights == "auto":
        cached = models_dir() / cache_name("imagenet", pooling)
        if cache_is_intact(cached):
            return ResolvedModel(read_model_file(cached), ())
        if _imagenet_available():
            return ResolvedModel(_export("imagenet", pooling, download=False), ())
        note = f"using the random-weight VGG19: ImageNet weights are not cached; {IMAGENET_HINT}"
        return ResolvedModel(_cached_or_export("random", pooling), (note,))
    return ResolvedModel(_cached_or_export(weights, pooling, downloads_allowed()), ())


def _cached_or_export(weights: str, pooling: str, download: bool = False) -> ExportedModel:
    if weights not in ("imagenet", "random") and not Path(weights).is_file():
        raise OrtStyleError(
            f"weights {weights!r}: no such file; use auto, imagenet, random or a .pth path"
        )
    cached = models_dir() / cache_name(weights, pooling)
    if cache_is_intact(cached):
        return read_model_file(cached)
    return _export(weights, pooling, download)
