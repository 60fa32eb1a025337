"""Coarse-to-fine against single-scale: wall time to reach the same final loss at one size.

The single-scale run takes --iterations evaluations at --size and sets the goal: its
final loss. Each multi-scale run gives every coarse pass the same --iterations, then
runs the last pass at --size until it reaches that loss (`target_loss`) or spends the
same budget. Runs alternate between the two kinds,
--repeats times; the result is written as JSON.

    python benchmarks/multiscale.py --size 512 --iterations 100 --scales 2 --repeats 2
"""

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import onnxruntime

from ortstyle.engine.stylize import Stylizer
from ortstyle.images import load_image
from ortstyle.models import resolve_model
from ortstyle.options import StyleOptions

ROOT = Path(__file__).resolve().parents[1]


def timed_run(model, options: StyleOptions, content, style) -> dict:
    """One whole stylization: wall seconds, evaluations per pass, final loss."""
    stylizer = Stylizer(model, options)
    passes: dict = {}

    def count(it) -> None:
        passes[it.scale] = passes.get(it.scale, 0) + 1

    start = time.perf_counter()
    result = stylizer.stylize(content, [style], callback=count)
    return {
        "wall_s": time.perf_counter() - start,
        "evaluations_per_pass": [passes[k] for k in sorted(passes)],
        "final_loss": result.final_loss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--scales", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--content", default=str(ROOT / "examples/tubingen.jpg"))
    parser.add_argument("--style", default=str(ROOT / "examples/starry_night.jpg"))
    parser.add_argument("--json", default=None, help="where to write the results")
    args = parser.parse_args()

    model = resolve_model("auto", "avg").model
    content, style = load_image(args.content), load_image(args.style)
    single = StyleOptions(size=args.size, iterations=args.iterations, provider="cpu", scales=1)
    runs: dict = {"single": [], "multi": []}
    for _ in range(args.repeats):
        runs["single"].append(timed_run(model, single, content, style))
        goal = runs["single"][-1]["final_loss"]
        multi = StyleOptions(size=args.size, iterations=args.iterations, provider="cpu",
                             scales=args.scales, target_loss=goal)  # fmt: skip
        runs["multi"].append(timed_run(model, multi, content, style))
        runs["multi"][-1]["goal_loss"] = goal

    median = {kind: statistics.median(r["wall_s"] for r in rs) for kind, rs in runs.items()}
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/multiscale.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None
        ),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                    "onnxruntime": onnxruntime.__version__, "model": model.describe()},
        "runs": runs,
        "median_wall_s": median,
        "multi_over_single": median["multi"] / median["single"],
    }  # fmt: skip
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
