"""A picture of a whole run: a contact sheet of the saved steps above the loss curve."""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ortstyle.errors import OrtStyleError
from ortstyle.files import atomic_path
from ortstyle.images import check_output_format, to_uint8

THUMB_PX = 160  # long side of each step on the contact sheet
COLUMNS = 5
CURVE_HEIGHT_PX = 260


def thumbnail(pixels: np.ndarray) -> Image.Image:
    """(H, W, 3) float pixels as an RGB image whose long side is THUMB_PX."""
    image = Image.fromarray(to_uint8(pixels), "RGB")
    image.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    return image


def contact_sheet(frames: list) -> Image.Image:
    """A grid of (evaluation, thumbnail) pairs, each labelled with its evaluation number."""
    rows = -(-len(frames) // COLUMNS)
    cell_w = max(t.width for _, t in frames)
    cell_h = max(t.height for _, t in frames) + 14
    sheet = Image.new("RGB", (cell_w * min(COLUMNS, len(frames)), cell_h * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (evaluation, thumb) in enumerate(frames):
        x, y = (index % COLUMNS) * cell_w, (index // COLUMNS) * cell_h
        sheet.paste(thumb, (x, y))
        draw.text((x + 2, y + thumb.height + 1), f"{evaluation}", fill="black")
    return sheet


def loss_curve(history: list, width_px: int) -> Image.Image:
    """The total loss per evaluation on a log scale, drawn by matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        raise OrtStyleError("--progress needs matplotlib: pip install 'ortstyle[plot]'") from error
    dpi = 100
    figure, axes = pyplot.subplots(figsize=(max(width_px, 400) / dpi, CURVE_HEIGHT_PX / dpi),
                                   dpi=dpi)  # fmt: skip
    axes.semilogy(np.arange(1, len(history) + 1), history)
    axes.set_xlabel("evaluation")
    axes.set_ylabel("loss")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def write_progress(path: Path, frames: list, history: list) -> Path:
    """Write the contact sheet of `frames` over the loss curve of `history`, whole or not at all."""
    sheet = contact_sheet(frames)
    curve = loss_curve(history, sheet.width)
    canvas = Image.new("RGB", (max(sheet.width, curve.width), sheet.height + curve.height), "white")
    canvas.paste(sheet, (0, 0))
    canvas.paste(curve, (0, sheet.height))
    fmt = check_output_format(path)
    with atomic_path(Path(path)) as tmp:
        canvas.save(tmp, format=fmt)
    return Path(path)
