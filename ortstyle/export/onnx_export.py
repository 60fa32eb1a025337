"""Export VGGFeatures to ONNX, check it against eager PyTorch, and cache the file."""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
import torchvision
from filelock import FileLock

import ortstyle
from ortstyle.engine.model import FORMAT, MODEL_INPUT
from ortstyle.errors import OrtStyleError
from ortstyle.export.vgg import VGGFeatures, Weights, load_weights
from ortstyle.files import atomic_path, models_dir, sha256_of
from ortstyle.layers import FEATURE_LAYERS, IMAGENET_MEAN, IMAGENET_STD
from ortstyle.models import cache_is_intact, cache_name

OPSET = 17
CHECK_SIZE_HW = (67, 93)  # odd and non-square, so padding and pooling remainders are exercised
CHECK_TOLERANCE = 1e-3  # largest |ORT - eager| over all features, relative to their largest value


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how closely ONNX Runtime reproduced eager PyTorch."""

    path: Path
    weights: str
    weights_sha256: str
    pooling: str
    max_abs_diff: float
    max_rel_diff: float


def _fold_identities(model: onnx.ModelProto) -> None:
    """Point consumers of `Identity(initializer)` at the initializer itself.

    The TorchScript exporter emits such aliases for shared parameters; the gradient
    builder and readers of the file are simpler without them.
    """
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    alias = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in initializers
    }
    kept = [node for node in graph.node if node.output[0] not in alias]
    for node in kept:
        for index, name in enumerate(node.input):
            node.input[index] = alias.get(name, name)
    del graph.node[:]
    graph.node.extend(kept)


def _write_metadata(model: onnx.ModelProto, weights: Weights, pooling: str, check: dict) -> None:
    entries = {
        "ortstyle.format": FORMAT,
        "ortstyle.weights": weights.source,
        "ortstyle.weights_sha256": weights.sha256,
        "ortstyle.pooling": pooling,
        "ortstyle.layers": json.dumps(list(FEATURE_LAYERS)),
        "ortstyle.normalization": json.dumps({"mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
        "ortstyle.exported_with": json.dumps(
            {
                "ortstyle": ortstyle.__version__,
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "onnx": onnx.__version__,
            }
        ),
        "ortstyle.check": json.dumps(check),
    }
    del model.metadata_props[:]
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "ortstyle"
    model.producer_version = ortstyle.__version__


def _compare_with_eager(model_bytes: bytes, module: VGGFeatures) -> dict:
    """Run both on one random odd-sized image; return the largest absolute and relative gaps."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, *CHECK_SIZE_HW, generator=generator)
    with torch.no_grad():
        expected = [t.numpy() for t in module(image)]
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    actual = session.run(list(FEATURE_LAYERS), {MODEL_INPUT: image.numpy()})
    abs_diff = max(float(np.abs(a - e).max()) for a, e in zip(actual, expected))
    rel_diff = max(
        float(np.abs(a - e).max() / max(np.abs(e).max(), 1e-12)) for a, e in zip(actual, expected)
    )
    return {"size_hw": list(CHECK_SIZE_HW), "max_abs_diff": abs_diff, "max_rel_diff": rel_diff}


def export_model(weights: Weights, pooling: str, path: Path) -> ExportReport:
    """Export VGG19 features (dynamic H and W) to `path`, checked against eager PyTorch."""
    module = VGGFeatures(weights, pooling)
    with atomic_path(Path(path)) as tmp, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which would
        # add onnxscript as a dependency; for a plain conv/relu/pool chain both give the same graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, 64, 64),),
            str(tmp),
            dynamo=False,
            input_names=[MODEL_INPUT],
            output_names=list(FEATURE_LAYERS),
            dynamic_axes={MODEL_INPUT: {2: "height", 3: "width"}},
            opset_version=OPSET,
            external_data=False,
        )
        model = onnx.load(str(tmp))
        _fold_identities(model)
        check = _compare_with_eager(model.SerializeToString(), module)
        if check["max_rel_diff"] > CHECK_TOLERANCE:
            raise RuntimeError(f"exported graph disagrees with eager PyTorch: {check}")
        _write_metadata(model, weights, pooling, check)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    return ExportReport(
        Path(path),
        weights.source,
        weights.sha256,
        pooling,
        check["max_abs_diff"],
        check["max_rel_diff"],
    )


EXPORT_LOCK = ".export.lock"


def cached_model(weights_spec: str, pooling: str, download: bool = True) -> tuple[Path, bool]:
    """The cached export for these weights, exporting it first if absent or damaged.

    Returns (path, exported_now). One lock file for the whole folder makes concurrent
    processes export once (exports are rare, so they may as well queue), and leaves no lock
    behind per weights file, failed ones included; a `.sha256` sidecar written after the
    model detects a damaged file.
    """
    if weights_spec not in ("imagenet", "random") and not Path(weights_spec).is_file():
        raise OrtStyleError(
            f"weights {weights_spec!r}: no such file; use imagenet, random or a .pth path"
        )
    path = models_dir() / cache_name(weights_spec, pooling)
    with FileLock(str(models_dir() / EXPORT_LOCK)):
        if cache_is_intact(path):
            return path, False
        weights = load_weights(weights_spec, download=download)
        export_model(weights, pooling, path)
        sidecar = Path(str(path) + ".sha256")
        with atomic_path(sidecar) as tmp:
            tmp.write_text(sha256_of(path) + "\n")
        return path, True
