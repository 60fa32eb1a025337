"""Checkpoints beside the output, so an interrupted run can continue with --resume.

A checkpoint keeps the current image, the pass and evaluation reached, the loss history
and Adam's moments. L-BFGS-B's curvature pairs live inside scipy and cannot be saved,
so a resumed L-BFGS run rebuilds them over its first few evaluations.
"""

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortstyle.engine.optimize import OptimizerState
from ortstyle.engine.stylize import to_hwc
from ortstyle.errors import OrtStyleError
from ortstyle.files import atomic_path
from ortstyle.options import StyleOptions


@dataclass(frozen=True)
class Resumed:
    """What a checkpoint gives back: the image to continue from and the optimiser's state."""

    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    state: OptimizerState


def checkpoint_path(output: Path) -> Path:
    """out.png -> out.png.ckpt.npz"""
    return Path(output).with_name(Path(output).name + ".ckpt.npz")


def _fingerprint(options: StyleOptions, content: Path, styles: list) -> str:
    """The settings a resumed run must share with the original (the evaluation budget aside)."""
    settings = dataclasses.asdict(options)
    settings.pop("iterations")
    settings["content"] = str(Path(content).resolve())
    settings["styles"] = [str(Path(s).resolve()) for s in styles]
    return json.dumps(settings, sort_keys=True, default=str)


def save(
    output: Path,
    options: StyleOptions,
    content: Path,
    styles: list,
    image: np.ndarray,
    state: OptimizerState,
) -> Path:
    """Write the checkpoint for `output` whole or not at all; `image` is (1, 3, H, W)."""
    path = checkpoint_path(output)
    empty = np.zeros(0, np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                image=image,
                fingerprint=_fingerprint(options, content, styles),
                kind=state.kind,
                scale=state.scale,
                evaluations=state.evaluations,
                adam_step=state.adam_step,
                history=np.asarray(state.history, np.float64),
                adam_m=empty if state.adam_m is None else state.adam_m,
                adam_v=empty if state.adam_v is None else state.adam_v,
            )
    return path


def load(output: Path, options: StyleOptions, content: Path, styles: list) -> Resumed:
    """The checkpoint for `output`, or OrtStyleError if absent, damaged or for other settings."""
    path = checkpoint_path(output)
    if not path.is_file():
        raise OrtStyleError(f"no checkpoint {path} to resume from; run without --resume")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
        fingerprint = str(fields["fingerprint"])
        image = fields["image"]
        state = OptimizerState(
            kind=str(fields["kind"]),
            scale=int(fields["scale"]),
            evaluations=int(fields["evaluations"]),
            adam_step=int(fields["adam_step"]),
            adam_m=fields["adam_m"] if fields["adam_m"].size else None,
            adam_v=fields["adam_v"] if fields["adam_v"].size else None,
            history=fields["history"].tolist(),
        )
        if image.ndim != 4 or image.shape[:2] != (1, 3) or not np.isfinite(image).all():
            raise ValueError("its image is not a finite (1, 3, H, W) array")
    # A zip cut short, a missing field, a wrong shape: all mean the file cannot be trusted.
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise OrtStyleError(
            f"checkpoint {path} is damaged ({error}); delete it or run without --resume"
        ) from error
    if fingerprint != _fingerprint(options, content, styles):
        raise OrtStyleError(
            f"checkpoint {path} was made with other images or settings; use the same ones "
            "(only --iterations may change) or run without --resume"
        )
    return Resumed(to_hwc(image), state)
