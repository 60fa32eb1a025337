"""Reading an exported model file and telling the user plainly when it is not one."""

import json
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime
from google.protobuf.message import DecodeError

from ortstyle.errors import OrtStyleError

FORMAT = "ortstyle-vgg19/1"  # bumped when the exported graph's contract changes
MODEL_INPUT = "image"  # (1, 3, H, W) float32 RGB in [0, 1]


@dataclass(frozen=True)
class ExportedModel:
    """An exported VGG19 feature graph and what its metadata says about it."""

    path: Path
    weights: str
    weights_sha256: str
    pooling: str
    layers: tuple[str, ...]

    @property
    def proto(self) -> onnx.ModelProto:
        """The graph, read from the file on each call: a run needs it only while it builds
        its sessions, and holding 80 MB of weights for the whole run would be waste."""
        return onnx.load(str(self.path))

    @property
    def is_random(self) -> bool:
        return self.weights == "random"

    def describe(self) -> str:
        """One line: weights, their hash prefix and pooling."""
        return f"VGG19 {self.weights} weights ({self.weights_sha256[:12]}), {self.pooling} pooling"


def _max_supported_opset() -> int:
    return onnx.defs.onnx_opset_version()


def read_model_file(path: Path) -> ExportedModel:
    """Load and validate an exported model, raising OrtStyleError with one line if unusable."""
    path = Path(path)
    if not path.exists():
        raise OrtStyleError(f"model {path} does not exist; make one with `ortstyle export -o FILE`")
    if not path.is_file():
        raise OrtStyleError(f"model {path} is not a file")
    try:
        proto = onnx.load(str(path))
    except (DecodeError, ValueError, OSError, RuntimeError) as error:
        raise OrtStyleError(
            f"model {path} is not a readable ONNX file ({type(error).__name__}); "
            "expected a model written by `ortstyle export`"
        )
    meta = {entry.key: entry.value for entry in proto.metadata_props}
    if meta.get("ortstyle.format") != FORMAT:
        found = meta.get("ortstyle.format", "no ortstyle metadata")
        raise OrtStyleError(
            f"model {path} is not an ortstyle export ({found}); expected format {FORMAT}"
        )
    _check_versions(path, proto)
    _check_contract(path, proto, meta)
    return ExportedModel(
        path=path,
        weights=meta.get("ortstyle.weights", "?"),
        weights_sha256=meta.get("ortstyle.weights_sha256", "?"),
        pooling=meta.get("ortstyle.pooling", "?"),
        layers=tuple(json.loads(meta["ortstyle.layers"])),
    )


def _check_contract(path: Path, proto: onnx.ModelProto, meta: dict) -> None:
    """Refuse a file whose metadata says ortstyle but whose graph does not keep the contract."""
    try:
        layers = json.loads(meta.get("ortstyle.layers", ""))
    except json.JSONDecodeError:
        layers = None
    inputs = [value.name for value in proto.graph.input]
    outputs = {value.name for value in proto.graph.output}
    if inputs[:1] != [MODEL_INPUT] or not isinstance(layers, list) or not set(layers) <= outputs:
        raise OrtStyleError(
            f"model {path} claims to be an ortstyle export but its graph does not match "
            f"(input {MODEL_INPUT!r}, one output per layer); re-export it"
        )


def _check_versions(path: Path, proto: onnx.ModelProto) -> None:
    """Refuse files newer than the installed onnx / ONNX Runtime can read, naming both."""
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if proto.ir_version > onnx.IR_VERSION or opset > _max_supported_opset():
        raise OrtStyleError(
            f"model {path} uses ONNX IR {proto.ir_version} / opset {opset}, newer than the "
            f"installed onnx {onnx.__version__} (IR {onnx.IR_VERSION}, opset "
            f"{_max_supported_opset()}) and onnxruntime {onnxruntime.__version__} read; "
            "upgrade them or re-export the model"
        )
