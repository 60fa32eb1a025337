"""ONNX Runtime sessions that give VGG features and the input gradient of a feature loss."""

import numpy as np
import onnx
import onnxruntime

from ortstyle.engine.backward import (
    GRAD_PREFIX,
    INPUT_GRAD,
    build_gradient_graphs,
    forward_graph,
)
from ortstyle.engine.model import MODEL_INPUT
from ortstyle.engine.providers import (
    ProviderPlan,
    check_session_provider,
    plan_providers,
    provider_options,
)


def session_options(threads: int | None = None, keep_memory: bool = True):
    """Fully optimised sessions; `threads` None lets ONNX Runtime use every physical core.

    `keep_memory` False returns every buffer after each run (no arena): for sessions that
    run a few times, such as the targets' forward pass, whose cached buffers would
    otherwise sit beside the hot session's.
    """
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.enable_cpu_mem_arena = keep_memory
    # The arena reuses freed blocks without page faults (turning it off made a 512 px
    # evaluation 1.6x slower); the memory pattern, one planned block per input shape, only
    # added about 300 MB of peak at 512 px with no gain in speed, so it stays off.
    options.enable_mem_pattern = False
    if not keep_memory:  # nor a second, re-laid-out copy of the weights for speed
        options.add_session_config_entry("session.disable_prepacking", "1")
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return options


def make_session(model, plan: ProviderPlan, threads: int | None = None, keep_memory=True,
                 **provider_flags):  # fmt: skip
    """An InferenceSession for an in-memory ModelProto on the planned providers."""
    return onnxruntime.InferenceSession(
        model.SerializeToString(),
        session_options(threads, keep_memory),
        providers=provider_options(plan, **provider_flags),
    )


class FeatureNetwork:
    """Forward features and backward input-gradient of an exported VGG19 through ONNX Runtime.

    `forward(image)` returns a dict of (1, C, H, W) float32 arrays: the loss layers and the
    activations the backward reuses. `backward(forward_outputs, feature_grads)` returns
    d(loss)/d(image) as (1, 3, H, W) float32, given d(loss)/d(feature) per loss layer.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        loss_layers,
        provider: str = "auto",
        threads: int | None = None,
        with_backward: bool = True,
    ):
        self.plan: ProviderPlan = plan_providers(provider)
        self.loss_layers = tuple(loss_layers)
        if with_backward:
            graphs = build_gradient_graphs(model, loss_layers)
            self.saved = graphs.saved
            self._forward = make_session(graphs.forward, self.plan, threads)
            self._backward = make_session(graphs.backward, self.plan, threads)
        else:
            # The onnx loss backend has its own session; this forward only computes targets,
            # a few times a run, so it keeps no buffers between runs.
            forward = forward_graph(model, self.loss_layers)
            self.saved, self._backward = (), None
            self._forward = make_session(forward, self.plan, threads, keep_memory=False)
        self.provider = check_session_provider(self._forward, self.plan)
        self._forward_names = [output.name for output in self._forward.get_outputs()]

    def forward(self, image: np.ndarray) -> dict:
        """Features and saved activations of `image` (1, 3, H, W) float32 in [0, 1]."""
        outputs = self._forward.run(self._forward_names, {MODEL_INPUT: image})
        return dict(zip(self._forward_names, outputs))

    def backward(self, forward_outputs: dict, feature_grads: dict) -> np.ndarray:
        """d(loss)/d(image) from the feature gradients of every loss layer."""
        feed = {name: forward_outputs[name] for name in self.saved}
        for layer in self.loss_layers:
            feed[GRAD_PREFIX + layer] = feature_grads[layer]
        return self._backward.run([INPUT_GRAD], feed)[0]
