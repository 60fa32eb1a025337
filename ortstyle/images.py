"""Reading any image Pillow opens as sRGB float pixels, and writing results whole.

Arrays here are (H, W, 3) float32 RGB in [0, 1], as a viewer shows the file: EXIF
orientation applied, transparency composited onto white, colour profiles converted
to sRGB, 16-bit and float data scaled rather than clipped.
"""

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from ortstyle.errors import OrtStyleError
from ortstyle.files import atomic_path

BACKGROUND = (1.0, 1.0, 1.0)  # what transparent pixels are composited onto (white)
SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
JPEG_QUALITY = 95
# Image.open refuses more pixels than this as a possible decompression bomb; a photo of
# 24k x 16k is still welcome, a 1 GB bitmap is not.
Image.MAX_IMAGE_PIXELS = 400_000_000

_SRGB = ImageCms.createProfile("sRGB")
SRGB_ICC = ImageCms.ImageCmsProfile(_SRGB).tobytes()


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise OrtStyleError(f"image {path} does not exist")
    if not path.is_file():
        raise OrtStyleError(f"image {path} is not a file")
    try:
        image = Image.open(path)
        image.load()
    except UnidentifiedImageError:
        raise OrtStyleError(f"image {path} is not an image format Pillow can read")
    except Image.DecompressionBombError as error:
        raise OrtStyleError(f"image {path} is too large to open safely ({error})")
    except (OSError, SyntaxError, ValueError) as error:
        raise OrtStyleError(f"image {path} is damaged or truncated ({error})")
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert through the embedded ICC profile, when there is one, to sRGB."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if "A" in image.mode else "RGB"
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: the pixels are still usable as they are


def _high_depth_to_float(image: Image.Image) -> np.ndarray:
    """Grey 16-bit, 32-bit int and float images as (H, W) in [0, 1], scaled by their range."""
    values = np.asarray(image).astype(np.float64)
    if image.mode == "F":
        top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    elif values.max(initial=0.0) <= 255 and image.mode not in ("I;16", "I;16B", "I;16L"):
        top = 255.0
    elif values.max(initial=0.0) <= 65535:
        top = 65535.0
    else:
        top = float(2**31 - 1)
    return np.clip(values / top, 0.0, 1.0).astype(np.float32)


def load_image(path) -> np.ndarray:
    """Read an image file as (H, W, 3) float32 sRGB in [0, 1], as a viewer shows it."""
    path = Path(path)
    image = _open(path)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _high_depth_to_float(image)
        return np.repeat(grey[:, :, None], 3, axis=2)
    image = _to_srgb(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    if has_alpha:
        alpha = pixels[:, :, 3:4]
        pixels = pixels[:, :, :3] * alpha + np.asarray(BACKGROUND, np.float32) * (1.0 - alpha)
    return np.ascontiguousarray(pixels)


def fit_long_side(shape_hw: tuple, long_side: int) -> tuple[int, int]:
    """(height, width) with the longer side `long_side` and the aspect ratio kept."""
    height, width = shape_hw
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(pixels: np.ndarray, shape_hw: tuple) -> np.ndarray:
    """Resample (H, W, 3) float pixels to `shape_hw` with Lanczos, keeping float precision."""
    height, width = shape_hw
    if pixels.shape[:2] == (height, width):
        return pixels
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels[:, :, c])).resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(np.float32)


def check_output_format(path) -> str:
    """The Pillow format for an output path's extension, or OrtStyleError listing the allowed."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise OrtStyleError(
            f"output {path}: unknown extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    return SAVE_FORMATS[suffix]


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> uint8, rounded."""
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_image(pixels: np.ndarray, path, metadata: dict | None = None) -> Path:
    """Write (H, W, 3) float pixels, tagged sRGB, with `metadata` as JSON; whole or not at all."""
    path = Path(path)
    fmt = check_output_format(path)
    image = Image.fromarray(to_uint8(pixels), "RGB")
    text = json.dumps(metadata or {}, sort_keys=True, default=str)
    options: dict = {"icc_profile": SRGB_ICC}
    if fmt == "PNG":
        info = PngInfo()
        info.add_itxt("ortstyle", text)
        options["pnginfo"] = info
    elif fmt in ("JPEG", "WEBP"):
        exif = Image.Exif()
        exif[0x010E] = text  # ImageDescription
        options.update(exif=exif.tobytes(), quality=JPEG_QUALITY)
    elif fmt == "TIFF":
        options["description"] = text
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **options)
    return path


def read_metadata(path) -> dict:
    """The settings an ortstyle output records (empty if none)."""
    image = _open(Path(path))
    text = image.info.get("ortstyle") or image.info.get("description")
    if text is None:
        text = image.getexif().get(0x010E)
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
