"""Estimating a run's memory before it starts, so an impossible size is refused up front."""

import math

import psutil

# Peak resident bytes per output pixel of one evaluation at 512 px and above, measured with
# `ortstyle bench` on the CPU provider (forward activations kept for the backward,
# ONNX Runtime's arena, the loss layer's copies and the optimiser's float64 vectors),
# rounded up by a fifth. BASE_BYTES covers the weights, the sessions and Python.
BYTES_PER_PIXEL = 6_000
BASE_BYTES = 600 * 2**20


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
