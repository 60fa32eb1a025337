"""One markdown table from several `ortstyle bench --json` reports (one per engine variant).

    python benchmarks/gpu_table.py OUT/bench-*.json > OUT/gpu-bench.md

Targets from issue 5, at 512 px: TensorRT fp16 at least 2x eager PyTorch per evaluation,
CUDA fp32 at least 1.2x, fp32 gradients within a relative L2 of 1e-3 of eager's.
"""

import json
import sys
from pathlib import Path

TARGETS = {("tensorrt", "fp16"): 2.0, ("cuda", "fp32"): 1.2}  # eager/engine at 512 px
FP32_AGREEMENT = 1e-3
COLUMNS = "px|engine|engine ms|eager ms|eager/engine|target|grad rel L2|loss rel diff|placement"


def rows(report: dict) -> list:
    """The table's rows for one report: one per size."""
    settings = report["settings"]
    variant = (settings["provider"], settings["precision"])
    lines = []
    for r in report["results"]:
        target = TARGETS.get(variant) if r["size"] == 512 else None
        verdict = "" if target is None else f">= {target} " + ("met" if r["ratio"] >= target
                                                               else "MISSED")  # fmt: skip
        agreement = f"{r['grad_rel_l2']:.1e}"
        if variant[1] == "fp32" and r["grad_rel_l2"] > FP32_AGREEMENT:
            agreement += " (over 1e-3)"
        cells = [
            str(r["size"]), f"{r['ort_setup']['provider']} {variant[1]}",
            f"{r['ort_ms']:.1f} ({r['ort_ms_min']:.1f}-{r['ort_ms_max']:.1f})",
            f"{r['eager_ms']:.1f} ({r['eager_ms_min']:.1f}-{r['eager_ms_max']:.1f})",
            f"{r['ratio']:.2f}", verdict, agreement, f"{r['loss_rel_diff']:.1e}",
            r["ort_setup"].get("placement") or "-",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(paths: list) -> str:
    reports = [json.loads(Path(path).read_text()) for path in paths]
    header = ["| " + " | ".join(COLUMNS.split("|")) + " |", "|" + " --- |" * 8 + " --- |"]
    body = [line for report in reports for line in rows(report)]
    gpu = next((r["results"][0]["eager_setup"].get("gpu") for r in reports), None) or "-"
    note = f"\nms: median (min-max) per evaluation; eager PyTorch on {gpu}, float32.\n"
    return "\n".join(header + body) + "\n" + note


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python benchmarks/gpu_table.py REPORT.json [REPORT.json ...]")
    print(main(sys.argv[1:]), end="")
