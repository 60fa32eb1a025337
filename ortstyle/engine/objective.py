"""One evaluation of the style-transfer objective: loss parts and d loss / d image.

Two backends compute the same thing:
- numpy: ONNX Runtime forward, the numpy loss layer, ONNX Runtime backward. The
  reference, and the easiest to read.
- onnx: one session runs forward, loss and backward (loss_graph.py). No features cross
  to Python; targets are bound once through I/O binding and stay on the device.
"""

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime

from ortstyle.engine.backward import INPUT_GRAD
from ortstyle.engine.loss_graph import LOSS_OUTPUTS, build_loss_graph, target_feeds
from ortstyle.engine.losses import LossParts, LossWeights, Targets, evaluate_losses
from ortstyle.engine.model import MODEL_INPUT
from ortstyle.engine.network import FeatureNetwork, make_session
from ortstyle.engine.placement import node_placement
from ortstyle.engine.providers import ProviderPlan
from ortstyle.engine.static_shapes import static_graph

LOSS_BACKENDS = ("auto", "numpy", "onnx")
# `auto` picks this on every provider: on the 2-core CPU it measured faster than numpy
# (benchmarks/README.md), and on a GPU it is the one that keeps features on the device.
DEFAULT_LOSS_BACKEND = "onnx"


class NumpyObjective:
    """Forward and backward in ONNX Runtime, the losses in numpy between them."""

    def __init__(self, network: FeatureNetwork, weights: LossWeights):
        self.network, self.weights = network, weights
        self.targets: Targets | None = None

    def set_targets(self, targets: Targets) -> None:
        self.targets = targets

    def evaluate(self, image: np.ndarray) -> tuple[LossParts, np.ndarray]:
        """(LossParts, d loss / d image (1, 3, H, W) float32) at `image`."""
        outputs = self.network.forward(image)
        parts, feature_grads, image_grad = evaluate_losses(
            outputs, image, self.targets, self.weights
        )
        grad = self.network.backward(outputs, feature_grads)
        if image_grad is not None:
            grad += image_grad
        return parts, grad


@dataclass
class _ShapeSession:
    """A session and its device buffers, bound once; every run reuses the same addresses."""

    session: onnxruntime.InferenceSession
    binding: onnxruntime.IOBinding
    inputs: dict  # name -> OrtValue on the device
    outputs: dict  # name -> OrtValue on the device
    targets_version: int = -1


class OnnxObjective:
    """Loss and gradient from one session run, with every buffer bound once on the device.

    On the CPU one session serves every image size. On a GPU each size gets its own
    session with the shapes fixed, so that TensorRT builds one engine per size and
    CUDA graphs can be captured: their replays need inputs and outputs at fixed device
    addresses, which `update_inplace` keeps.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        weights: LossWeights,
        plan: ProviderPlan,
        threads: int | None = None,
        cuda_graph: bool = False,
    ):
        self.weights, self.plan, self.threads = weights, plan, threads
        self.graph = build_loss_graph(model, weights).model
        self.fp16 = any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
        self.cuda_graph = cuda_graph
        self.device = "cpu" if plan.chain[0] == "CPUExecutionProvider" else "cuda"
        self.static_shapes = self.device != "cpu"  # a session per size, shapes folded
        self._sessions: dict = {}  # (H, W), or None for the one dynamic session -> _ShapeSession
        self._feeds: dict = {}
        self._version = 0

    def set_targets(self, targets: Targets) -> None:
        """New targets, copied into each session's device buffers on its next run."""
        self._feeds = target_feeds(targets, self.weights)
        self._version += 1

    def evaluate(self, image: np.ndarray) -> tuple[LossParts, np.ndarray]:
        """(LossParts, d loss / d image (1, 3, H, W) float32) at `image`."""
        assert self._feeds, "set_targets first"
        entry = self._session_for(image.shape)
        if entry.targets_version != self._version:
            for name, value in self._feeds.items():
                entry.inputs[name].update_inplace(np.ascontiguousarray(value))
            entry.targets_version = self._version
        entry.inputs[MODEL_INPUT].update_inplace(np.ascontiguousarray(image, np.float32))
        entry.session.run_with_iobinding(entry.binding)
        # The optimiser runs on the host: the gradient and three scalars are all that cross.
        outputs = {name: value.numpy() for name, value in entry.outputs.items()}
        parts = LossParts(*(outputs[n].item() for n in ("content_loss", "style_loss", "tv_loss")))
        return parts, outputs[INPUT_GRAD]

    def placement(self, image: np.ndarray) -> dict:
        """Where each node of the loss graph runs at `image`'s size ({provider: op counts}).

        Call after set_targets and before the first evaluation on the CPU, whose one
        session frees the graph.
        """
        assert self.graph is not None and self._feeds, "set_targets, then before evaluating"
        feeds = {**self._feeds, MODEL_INPUT: np.ascontiguousarray(image, np.float32)}
        graph = self._graph_for({name: value.shape for name, value in feeds.items()})
        return node_placement(graph, self.plan, feeds, fp16=self.fp16)

    def _graph_for(self, shapes: dict) -> onnx.ModelProto:
        """The loss graph for inputs of these shapes: folded to them on a GPU, else as is."""
        return static_graph(self.graph, shapes) if self.static_shapes else self.graph

    def _session_for(self, image_shape: tuple) -> _ShapeSession:
        key = tuple(image_shape[2:]) if self.static_shapes else None
        if key not in self._sessions:
            self._sessions[key] = self._new_session(image_shape)
            if key is None:
                self.graph = None  # the CPU session serves every size; free the weights
        entry = self._sessions[key]
        if key is None and entry.inputs[MODEL_INPUT].shape() != list(image_shape):
            entry = self._sessions[key] = self._new_session(image_shape, entry.session)
        return entry

    def _new_session(self, image_shape: tuple, session=None) -> _ShapeSession:
        shapes = {name: value.shape for name, value in self._feeds.items()}
        shapes[MODEL_INPUT] = tuple(image_shape)
        if session is None:
            session = make_session(self._graph_for(shapes), self.plan, self.threads, fp16=self.fp16,
                                   cuda_graph=self.cuda_graph)  # fmt: skip
        binding = session.io_binding()
        inputs = {name: self._buffer(shape) for name, shape in shapes.items()}
        outputs = {name: self._buffer(()) for name in LOSS_OUTPUTS}
        outputs[INPUT_GRAD] = self._buffer(tuple(image_shape))
        for name, value in inputs.items():
            binding.bind_ortvalue_input(name, value)
        for name, value in outputs.items():
            binding.bind_ortvalue_output(name, value)
        return _ShapeSession(session, binding, inputs, outputs)

    def _buffer(self, shape: tuple) -> onnxruntime.OrtValue:
        return onnxruntime.OrtValue.ortvalue_from_shape_and_type(
            list(shape), np.float32, self.device, 0
        )
