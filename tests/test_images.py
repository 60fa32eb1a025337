"""Loading any image as sRGB float pixels, resizing, and saving outputs whole with metadata."""

import io
import json
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from ortstyle import images
from ortstyle.errors import OrtStyleError
from ortstyle.images import (
    SAVE_FORMATS,
    SRGB_ICC,
    check_output_format,
    fit_long_side,
    load_image,
    read_metadata,
    resize,
    save_image,
    to_uint8,
    to_uint16,
)

LEVEL = 1 / 255  # one step of 8-bit data, as a float tolerance


def random_uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save_as(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def over_white(rgb_uint8, alpha_uint8):
    """Straight-alpha colours composited onto white, as floats in [0, 1]."""
    alpha = np.asarray(alpha_uint8, np.float32)[..., None] / 255
    return np.asarray(rgb_uint8, np.float32) / 255 * alpha + (1 - alpha)


def grey3(values):
    """(H, W) grey floats as (H, W, 3)."""
    return np.repeat(np.asarray(values, np.float32)[..., None], 3, axis=2)


def s15fixed16(*values):
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def icc_xyz(*values):
    return b"XYZ \0\0\0\0" + s15fixed16(*values)


def linear_srgb_icc() -> bytes:
    """A minimal ICC v2 RGB profile with sRGB's primaries and a linear (gamma 1.0) curve."""
    name = b"linear sRGB"
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100) + b"\0\0"  # gamma 1.0, u8.8
    tags = {
        b"desc": b"desc\0\0\0\0"
        + struct.pack(">I", len(name) + 1)
        + name
        + bytes(1 + 78),  # no Unicode or Mac name
        b"cprt": b"text\0\0\0\0none\0",
        b"wtpt": icc_xyz(0.9642, 1.0, 0.8249),
        # sRGB's primaries adapted to D50, from the sRGB profile's colorant tags
        b"rXYZ": icc_xyz(0.4361, 0.2225, 0.0139),
        b"gXYZ": icc_xyz(0.3851, 0.7169, 0.0971),
        b"bXYZ": icc_xyz(0.1431, 0.0606, 0.7141),
        b"rTRC": curve,
        b"gTRC": curve,
        b"bTRC": curve,
    }
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags.items():
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(
            ">I4sI4s4s4s", offset + len(body), b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ "
        )
        + bytes(12)  # date
        + b"acsp"
        + bytes(28)  # platform, flags, device, attributes, rendering intent
        + s15fixed16(0.9642, 1.0, 0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def srgb_encode(linear):
    linear = np.asarray(linear, np.float64)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) for every chunk of a PNG, checking each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def decode_png16_rgb(data: bytes) -> np.ndarray:
    """The (H, W, 3) uint16 samples of a 16-bit RGB PNG whose scanlines use filter 0."""
    chunks = png_chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (16, 2, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * 6)
    assert not rows[:, 0].any()
    return rows[:, 1:].copy().view(">u2").reshape(height, width, 3).astype(np.uint16)


# Input cases from CASES.md


def test_rgba_png_is_composited_onto_white_c1(tmp_path):
    rgba = np.zeros((400, 600, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    rgba[:, :300, 3] = 0  # left half fully transparent
    pixels = load_image(save_as(Image.fromarray(rgba, "RGBA"), tmp_path / "c1.png"))
    assert pixels.shape == (400, 600, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[:, :300], 1.0)
    np.testing.assert_allclose(pixels[:, 300:], over_white(rgba[:, 300:, :3], rgba[:, 300:, 3]))


def test_grey_jpeg_loads_as_three_equal_channels_c2(tmp_path):
    ramp = np.add.outer(np.arange(199), np.arange(153)).astype(np.uint8)
    path = save_as(Image.fromarray(ramp, "L"), tmp_path / "c2.jpg", quality=95)
    pixels = load_image(path)
    assert pixels.shape == (199, 153, 3)
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 0], pixels[..., 2])
    with Image.open(path) as decoded:
        np.testing.assert_allclose(pixels[..., 0], np.asarray(decoded) / 255, atol=1e-6)


def test_grey_texture_png_loads_exactly_c2(tmp_path):
    texture = random_uint8((32, 48))
    pixels = load_image(save_as(Image.fromarray(texture, "L"), tmp_path / "texture.png"))
    np.testing.assert_allclose(pixels, grey3(texture / 255), atol=1e-6)


def test_cmyk_jpeg_of_solid_red_loads_red_c3(tmp_path):
    path = save_as(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), tmp_path / "c3.jpg")
    pixels = load_image(path)
    assert pixels.shape == (64, 64, 3)
    np.testing.assert_allclose(pixels, np.broadcast_to([1, 0, 0], (64, 64, 3)), atol=2 * LEVEL)


def test_16bit_grey_png_ramp_survives_c4(tmp_path):
    ramp = np.repeat(np.linspace(0, 65535, 1024).round().astype(np.uint16)[None], 4, axis=0)
    path = save_as(Image.fromarray(ramp), tmp_path / "c4.png")
    with Image.open(path) as reopened:
        assert reopened.mode.startswith("I")  # the file really is 16-bit
    pixels = load_image(path)
    row = pixels[0, :, 0]
    assert np.all(np.diff(row) > 0)
    assert row[0] == 0 and row[-1] == 1
    assert np.mean(row > 0.99) < 0.02  # not clipped to white
    np.testing.assert_allclose(pixels, grey3(ramp / 65535), atol=1e-6)


def save_oriented(image: Image.Image, path: Path, orientation: int, **options) -> Path:
    """Save `image` tagged with an EXIF orientation (a TIFF takes it as its own tag 274)."""
    if (options.get("format") or path.suffix.lstrip(".").upper()) in ("TIF", "TIFF"):
        return save_as(image, path, tiffinfo={0x0112: orientation}, **options)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save_as(image, path, exif=exif, **options)


def marked_corner(height=24, width=40):
    """A white image with a black 8x8 block at its stored top-left corner."""
    stored = np.full((height, width, 3), 255, np.uint8)
    stored[:8, :8] = 0
    return stored


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_exif_rotate_90_loads_portrait_c5(tmp_path, suffix):
    # orientation 6: the stored top row is the visual right-hand side
    path = save_oriented(Image.fromarray(marked_corner()), tmp_path / f"c5{suffix}", 6)
    pixels = load_image(path)
    assert pixels.shape == (40, 24, 3)  # portrait, as a viewer shows it
    assert pixels[:8, -8:].max() < 0.1  # the mark moved to the top-right corner
    assert pixels[:8, :8].min() > 0.9 and pixels[-8:, -8:].min() > 0.9


ORIENTATIONS = {  # EXIF orientation -> what a viewer does to the stored (H, W, 3) array
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


# Uncompressed grey TIFFs are the case Pillow 13 decodes wrongly when opened by file name.
@pytest.mark.parametrize(
    "options",
    [{"format": "PNG"}, {"format": "TIFF"}, {"format": "TIFF", "compression": "tiff_deflate"}],
    ids=["png", "tiff", "tiff-deflate"],
)
@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_every_orientation_is_applied(tmp_path, orientation, channels, options):
    stored = random_uint8((4, 6, 3), seed=orientation)[..., :channels].squeeze()
    path = save_oriented(Image.fromarray(stored), tmp_path / "oriented", orientation, **options)
    expected = ORIENTATIONS[orientation](stored) / 255
    if channels == 1:
        expected = grey3(expected)
    np.testing.assert_allclose(load_image(path), expected, atol=1e-6)


@pytest.mark.parametrize(
    "suffix, bit_depth", [(".png", 8), (".tif", 8), (".png", 16), (".tif", 16)]
)
def test_load_then_save_round_trip_is_within_one_level_c10(tmp_path, suffix, bit_depth):
    channels = random_uint8((3, 8, 8), seed=10)
    channels[1] = 255 - channels[0]  # R, G and B all differ
    channels[2] = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    original = np.ascontiguousarray(channels.transpose(1, 2, 0))
    pixels = load_image(save_as(Image.fromarray(original), tmp_path / "in.png"))
    out = save_image(pixels, tmp_path / f"out{suffix}", bit_depth=bit_depth)
    assert np.abs(to_uint8(pixels).astype(int) - original).max() <= 1
    assert np.abs(load_image(out) - original / 255).max() <= LEVEL + 1e-6


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(random_uint8((64, 64, 3))).save(buffer, fmt)
    return buffer.getvalue()


BAD_FILES = {
    "text": lambda: b"this is not an image\n",
    "empty": lambda: b"",
    "truncated-png": lambda: truncated(image_bytes("PNG")),
    "truncated-jpeg": lambda: truncated(image_bytes("JPEG")),
    "truncated-tiff": lambda: truncated(image_bytes("TIFF")),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_unreadable_file_is_named_in_a_one_line_error_c15(tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    path.write_bytes(BAD_FILES[kind]())
    with pytest.raises(OrtStyleError, match=re.escape(str(path))) as caught:
        load_image(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_missing_path_or_folder_is_named_c15(tmp_path, kind):
    path = tmp_path / "style.jpg"
    if kind == "folder":
        path.mkdir()
    with pytest.raises(OrtStyleError, match=re.escape(str(path))):
        load_image(path)
    with pytest.raises(OrtStyleError, match=re.escape(str(path))):
        read_metadata(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_permissions_are_named(tmp_path):
    path = save_as(Image.new("RGB", (4, 4)), tmp_path / "locked.png")
    path.chmod(0)
    with pytest.raises(OrtStyleError, match="permission"):
        load_image(path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = save_as(Image.new("RGB", (40, 40)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(OrtStyleError, match="too large"):
        load_image(path)


# Every Pillow mode: (file name, image to save, save options, expected (H, W, 3) floats)


def associated_alpha_tiff(image: Image.Image) -> bytes:
    """A TIFF of `image` whose alpha is marked premultiplied (ExtraSamples = 1)."""
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    unassociated = struct.pack("<HHIHH", 338, 3, 1, 2, 0)
    assert buffer.getvalue().count(unassociated) == 1
    return buffer.getvalue().replace(unassociated, struct.pack("<HHIHH", 338, 3, 1, 1, 0))


def case_1():
    bits = random_uint8((6, 5)) > 127
    return "1.png", Image.fromarray(bits), {}, grey3(bits)


def case_l():
    grey = random_uint8((6, 5))
    return "l.tif", Image.fromarray(grey, "L"), {}, grey3(grey / 255)


def case_la():
    grey, alpha = random_uint8((6, 5)), random_uint8((6, 5), seed=1)
    image = Image.fromarray(np.stack([grey, alpha], axis=2), "LA")
    return "la.png", image, {}, over_white(grey3(grey), alpha)


def case_l_colour_key():
    grey = random_uint8((6, 5))
    expected = grey3(grey / 255)
    expected[grey == grey[0, 0]] = 1
    return "lkey.png", Image.fromarray(grey, "L"), {"transparency": int(grey[0, 0])}, expected


def palette_image():
    colours = random_uint8((4, 3), seed=2)
    indices = random_uint8((6, 5)) % 4
    image = Image.fromarray(indices, "P")
    image.putpalette(colours.ravel().tolist())
    return image, colours, indices


def case_p():
    image, colours, indices = palette_image()
    return "p.png", image, {}, colours[indices] / 255


def case_p_transparent_index():
    image, colours, indices = palette_image()
    expected = colours[indices] / 255
    expected[indices == 3] = 1
    return "ptrns.png", image, {"transparency": 3}, expected


def case_p_gif():
    image, colours, indices = palette_image()
    expected = colours[indices] / 255
    expected[indices == 1] = 1
    return "p.gif", image, {"transparency": 1}, expected


def case_pa():
    image, colours, indices = palette_image()
    alpha = random_uint8((6, 5), seed=3)
    image = image.convert("PA")
    image.putalpha(Image.fromarray(alpha, "L"))
    return "pa.tif", image, {}, over_white(colours[indices], alpha)


def case_rgb():
    rgb = random_uint8((6, 5, 3))
    return "rgb.png", Image.fromarray(rgb), {}, rgb / 255


def case_rgb_colour_key():
    rgb = random_uint8((6, 5, 3))
    rgb[1, 2] = rgb[0, 0]
    expected = rgb / 255
    expected[0, 0] = expected[1, 2] = 1
    key = tuple(int(v) for v in rgb[0, 0])
    return "rgbkey.png", Image.fromarray(rgb), {"transparency": key}, expected


def case_rgba():
    rgba = random_uint8((6, 5, 4))
    expected = over_white(rgba[..., :3], rgba[..., 3])
    return "rgba.tif", Image.fromarray(rgba, "RGBA"), {}, expected


def case_rgba_webp():
    rgba = random_uint8((6, 5, 4))
    rgba[..., 3] = np.where(rgba[..., 3] > 127, 255, 0)
    expected = over_white(rgba[..., :3], rgba[..., 3])
    return "rgba.webp", Image.fromarray(rgba, "RGBA"), {"lossless": True}, expected


def case_rgba_premultiplied():
    rgba = random_uint8((6, 5, 4))
    rgba[..., 3] = 255
    rgba[:3, :, 3] = 128
    rgba[:3, :, :3] //= 2  # premultiplied colours never exceed alpha
    expected = rgba[..., :3] / 255 + (1 - rgba[..., 3:] / 255)  # premultiplied over white
    return "rgba_assoc.tif", associated_alpha_tiff(Image.fromarray(rgba, "RGBA")), {}, expected


def case_la_premultiplied():
    grey = np.full((6, 5), 60, np.uint8)
    alpha = np.full((6, 5), 128, np.uint8)
    expected = grey3(np.full((6, 5), 60 / 255 + 127 / 255))
    image = Image.fromarray(np.stack([grey, alpha], axis=2), "LA")
    return "la_assoc.tif", associated_alpha_tiff(image), {}, expected


def case_cmyk():
    inks = np.array([[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 255, 0], [0, 0, 0, 255]], np.uint8)
    colours = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0]], np.float32)
    indices = random_uint8((6, 5)) % 4
    return "cmyk.tif", Image.fromarray(inks[indices], "CMYK"), {}, colours[indices]


def case_ycbcr():
    rgb = random_uint8((6, 5, 3))
    return "ycbcr.tif", Image.fromarray(rgb).convert("YCbCr"), {}, rgb / 255


def case_lab():
    rgb = random_uint8((6, 5, 3)) // 2 + 64  # mid colours: 8-bit Lab loses little there
    srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB")
    to_lab = ImageCms.buildTransform(srgb, lab, "RGB", "LAB")
    return "lab.tif", ImageCms.applyTransform(Image.fromarray(rgb), to_lab), {}, rgb / 255


def case_i16(name="i16.png", mode="I;16"):
    values = np.random.default_rng(0).integers(0, 65536, (6, 5)).astype(np.uint16)
    values[0, 0] = 100  # dark values stay dark: the full scale is 16 bits
    order = ">u2" if mode == "I;16B" else "<u2"
    image = Image.frombytes(mode, (5, 6), values.astype(order).tobytes())
    return name, image, {}, grey3(values / 65535)


def case_i16_dark():
    values = np.random.default_rng(0).integers(0, 256, (6, 5)).astype(np.uint16)
    return "i16dark.png", Image.fromarray(values), {}, grey3(values / 65535)


def case_i32():
    values = np.random.default_rng(0).integers(0, 65536, (6, 5)).astype(np.int32)
    values[0, 0] = 65535
    return "i32.tif", Image.fromarray(values, "I"), {}, grey3(values / 65535)


def case_i32_wide():
    values = np.random.default_rng(0).integers(-10, 4_000_000, (6, 5)).astype(np.int32)
    expected = grey3(np.clip(values / values.max(), 0, 1))
    return "i32wide.tif", Image.fromarray(values, "I"), {}, expected


def case_f_unit():
    values = np.random.default_rng(0).random((6, 5), dtype=np.float32)
    return "f.tif", Image.fromarray(values, "F"), {}, grey3(values)


def case_f_8bit_range():
    values = np.random.default_rng(0).random((6, 5), dtype=np.float32) * 255
    values[0, 0] = 255
    return "f255.tif", Image.fromarray(values, "F"), {}, grey3(values / 255)


def case_f_wide():
    values = np.random.default_rng(0).random((6, 5), dtype=np.float32) * 1e6
    return "fwide.tif", Image.fromarray(values, "F"), {}, grey3(values / values.max())


MODE_CASES = {
    "1": (case_1, 0),
    "L": (case_l, 0),
    "LA": (case_la, LEVEL),
    "L colour key": (case_l_colour_key, 0),
    "P": (case_p, 0),
    "P transparent index": (case_p_transparent_index, 0),
    "P GIF transparent index": (case_p_gif, 0),
    "PA": (case_pa, LEVEL),
    "RGB": (case_rgb, 0),
    "RGB colour key": (case_rgb_colour_key, 0),
    "RGBA": (case_rgba, LEVEL),
    "RGBA WebP": (case_rgba_webp, 0),
    "RGBa premultiplied": (case_rgba_premultiplied, 2 * LEVEL),
    "La premultiplied": (case_la_premultiplied, 2 * LEVEL),
    "CMYK": (case_cmyk, 0),
    "YCbCr": (case_ycbcr, 3 * LEVEL),
    "LAB": (case_lab, 3 * LEVEL),
    "I;16": (case_i16, 0),
    "I;16 dark": (case_i16_dark, 0),
    "I;16 TIFF": (lambda: case_i16("i16.tif"), 0),
    "I;16B TIFF": (lambda: case_i16("i16b.tif", "I;16B"), 0),
    "I": (case_i32, 0),
    "I wide range": (case_i32_wide, 0),
    "F in [0, 1]": (case_f_unit, 0),
    "F in [0, 255]": (case_f_8bit_range, 0),
    "F wide range": (case_f_wide, 0),
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("case", MODE_CASES)
def test_every_pillow_mode_loads_as_srgb_floats(tmp_path, case):
    build, tolerance = MODE_CASES[case]
    name, image, options, expected = build()
    path = tmp_path / name
    if isinstance(image, bytes):
        path.write_bytes(image)
    else:
        image.save(path, **options)
    pixels = load_image(path)
    assert pixels.shape == (*expected.shape[:2], 3) and pixels.dtype == np.float32
    assert pixels.min() >= 0 and pixels.max() <= 1
    np.testing.assert_allclose(pixels, expected, atol=tolerance + 1e-6)


def test_16bit_rgb_png_loads(tmp_path):
    pixels = np.random.default_rng(0).random((6, 5, 3), dtype=np.float32)
    path = save_image(pixels, tmp_path / "rgb48.png", bit_depth=16)
    assert np.abs(load_image(path) - pixels).max() <= LEVEL


def test_multi_frame_gif_loads_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    np.testing.assert_allclose(load_image(path), np.broadcast_to([1, 0, 0], (8, 8, 3)))


# Colour profiles


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_embedded_profile_is_converted_to_srgb(tmp_path, mode):
    image = Image.new("RGB", (4, 4), (128, 64, 0))
    if mode == "P":
        image = Image.new("P", (4, 4), 0)
        image.putpalette([128, 64, 0])
    image = image.convert(mode)
    path = save_as(image, tmp_path / "linear.png", icc_profile=linear_srgb_icc())
    expected = srgb_encode(np.array([128, 64, 0]) / 255)
    np.testing.assert_allclose(load_image(path)[0, 0], expected, atol=2 * LEVEL)


def test_srgb_tagged_image_loads_unchanged(tmp_path):
    rgb = random_uint8((6, 5, 3))
    path = save_as(Image.fromarray(rgb), tmp_path / "srgb.png", icc_profile=SRGB_ICC)
    np.testing.assert_allclose(load_image(path), rgb / 255, atol=1e-6)


@pytest.mark.parametrize(
    "mode, icc",
    [("RGB", b"not a colour profile" * 8), ("L", linear_srgb_icc())],
    ids=["broken profile", "RGB profile on grey"],
)
def test_unusable_profile_warns_and_keeps_the_pixels(tmp_path, mode, icc):
    image = Image.fromarray(random_uint8((6, 5, 3))).convert(mode)
    path = save_as(image, tmp_path / "badicc.png", icc_profile=icc)
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        pixels = load_image(path)
    np.testing.assert_allclose(pixels, np.asarray(image.convert("RGB")) / 255, atol=1e-6)


# Sizes


def test_fit_long_side_keeps_the_aspect_ratio():
    assert fit_long_side((400, 600), 300) == (200, 300)
    assert fit_long_side((199, 153), 398) == (398, 306)
    assert fit_long_side((1, 1000), 10) == (1, 10)


def test_resize_keeps_float_precision_and_range():
    pixels = np.random.default_rng(0).random((30, 20, 3), dtype=np.float32)
    resized = resize(pixels, (15, 10))
    assert resized.shape == (15, 10, 3) and resized.dtype == np.float32
    assert 0 <= resized.min() and resized.max() <= 1
    assert resize(pixels, (30, 20)) is pixels
    flat = np.full((30, 20, 3), 0.3, np.float32)
    np.testing.assert_allclose(resize(flat, (45, 31)), 0.3, atol=1e-5)


# Outputs


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".PNG"])
def test_output_format_follows_the_extension_and_is_tagged_srgb(tmp_path, suffix):
    pixels = np.random.default_rng(0).random((6, 5, 3), dtype=np.float32)
    path = save_image(pixels, tmp_path / f"out{suffix}")
    with Image.open(path) as saved:
        assert saved.format == SAVE_FORMATS[suffix.lower()]
        assert (saved.mode, saved.size) == ("RGB", (5, 6))
        assert saved.info["icc_profile"] == SRGB_ICC
    profile = ImageCms.ImageCmsProfile(io.BytesIO(SRGB_ICC))
    assert "sRGB" in ImageCms.getProfileDescription(profile)


@pytest.mark.parametrize("name", ["out.bmp", "out.gif", "out"])
def test_unknown_extension_is_refused_naming_the_allowed(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(OrtStyleError) as caught:
        check_output_format(path)
    message = str(caught.value)
    assert (path.suffix or "(none)") in message
    assert all(suffix in message for suffix in SAVE_FORMATS)
    with pytest.raises(OrtStyleError):
        save_image(np.zeros((2, 2, 3), np.float32), path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["out.jpg", "out.jpeg", "out.webp"])
def test_16bit_output_needs_png_or_tiff(tmp_path, name):
    with pytest.raises(OrtStyleError, match=r"\.png, \.tif, \.tiff") as caught:
        save_image(np.zeros((2, 2, 3), np.float32), tmp_path / name, bit_depth=16)
    assert "16" in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_bit_depths_other_than_8_and_16_are_refused(tmp_path):
    with pytest.raises(OrtStyleError, match="8 or 16"):
        check_output_format(tmp_path / "out.png", bit_depth=12)
    assert check_output_format(tmp_path / "out.tif", bit_depth=16) == "TIFF"


METADATA = {
    "style_weight": 1e5,
    "layers": ["conv1_1", "conv2_1"],
    "nested": {"steps": 500, "ok": True, "none": None},
    "path": Path("/tmp/café/style.jpg"),  # not JSON: written as its string
    "text": "naïve ✓",
}


@pytest.mark.parametrize(
    "name, bit_depth", [(n, 8) for n in SAVE_FORMATS] + [(".png", 16), (".tif", 16)]
)
def test_metadata_round_trips(tmp_path, name, bit_depth):
    pixels = np.random.default_rng(0).random((6, 5, 3), dtype=np.float32)
    path = save_image(pixels, tmp_path / f"out{name}", METADATA, bit_depth=bit_depth)
    assert read_metadata(path) == json.loads(json.dumps(METADATA, default=str))


def test_foreign_image_has_no_metadata(tmp_path):
    path = save_as(Image.new("RGB", (4, 4)), tmp_path / "plain.png")
    assert read_metadata(path) == {}


def fail_midway(exception, bit_depth):
    """A stand-in for the writer `save_image` uses: it leaves half a file, then raises."""

    def half_write(target):
        with open(target, "wb") as handle:
            handle.write(b"half an image")
        raise exception

    if bit_depth == 8:
        return Image.Image, "save", lambda self, target, *args, **kwargs: half_write(target)
    return Path, "write_bytes", lambda self, data: half_write(self)


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("exception", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_leaves_the_old_output_and_no_temporary_files(
    tmp_path, monkeypatch, bit_depth, exception
):
    path = tmp_path / "out.png"
    path.write_bytes(b"the previous result")
    monkeypatch.setattr(*fail_midway(exception, bit_depth))
    with pytest.raises(type(exception)):
        save_image(np.zeros((4, 4, 3), np.float32), path, bit_depth=bit_depth)
    monkeypatch.undo()
    assert path.read_bytes() == b"the previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_16bit_png_holds_every_16bit_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "PNG_IDAT_BYTES", 64)  # several IDAT chunks, as for big images
    pixels = np.random.default_rng(0).random((9, 7, 3), dtype=np.float32)
    pixels[0, 0] = [0, 1, 0.5]
    path = save_image(pixels, tmp_path / "deep.png", {"steps": 3}, bit_depth=16)
    data = path.read_bytes()
    samples = decode_png16_rgb(data)
    assert np.array_equal(samples, to_uint16(pixels))
    assert np.abs(samples / 65535 - pixels).max() <= 0.5 / 65535 + 1e-7
    chunks = dict(png_chunks(data))
    assert sum(kind == b"IDAT" for kind, _ in png_chunks(data)) > 1
    assert zlib.decompress(chunks[b"iCCP"].split(b"\0", 1)[1][1:]) == SRGB_ICC
    with Image.open(path) as reopened:
        assert (reopened.mode, reopened.size) == ("RGB", (7, 9))
        assert reopened.info["icc_profile"] == SRGB_ICC
        assert np.abs(np.asarray(reopened) - pixels * 255).max() <= 1


def test_16bit_tiff_holds_every_16bit_sample(tmp_path):
    pixels = np.random.default_rng(0).random((9, 7, 3), dtype=np.float32)
    path = save_image(pixels, tmp_path / "deep.tif", {"steps": 3}, bit_depth=16)
    with Image.open(path) as reopened:
        tags = reopened.tag_v2
        assert (tags[256], tags[257], tags[258], tags[262]) == (7, 9, (16, 16, 16), 2)
        assert reopened.info["icc_profile"] == SRGB_ICC
        assert np.abs(np.asarray(reopened) - pixels * 255).max() <= 1
        offset, length = tags[273][0], tags[279][0]
    strip = zlib.decompress(path.read_bytes()[offset : offset + length])
    samples = np.frombuffer(strip, "<u2").reshape(9, 7, 3)
    assert np.array_equal(samples, to_uint16(pixels))


def test_to_uint8_rounds_and_clips():
    values = np.array([[[-0.5, 0.0, 0.5 / 255]], [[0.5, 1.0, 7.0]]], np.float32)
    assert to_uint8(values).tolist() == [[[0, 0, 1]], [[128, 255, 255]]]
