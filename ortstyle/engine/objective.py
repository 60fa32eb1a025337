"""One evaluation of the style-transfer objective: loss parts and d loss / d image.

Two backends compute the same thing:
- numpy: ONNX Runtime forward, the numpy loss layer, ONNX Runtime backward. The
  reference, and the easiest to read.
- onnx: one session runs forward, loss and backward (loss_graph.py). No features cross
  to Python; targets are bound once through I/O binding and stay on the device.
"""

import numpy as np
import onnx
import onnxruntime

from ortstyle.engine.backward import INPUT_GRAD
from ortstyle.engine.loss_graph import LOSS_OUTPUTS, build_loss_graph, target_feeds
from ortstyle.engine.losses import LossParts, LossWeights, Targets, evaluate_losses
from ortstyle.engine.model import MODEL_INPUT
from ortstyle.engine.network import FeatureNetwork, make_session
from ortstyle.engine.providers import ProviderPlan

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


class OnnxObjective:
    """Loss and gradient from one session run; the targets bound once on the device."""

    def __init__(
        self,
        model: onnx.ModelProto,
        weights: LossWeights,
        plan: ProviderPlan,
        threads: int | None = None,
    ):
        self.weights = weights
        graph = build_loss_graph(model, weights)
        self.session = make_session(graph.model, plan, threads)
        active = self.session.get_providers()[0]
        self.device = "cpu" if active == "CPUExecutionProvider" else "cuda"
        self.binding = self.session.io_binding()
        self._targets: dict = {}  # OrtValues kept alive while bound

    def set_targets(self, targets: Targets) -> None:
        """Copy the targets to the session's device once and bind them."""
        self._targets = {
            name: onnxruntime.OrtValue.ortvalue_from_numpy(
                np.ascontiguousarray(value), self.device, 0
            )
            for name, value in target_feeds(targets, self.weights).items()
        }
        for name, value in self._targets.items():
            self.binding.bind_ortvalue_input(name, value)

    def evaluate(self, image: np.ndarray) -> tuple[LossParts, np.ndarray]:
        """(LossParts, d loss / d image (1, 3, H, W) float32) at `image`."""
        assert self._targets, "set_targets first"
        self.binding.bind_cpu_input(MODEL_INPUT, np.ascontiguousarray(image, np.float32))
        for name in (*LOSS_OUTPUTS, INPUT_GRAD):
            # The optimiser runs on the host: the gradient and four scalars are all that cross.
            self.binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(self.binding)
        _, content, style, tv, grad = self.binding.copy_outputs_to_cpu()
        return LossParts(content.item(), style.item(), tv.item()), grad
