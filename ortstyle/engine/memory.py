"""Estimating a run's memory before it starts, so an impossible size is refused up front."""

import math

import psutil

# Peak resident bytes of a stylization process: a base plus so much per output pixel.
# `ortstyle bench` fitted 2034 B/px and 734 MB to one evaluation over 128 to 1024 px on
# the CPU provider (benchmarks/results/2026-12-04-cpu-growth-0f1c2ad.json: masks and
# activations kept for the backward, ONNX Runtime's arena, weights, Python); L-BFGS-B's
# float64 correction pairs and copies added 2.0 kB/px in a whole run at 1024 px
# (...-cpu-whole-run-1024-0f1c2ad.json). These are the sums plus about a fifth.
BYTES_PER_PIXEL = 4_900
BASE_BYTES = 700 * 2**20


def estimate_bytes(height: int, width: int) -> int:
    """Estimated peak resident memory of a stylization at (height, width)."""
    return BASE_BYTES + BYTES_PER_PIXEL * height * width


def available_bytes() -> int:
    """Memory the system can give this process now without swapping."""
    return psutil.virtual_memory().available


def largest_long_side(shape_hw: tuple, budget_bytes: int) -> int:
    """The largest long side whose estimate fits `budget_bytes`, for this aspect ratio."""
    height, width = shape_hw
    aspect = min(height, width) / max(height, width)
    pixels = max(budget_bytes - BASE_BYTES, 0) / BYTES_PER_PIXEL
    return int(math.sqrt(pixels / aspect))
