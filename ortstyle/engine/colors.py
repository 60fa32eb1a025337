"""Colour-space helpers: luminance-only transfer ("original colours")."""

import numpy as np

# Full-range BT.601 RGB -> YCbCr (JPEG's), for pixels in [0, 1].
_RGB_TO_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC).astype(np.float32)


def rgb_to_ycc(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] -> Y in [0, 1], Cb and Cr in [-0.5, 0.5]."""
    return pixels @ _RGB_TO_YCC.T


def ycc_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of rgb_to_ycc, clipped to [0, 1]."""
    return np.clip(ycc @ _YCC_TO_RGB.T, 0.0, 1.0).astype(np.float32)


def keep_content_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized image's luminance with the content's chroma (Gatys et al. 2016)."""
    ycc = rgb_to_ycc(stylized)
    ycc[:, :, 1:] = rgb_to_ycc(content)[:, :, 1:]
    return ycc_to_rgb(ycc)
