"""Reading any image Pillow opens as sRGB float pixels, and writing results whole.

Arrays here are (H, W, 3) float32 RGB in [0, 1], as a viewer shows the file: EXIF
orientation applied, transparency composited onto white, colour profiles converted
to sRGB, 16-bit and float data scaled rather than clipped. Outputs are tagged sRGB and
carry the run's settings; PNG and TIFF outputs can hold 16 bits per channel.
"""

import io
import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import psutil
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
BIT_DEPTHS = {"PNG": (8, 16), "JPEG": (8,), "WEBP": (8,), "TIFF": (8, 16)}  # bits per channel
JPEG_QUALITY = 95
# Image.open refuses more pixels than this as a possible decompression bomb; a photo of
# 24k x 16k is still welcome, a 1 GB bitmap is not.
Image.MAX_IMAGE_PIXELS = 400_000_000
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # one channel, over 8 bits
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IDAT_BYTES = 1 << 20  # PNG chunks must stay under 2**31 bytes; 1 MiB is customary
TIFF_MAX_BYTES = 2**32 - 1  # classic TIFF offsets are 32-bit

_SRGB = ImageCms.createProfile("sRGB")
# lcms stamps the profile with the time it was made (header bytes 24-35); a fixed date
# keeps outputs of the same run settings byte-identical across processes.
_ICC_DATE = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
_icc = ImageCms.ImageCmsProfile(_SRGB).tobytes()
SRGB_ICC = _icc[:24] + _ICC_DATE + _icc[36:]
_ICC_SPACES = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}  # Pillow mode -> ICC colour space


# Bytes a decoded pixel costs on the way to (H, W, 3) float32: Pillow's copy, the float
# array and the conversions' temporaries.
DECODE_BYTES_PER_PIXEL = 48


def _check_decoded_size(path: Path, size: tuple) -> None:
    """Refuse, before decoding, an image whose pixels would not fit in free memory."""
    need = size[0] * size[1] * DECODE_BYTES_PER_PIXEL
    have = psutil.virtual_memory().available
    if need > have:
        raise OrtStyleError(
            f"image {path} is {size[0]}x{size[1]} px: reading it needs about "
            f"{need / 2**30:.1f} GiB but {have / 2**30:.1f} GiB is free; scale it down first"
        )


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise OrtStyleError(f"image {path} does not exist")
    if not path.is_file():
        raise OrtStyleError(f"image {path} is not a file")
    try:
        # From bytes, not the path: Pillow 13 memory-maps uncompressed grey TIFFs opened
        # by name and then decodes orientations 5-8 with width and height swapped.
        image = Image.open(io.BytesIO(path.read_bytes()))
        _check_decoded_size(path, image.size)
        image.load()
    except PermissionError as error:
        raise OrtStyleError(f"image {path} cannot be read (permission denied)") from error
    except UnidentifiedImageError as error:
        raise OrtStyleError(f"image {path} is not an image format Pillow can read") from error
    except Image.DecompressionBombError as error:
        raise OrtStyleError(f"image {path} is too large to open safely ({error})") from error
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise OrtStyleError(f"image {path} is damaged or truncated ({error})") from error
    return image


def _full_scale(top: float, mode: str, source_format: str | None) -> float:
    """The value that means white in a high-depth grey image whose largest value is `top`."""
    if mode.startswith("I;16") or source_format == "PNG":
        return 65535.0  # PNG samples are at most 16 bits; older Pillow opens them as mode I
    if mode == "F" and top <= 1.0:
        return 1.0
    # TODO: 32-bit integer and float files do not say how many bits they use; guess from
    # the largest value, so a very dark 16-bit image stored as 32-bit comes out brighter.
    for full in (255.0, 65535.0):
        if top <= full:
            return full
    return top


def _high_depth_to_float(image: Image.Image, source_format: str | None) -> np.ndarray:
    """A grey 16-bit, 32-bit integer or float image as (H, W) float32 in [0, 1]."""
    values = np.asarray(image, dtype=np.float64)
    full = _full_scale(float(values.max(initial=0.0)), image.mode, source_format)
    return np.clip(values / full, 0.0, 1.0).astype(np.float32)


def _to_basic_mode(image: Image.Image, path: Path) -> Image.Image:
    """The image in one of L, LA, RGB, RGBA or CMYK, keeping any transparency."""
    if "transparency" in image.info and image.mode in ("1", "L", "P", "RGB"):
        return image.convert("RGBA")  # a colour key or palette alpha becomes an alpha channel
    if image.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    target = {"1": "L", "PA": "RGBA", "La": "LA", "RGBa": "RGBA"}.get(image.mode, "RGB")
    try:
        return image.convert(target)
    except ValueError as error:
        raise OrtStyleError(f"image {path}: colour mode {image.mode} is not supported") from error


def _to_srgb(image: Image.Image, icc: bytes | None, path: Path) -> Image.Image:
    """An L, RGB or CMYK image as sRGB RGB, through its ICC profile when it has one that fits."""
    if not icc or icc == SRGB_ICC:
        return image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() == _ICC_SPACES[image.mode]:
            return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        pass
    warnings.warn(f"image {path}: colour profile unreadable or unfit, taken as sRGB", stacklevel=3)
    return image.convert("RGB")


def load_image(path) -> np.ndarray:
    """Read an image file as (H, W, 3) float32 sRGB in [0, 1], as a viewer shows it."""
    pixels = _decode(Path(path))
    if not np.isfinite(pixels).all():  # float TIFFs can hold NaN; they would poison the run
        raise OrtStyleError(f"image {path} holds NaN or infinite pixel values")
    return pixels


def _decode(path: Path) -> np.ndarray:
    image = _open(path)
    # Pixels in mode LAB are absolute CIELAB whatever profile rides along.
    icc = None if image.mode == "LAB" else image.info.get("icc_profile")
    source_format = image.format
    image = ImageOps.exif_transpose(image)
    if image.mode in HIGH_DEPTH_MODES:
        # TODO: an ICC profile on 16-bit or float grey data is not applied yet; the
        # values are taken as sRGB grey.
        grey = _high_depth_to_float(image, source_format)
        return np.repeat(grey[:, :, None], 3, axis=2)

    # The profile describes the colour channels only, so alpha is set aside first.
    image = _to_basic_mode(image, path)
    alpha = image.getchannel("A") if image.mode in ("LA", "RGBA") else None
    if alpha is not None:
        image = image.convert(image.mode[:-1])
    pixels = np.asarray(_to_srgb(image, icc, path), dtype=np.float32) / 255.0
    if alpha is None:
        return pixels
    weight = np.asarray(alpha, dtype=np.float32)[:, :, None] / 255.0
    return pixels * weight + np.asarray(BACKGROUND, np.float32) * (1.0 - weight)


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


def check_output_format(path, bit_depth: int = 8) -> str:
    """The Pillow format for an output path, or OrtStyleError naming what is allowed."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise OrtStyleError(
            f"output {path}: unknown extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    fmt = SAVE_FORMATS[suffix]
    if bit_depth not in BIT_DEPTHS[fmt]:
        allowed = sorted(s for s, f in SAVE_FORMATS.items() if bit_depth in BIT_DEPTHS[f])
        raise OrtStyleError(
            f"output {path}: {suffix} holds {' or '.join(map(str, BIT_DEPTHS[fmt]))} bits "
            f"per channel, not {bit_depth}; "
            + (f"use one of {', '.join(allowed)}" if allowed else "use 8 or 16")
        )
    return fmt


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> uint8, rounded."""
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_uint16(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> uint16, rounded."""
    return (np.clip(pixels, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png16(samples: np.ndarray, text: str) -> bytes:
    """(H, W, 3) uint16 as a 16-bit RGB PNG, tagged sRGB; Pillow writes RGB in 8 bits only."""
    height, width, _ = samples.shape
    rows = samples.astype(">u2").view(np.uint8).reshape(height, width * 6)
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter 0
    data = zlib.compress(scanlines.tobytes())
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # colour type 2: RGB
    # iTXt: keyword, no compression, no language tag, no translated keyword, UTF-8 text.
    itxt = b"ortstyle\0" + b"\0\0" + b"\0\0" + text.encode()
    return b"".join(
        [PNG_SIGNATURE, _png_chunk(b"IHDR", header)]
        + [_png_chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(SRGB_ICC))]
        + [_png_chunk(b"iTXt", itxt)]
        + [
            _png_chunk(b"IDAT", data[i : i + PNG_IDAT_BYTES])
            for i in range(0, len(data), PNG_IDAT_BYTES)
        ]
        + [_png_chunk(b"IEND", b"")]
    )


def _tiff_short(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}H", *values)


def _tiff_long(value: int) -> bytes:
    return struct.pack("<I", value)


def _encode_tiff16(samples: np.ndarray, text: str) -> bytes:
    """(H, W, 3) uint16 as a 16-bit RGB TIFF (little-endian, one deflate strip), tagged sRGB."""
    height, width, _ = samples.shape
    strip = zlib.compress(samples.astype("<u2").tobytes())
    description = text.encode("ascii") + b"\0"  # json.dumps escapes anything non-ASCII
    tags = {  # tag: (TIFF type, count, value); type 2 ASCII, 3 SHORT, 4 LONG, 7 UNDEFINED
        256: (4, 1, _tiff_long(width)),
        257: (4, 1, _tiff_long(height)),
        258: (3, 3, _tiff_short(16, 16, 16)),  # bits per sample
        259: (3, 1, _tiff_short(8)),  # compression: Adobe deflate
        262: (3, 1, _tiff_short(2)),  # photometric: RGB
        270: (2, len(description), description),
        273: (4, 1, _tiff_long(8)),  # the strip follows the 8-byte header
        277: (3, 1, _tiff_short(3)),  # samples per pixel
        278: (4, 1, _tiff_long(height)),  # rows per strip
        279: (4, 1, _tiff_long(len(strip))),
        284: (3, 1, _tiff_short(1)),  # planar configuration: interleaved
        34675: (7, len(SRGB_ICC), SRGB_ICC),
    }
    # Values over 4 bytes live after the strip, at even offsets; the rest sit in the entry.
    body, entries = strip + bytes(len(strip) % 2), b""
    for tag, (kind, count, value) in sorted(tags.items()):
        if len(value) > 4:
            offset = 8 + len(body)
            body += value + bytes(len(value) % 2)
            value = _tiff_long(offset)
        entries += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
    if len(body) > TIFF_MAX_BYTES - 8:
        raise OrtStyleError("the image is too large for a TIFF file; save it as .png instead")
    return (
        b"II*\0"
        + _tiff_long(8 + len(body))
        + body
        + _tiff_short(len(tags))
        + entries
        + _tiff_long(0)
    )


def _save_options(fmt: str, text: str) -> dict:
    """Pillow save options for an 8-bit output: the sRGB tag and `text` as metadata."""
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
    return options


def save_image(pixels: np.ndarray, path, metadata: dict | None = None, bit_depth: int = 8) -> Path:
    """Write (H, W, 3) float pixels in [0, 1], tagged sRGB, `metadata` as JSON; whole or not at all.

    `bit_depth` 16 is for .png and .tif/.tiff only.
    """
    path = Path(path)
    fmt = check_output_format(path, bit_depth)
    assert pixels.ndim == 3 and pixels.shape[2] == 3, pixels.shape
    text = json.dumps(metadata or {}, sort_keys=True, default=str)
    with atomic_path(path) as tmp:
        if bit_depth == 16:
            encode = _encode_png16 if fmt == "PNG" else _encode_tiff16
            tmp.write_bytes(encode(to_uint16(pixels), text))
        else:
            image = Image.fromarray(to_uint8(pixels), "RGB")
            image.save(tmp, format=fmt, **_save_options(fmt, text))
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
