"""Which execution provider ran each node, read from ONNX Runtime's profiler after one run.

TensorRT takes the subgraphs it can build and leaves the rest to CUDA or the CPU; the
CUDA provider leaves to the CPU what it has no kernel for. Neither says so unless asked,
and a node that falls back costs a copy to the host and back on every evaluation.
"""

import collections
import json
import tempfile
from pathlib import Path

import onnx
import onnxruntime

from ortstyle.engine.network import session_options
from ortstyle.engine.providers import ProviderPlan, provider_options


def node_placement(model: onnx.ModelProto, plan: ProviderPlan, feeds: dict, **flags) -> dict:
    """{provider: Counter(op type: nodes run)} over one run of `model` on `plan`'s providers.

    A TensorRT engine counts as one node of op type "TRTKernel" (it may hold hundreds).
    """
    with tempfile.TemporaryDirectory(prefix="ortstyle-placement-") as folder:
        options = session_options()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=provider_options(plan, **flags)
        )
        session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    placement: dict = collections.defaultdict(collections.Counter)
    for event in events:
        args = event.get("args", {})
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = "TRTKernel" if "TRTKernel" in args.get("op_name", "") else args.get("op_name")
            placement[args.get("provider", "?")][op] += 1
    return dict(placement)


def describe_fallbacks(placement: dict, provider: str) -> str:
    """One line: 'every node on X', or the nodes that ran elsewhere, by provider and op."""
    others = {name: ops for name, ops in placement.items() if name != provider}
    if not others:
        return f"every node on {provider}"
    parts = []
    for name, ops in sorted(others.items()):
        listed = ", ".join(f"{op} x{count}" for op, count in sorted(ops.items()))
        parts.append(f"{name}: {listed}")
    return "off " + provider + ": " + "; ".join(parts)
