"""Node placement read from the profiler: where each node of the loss graph really ran."""

import numpy as np

from ortstyle.engine.placement import describe_fallbacks
from ortstyle.engine.stylize import Stylizer
from ortstyle.options import StyleOptions

SHAPE_HW = (24, 33)


def test_on_the_cpu_every_node_of_the_loss_graph_runs_on_the_cpu(random_model, rng):
    stylizer = Stylizer(random_model, StyleOptions(size=max(SHAPE_HW)))
    content = rng.random((*SHAPE_HW, 3), dtype=np.float32)
    stylizer.objective.set_targets(stylizer.targets(content, [content], SHAPE_HW))
    image = rng.random((1, 3, *SHAPE_HW), dtype=np.float32)
    placement = stylizer.objective.placement(image)
    assert set(placement) == {"CPUExecutionProvider"}
    ops = placement["CPUExecutionProvider"]
    assert ops["Conv"] == 26  # 13 forward, 13 in the backward pass
    described = describe_fallbacks(placement, "CPUExecutionProvider")
    assert described == "every node on CPUExecutionProvider"


def test_fallbacks_are_listed_by_provider_and_op():
    placement = {
        "TensorrtExecutionProvider": {"TRTKernel": 2},
        "CUDAExecutionProvider": {"Resize": 4},
        "CPUExecutionProvider": {"Size": 7, "Cast": 1},
    }
    assert describe_fallbacks(placement, "TensorrtExecutionProvider") == (
        "off TensorrtExecutionProvider: CPUExecutionProvider: Cast x1, Size x7; "
        "CUDAExecutionProvider: Resize x4"
    )
