"""Profile the engine's ONNX Runtime sessions over a few evaluations: time per operator.

    .venv/bin/python benchmarks/profile_ort.py --size 512 --evaluations 3 --threads 2

ONNX Runtime's profiler is switched on for every session the engine builds by wrapping
`onnxruntime.InferenceSession`, so the engine runs exactly as shipped. After a warm-up,
the node events of the timed evaluations are summed by operator type (and by node).
"""

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime

from ortstyle.bench.machine import source_state, timed, wait_until_quiet
from ortstyle.bench.worker import _square, evaluation_image
from ortstyle.engine.stylize import Stylizer
from ortstyle.images import load_image
from ortstyle.models import resolve_model
from ortstyle.options import StyleOptions

CLEAN_SHARE = 0.1  # evaluations where other processes took less of the CPU are profiled
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def profiled_sessions(folder: Path) -> list:
    """Make every later InferenceSession write a profile into `folder`; return them as built."""
    sessions = []
    original = onnxruntime.InferenceSession

    class ProfiledSession(original):
        def __init__(self, model, sess_options=None, *args, **kwargs):
            options = sess_options or onnxruntime.SessionOptions()
            options.enable_profiling = True
            options.profile_file_prefix = str(folder / f"session{len(sessions)}")
            super().__init__(model, options, *args, **kwargs)
            self.runs = 0
            sessions.append(self)

        def run(self, *args, **kwargs):
            self.runs += 1
            return super().run(*args, **kwargs)

        def run_with_iobinding(self, *args, **kwargs):
            self.runs += 1
            return super().run_with_iobinding(*args, **kwargs)

    onnxruntime.InferenceSession = ProfiledSession
    return sessions


def node_times(trace: list, runs: list) -> dict:
    """{(op type, node name): microseconds} summed over the given model runs of one trace."""
    windows = [e for e in trace if e.get("cat") == "Session" and e["name"] == "model_run"]
    windows = [(windows[k]["ts"], windows[k]["ts"] + windows[k]["dur"]) for k in runs]
    times = defaultdict(float)
    for event in trace:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        if any(start <= event["ts"] <= end for start, end in windows):
            key = (event["args"]["op_name"], event["name"].removesuffix("_kernel_time"))
            times[key] += event["dur"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="square side in px")
    parser.add_argument("--evaluations", type=int, default=3, help="profiled, after 1 warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the per-operator summary here")
    parser.add_argument("--quiet", type=float, default=0.1, help="as `ortstyle bench --quiet`")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ortstyle-profile-"))
    sessions = profiled_sessions(folder)
    stylizer = Stylizer(
        resolve_model("random", "avg").model, StyleOptions(threads=args.threads, provider="cpu")
    )
    content = _square(load_image(EXAMPLES / "tubingen.jpg"))
    shape_hw = (args.size, args.size)
    targets = stylizer.targets(content, [load_image(EXAMPLES / "starry_night.jpg")], shape_hw)
    image = evaluation_image(content, shape_hw)
    stylizer.evaluate(image, targets)  # warm-up
    first = {id(session): session.runs for session in sessions}
    walls, others = [], []
    for _ in range(args.evaluations):
        if args.quiet:
            wait_until_quiet(args.quiet)
        _, ms, share = timed(lambda: stylizer.evaluate(image, targets))
        walls.append(ms / 1e3)
        others.append(share)

    # Only the evaluations other processes left alone count, if there are any; each session
    # the engine runs per evaluation runs once in it.
    kept = [k for k, share in enumerate(others) if share < CLEAN_SHARE] or list(range(len(others)))
    by_op, by_node = defaultdict(float), defaultdict(float)
    for session in sessions:
        trace = json.loads(Path(session.end_profiling()).read_text())
        if session.runs - first[id(session)] != args.evaluations:
            continue  # a session that does not run per evaluation (the targets' forward)
        runs = [first[id(session)] + k for k in kept]
        for (op, node), us in node_times(trace, runs).items():
            by_op[op] += us / 1e3 / len(kept)
            by_node[f"{op} {node}"] += us / 1e3 / len(kept)
    wall_ms = 1e3 * float(np.median([walls[k] for k in kept]))
    node_ms = sum(by_op.values())
    print(
        f"{args.size} px, {args.threads} threads, {len(sessions)} sessions: "
        f"{wall_ms:.0f} ms per evaluation (median), {node_ms:.0f} ms in kernels; "
        f"{len(kept)} of {len(others)} evaluations with other processes under "
        f"{CLEAN_SHARE:.0%} of the CPU"
    )
    for op, ms in sorted(by_op.items(), key=lambda item: -item[1]):
        print(f"  {op:24s} {ms:8.1f} ms  {ms / wall_ms:6.1%}")
    print("slowest nodes:")
    for node, ms in sorted(by_node.items(), key=lambda item: -item[1])[:12]:
        print(f"  {node:60s} {ms:8.1f} ms")
    if args.json:
        summary = {
            "size": args.size,
            "threads": args.threads,
            "wall_ms": wall_ms,
            "others_cpu": others,
            "evaluations_kept": kept,
            "source": source_state(),
            "kernel_ms": node_ms,
            "by_op_ms": by_op,
            "slowest_nodes_ms": dict(sorted(by_node.items(), key=lambda i: -i[1])[:20]),
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
