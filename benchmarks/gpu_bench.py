"""Eager PyTorch against ONNX Runtime variants on one device, per evaluation (issue 5).

Each variant is `provider-precision` (cuda-fp32, tensorrt-fp32, tensorrt-fp16, cpu-fp32
...); the eager side runs `ReferenceObjective` on --device. After a warm-up, the sides
alternate single evaluations; medians in ms, eager/variant ratios, and each variant's
gradient against eager's as a relative L2 error. Writes JSON and a markdown table.

    python benchmarks/gpu_bench.py --device cuda --sizes 512,1024 \\
        --variants cuda-fp32,tensorrt-fp32,tensorrt-fp16 --json out.json --markdown out.md
"""

import argparse
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime

from ortstyle.engine.stylize import Stylizer
from ortstyle.images import load_image, resize
from ortstyle.models import resolve_model
from ortstyle.options import StyleOptions

ROOT = Path(__file__).resolve().parents[1]


def _square(pixels: np.ndarray, size: int) -> np.ndarray:
    side = min(pixels.shape[:2])
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    return resize(pixels[top : top + side, left : left + side], (size, size))


def _timed(evaluate, image, targets) -> tuple:
    start = time.perf_counter()
    parts, grad = evaluate(image, targets)  # both sides return host arrays: synchronised
    return (time.perf_counter() - start) * 1e3, parts.total, grad


def measure(size: int, args, model, weights) -> dict:
    """One size: every side warmed up, then `repeats` rounds of one evaluation each."""
    from ortstyle.export.reference import ReferenceObjective

    content = _square(load_image(args.content), size)
    style = load_image(args.style)
    options = StyleOptions(size=size, scales=1)
    sides = {"eager": ReferenceObjective(weights, options, device=args.device)}
    for variant in args.variants:
        provider, precision = variant.split("-")
        sides[variant] = Stylizer(model, StyleOptions(size=size, scales=1, provider=provider,
                                                     precision=precision))  # fmt: skip
    targets = {name: side.targets(content, [style], (size, size)) for name, side in sides.items()}
    rng = np.random.default_rng(0)
    image = np.ascontiguousarray(
        (0.8 * content + 0.2 * rng.random(content.shape, dtype=np.float32)).transpose(2, 0, 1)[None]
    )
    times = {name: [] for name in sides}
    results = {}
    for round_index in range(args.warmup + args.repeats):
        for name, side in sides.items():
            ms, loss, grad = _timed(side.evaluate, image, targets[name])
            if round_index >= args.warmup:
                times[name].append(ms)
            results[name] = (loss, grad)
    eager_loss, eager_grad = results["eager"]
    row = {"size": size, "eager_ms": statistics.median(times["eager"]), "variants": {}}
    for name in args.variants:
        loss, grad = results[name]
        median = statistics.median(times[name])
        row["variants"][name] = {
            "ms": median, "min_ms": min(times[name]), "max_ms": max(times[name]),
            "ratio": row["eager_ms"] / median,
            "grad_rel_l2": float(np.linalg.norm(grad - eager_grad) / np.linalg.norm(eager_grad)),
            "loss_rel_diff": abs(loss - eager_loss) / abs(eager_loss),
            "provider": sides[name].network.provider,
        }  # fmt: skip
    return row


def markdown(report: dict) -> str:
    lines = ["| px | side | ms | eager/side | grad rel L2 | provider |", "| --- " * 6 + "|"]
    for row in report["results"]:
        eager = f"eager ({report['device']})"
        lines.append(f"| {row['size']} | {eager} | {row['eager_ms']:.1f} | 1.00 | - | torch |")
        for name, v in row["variants"].items():
            lines.append(f"| {row['size']} | {name} | {v['ms']:.1f} | {v['ratio']:.2f} | "
                         f"{v['grad_rel_l2']:.1e} | {v['provider']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--variants", default="cuda-fp32,tensorrt-fp32,tensorrt-fp16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--content", default=str(ROOT / "examples/tubingen.jpg"))
    parser.add_argument("--style", default=str(ROOT / "examples/starry_night.jpg"))
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]

    from ortstyle.export.vgg import load_weights

    model = resolve_model("random", "avg").model
    weights = load_weights("random")
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": args.device, "onnxruntime": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
        "results": [measure(int(s), args, model, weights) for s in args.sizes.split(",")],
    }  # fmt: skip
    text = markdown(report)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
