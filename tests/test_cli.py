"""The CLI through typer's test runner: runs, outputs, and one clear line for every mistake."""

import numpy as np
import pytest
from conftest import EXAMPLES
from PIL import Image
from typer.testing import CliRunner

from ortstyle.cli import app
from ortstyle.engine.stylize import Stylizer
from ortstyle.images import read_metadata

CONTENT, STYLE = str(EXAMPLES / "tubingen.jpg"), str(EXAMPLES / "starry_night.jpg")
QUICK = ["--size", "48", "--iterations", "3"]


@pytest.fixture
def run(random_model):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def _stylize(run, out, *extra, model=None):
    return run("stylize", CONTENT, STYLE, "-o", out, *QUICK, "--model", model, *extra)


def _one_line_error(result, *fragments):
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def test_stylize_writes_the_output_with_its_settings(run, random_model, tmp_path):
    out = tmp_path / "out.png"
    result = _stylize(run, out, model=random_model.path)
    assert result.exit_code == 0, result.output
    assert "provider cpu" in result.output and "saved" in result.output
    assert Image.open(out).size == (48, 36)
    meta = read_metadata(out)
    assert meta["settings"]["size"] == 48 and meta["settings"]["iterations"] == 3
    assert meta["model"]["weights_sha256"] == random_model.weights_sha256
    assert meta["provider"] == "cpu" and "onnxruntime" in meta["versions"]
    assert "random weights" in result.output  # the degraded mode is said
    assert "nearly constant" not in result.output


def test_same_seed_makes_the_same_image(run, random_model, tmp_path):
    paths = [tmp_path / f"{n}.png" for n in "ab"]
    for path in paths:
        assert (
            _stylize(run, path, "--init", "noise", "--seed", "3", model=random_model.path).exit_code
            == 0
        )
    first, second = (np.asarray(Image.open(p)) for p in paths)
    assert np.array_equal(first, second)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--size", "-5"], ["--size -5", "at least 16"]),
        (["--iterations", "0"], ["--iterations 0"]),
        (["--style-weight", "-1"], ["--style-weight -1"]),
        (["--tv-weight", "nan"], ["--tv-weight nan"]),
        (["--threads", "100000"], ["--threads 100000"]),
        (["--seed", "-1"], ["--seed -1"]),
        (["--target-loss", "inf"], ["--target-loss inf"]),
        (["--style-scale", "1000"], ["--style-scale 1000"]),
        (["--style-scale", "0.05"], ["--style-scale 0.05", "use --style-scale 0.54 or more"]),
        (["--content-layers", ""], ["--content-layers"]),
        (["--content-layers", "relu4_2,relu4_2"], ["named twice"]),
        (["--style-blend-weights", "nan"], ["finite"]),
        (["--provider", "gpu"], ["--provider 'gpu'", "cuda"]),
        (["--optimizer", "sgd"], ["--optimizer 'sgd'", "lbfgs"]),
        (["--pooling", "min"], ["--pooling 'min'"]),
        (["--weights", "nothing.pth"], ["nothing.pth"]),
        (["--style-layers", "relu9_9"], ["relu9_9", "relu1_1"]),
        (["--style-layer-weights", "1,2"], ["--style-layer-weights 1,2", "per style layer (5)"]),
        (["--style-layer-weights", "1,1,1,1,1e13"], ["--style-layer-weights", "from 0 to 1e+12"]),
        (["--style-blend-weights", "1,2"], ["one number per style image"]),
        (["--style-blend-weights", "1e308"], ["--style-blend-weights 1e+308", "from 0 to 1e+12"]),
        (["--size", "20000"], ["--size 20000", "largest size that fits is --size"]),
    ],
)
def test_bad_options_get_one_line(run, random_model, tmp_path, args, fragments):
    result = _stylize(run, tmp_path / "o.png", *args, model=random_model.path)
    _one_line_error(result, *fragments)
    assert not (tmp_path / "o.png").exists()


def test_bad_paths_get_one_line(run, random_model, tmp_path):
    _one_line_error(
        run(
            "stylize",
            tmp_path / "none.jpg",
            STYLE,
            "-o",
            tmp_path / "o.png",
            "--model",
            random_model.path,
        ),
        "none.jpg",
        "does not exist",
    )
    (tmp_path / "text.jpg").write_text("hello")
    _one_line_error(
        run(
            "stylize",
            CONTENT,
            tmp_path / "text.jpg",
            "-o",
            tmp_path / "o.png",
            "--model",
            random_model.path,
        ),
        "text.jpg",
    )
    _one_line_error(
        _stylize(run, tmp_path / "missing" / "o.png", model=random_model.path), "does not exist"
    )
    _one_line_error(_stylize(run, tmp_path / "o.bmpx", model=random_model.path), ".bmpx")
    _one_line_error(_stylize(run, tmp_path / "o.png", model=tmp_path / "none.onnx"), "none.onnx")


def test_asking_for_a_missing_gpu_provider_fails_clearly(run, random_model, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    result = _stylize(run, tmp_path / "o.png", "--provider", "cuda", model=random_model.path)
    _one_line_error(result, "provider cuda is not available")


def test_flat_output_is_warned_about(run, random_model, tmp_path):
    result = _stylize(
        run,
        tmp_path / "o.png",
        "--tv-weight",
        "1e9",
        "--iterations",
        "100",
        model=random_model.path,
    )
    assert result.exit_code == 0, result.output
    assert "nearly constant" in result.output


def test_save_every_writes_numbered_images(run, random_model, tmp_path):
    out = tmp_path / "o.png"
    assert _stylize(run, out, "--save-every", "1", model=random_model.path).exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("o_*.png")) == [
        "o_00001.png",
        "o_00002.png",
        "o_00003.png",
    ]


def _interrupt_at(monkeypatch, evaluation: int):
    """Make the `evaluation`-th evaluation raise KeyboardInterrupt; returns the real one."""
    real, calls = Stylizer.evaluate, []

    def interrupted(self, image, targets):
        calls.append(1)
        if len(calls) == evaluation:
            raise KeyboardInterrupt
        return real(self, image, targets)

    monkeypatch.setattr(Stylizer, "evaluate", interrupted)
    return real


def test_interrupt_saves_the_best_image_and_resume_finishes(
    run, random_model, tmp_path, monkeypatch
):
    out = tmp_path / "o.png"
    real = _interrupt_at(monkeypatch, 4)
    args = ["--iterations", "6", "--optimizer", "adam"]
    result = _stylize(run, out, *args, model=random_model.path)
    assert result.exit_code == 130
    assert f"best image so far is saved to {out}" in result.output
    assert out.exists() and (tmp_path / "o.png.ckpt.npz").exists()

    monkeypatch.setattr(Stylizer, "evaluate", real)
    result = _stylize(run, out, *args, "--resume", model=random_model.path)
    assert result.exit_code == 0, result.output
    assert read_metadata(out)["evaluations"] == 6  # 3 before the interrupt, 3 after
    assert not (tmp_path / "o.png.ckpt.npz").exists()


def test_resume_with_other_settings_is_refused(run, random_model, tmp_path, monkeypatch):
    out = tmp_path / "o.png"
    _one_line_error(_stylize(run, out, "--resume", model=random_model.path), "no checkpoint")


def test_export_and_info(run, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "vgg.onnx"
    result = run("export", "-o", out, "--weights", "random", "--pooling", "max")
    assert result.exit_code == 0, result.output
    assert out.exists() and "max abs diff" in result.output
    _one_line_error(run("export", "-o", tmp_path / "vgg.txt", "--weights", "random"), ".onnx")
    result = run("info")
    assert result.exit_code == 0 and "CPUExecutionProvider" in result.output


def test_progress_picture_and_16_bit_output(run, random_model, tmp_path):
    out, sheet = tmp_path / "o.png", tmp_path / "progress.png"
    result = _stylize(run, out, "--save-every", "1", "--progress", sheet, "--bit-depth", "16",
                      model=random_model.path)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Image.open(sheet).size[1] > 200  # the thumbnails above a loss curve
    with open(out, "rb") as handle:
        header = handle.read(33)
    assert header[24] == 16  # IHDR bit depth
    _one_line_error(_stylize(run, tmp_path / "o.jpg", "--bit-depth", "16",
                             model=random_model.path), ".jpg")  # fmt: skip


def test_init_from_an_image(run, random_model, tmp_path):
    start = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(start)
    out = tmp_path / "o.png"
    assert (
        _stylize(run, out, "--init", start, "--iterations", "1", model=random_model.path).exit_code
        == 0
    )
    pixels = np.asarray(Image.open(out), dtype=np.float32)
    assert pixels[..., 0].mean() > pixels[..., 2].mean() + 50  # still the red start image
    _one_line_error(_stylize(run, out, "--init", tmp_path / "none.png", model=random_model.path),
                    "none.png")  # fmt: skip


def test_outputs_never_overwrite_inputs(run, random_model, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(photo)
    before = photo.read_bytes()
    result = run("stylize", photo, STYLE, "-o", photo, *QUICK, "--model", random_model.path)
    _one_line_error(result, "--output", "input files")
    result = run("stylize", photo, STYLE, "-o", tmp_path / "o.png", "--progress", photo,
                 *QUICK, "--model", random_model.path)  # fmt: skip
    _one_line_error(result, "--progress", "input files")
    result = _stylize(run, tmp_path / "o.png", "--progress", tmp_path / "o.png",
                      model=random_model.path)  # fmt: skip
    _one_line_error(result, "--progress", "output file")
    assert photo.read_bytes() == before


def test_save_every_frames_never_overwrite_inputs(run, random_model, tmp_path):
    photo = tmp_path / "o_00002.png"  # the name of the frame after 2 evaluations
    Image.new("RGB", (64, 48), (10, 120, 200)).save(photo)
    before = photo.read_bytes()
    result = run("stylize", photo, STYLE, "-o", tmp_path / "o.png", "--save-every", "2",
                 *QUICK, "--model", random_model.path)  # fmt: skip
    _one_line_error(result, "--save-every", "o_00002.png")
    assert photo.read_bytes() == before
    result = run("stylize", photo, STYLE, "-o", tmp_path / "p.png", "--save-every", "2",
                 *QUICK, "--model", random_model.path)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p_00002.png").is_file() and photo.read_bytes() == before


def test_nan_pixels_are_refused(run, random_model, tmp_path):
    path = tmp_path / "nan.tif"
    pixels = np.full((40, 40), np.nan, np.float32)
    Image.fromarray(pixels, "F").save(path)
    result = run("stylize", path, STYLE, "-o", tmp_path / "o.png", *QUICK, "--model",
                 random_model.path)  # fmt: skip
    _one_line_error(result, "nan.tif", "NaN")


def test_damaged_checkpoint_is_one_line(run, random_model, tmp_path):
    out = tmp_path / "o.png"
    (tmp_path / "o.png.ckpt.npz").write_bytes(b"PK\x03\x04 cut short")
    _one_line_error(_stylize(run, out, "--resume", model=random_model.path), "damaged")


def test_export_never_overwrites_its_weights_file(run, tmp_path):
    weights = tmp_path / "sd.onnx"  # a state dict under a misleading name
    weights.write_bytes(b"state dict bytes")
    _one_line_error(run("export", "-o", weights, "--weights", weights), "is the --weights file")
    assert weights.read_bytes() == b"state dict bytes"


def test_info_with_an_unusable_cache_is_one_line(run, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file.png"
    not_a_folder.write_bytes(b"x")
    monkeypatch.setenv("ORTSTYLE_CACHE", str(not_a_folder))
    _one_line_error(run("info"), str(not_a_folder))


@pytest.mark.parametrize("length", [300, 248])
def test_output_names_too_long_for_the_checkpoint_are_refused_up_front(
    run, random_model, tmp_path, length
):
    out = tmp_path / ("a" * (length - 4) + ".png")
    _one_line_error(_stylize(run, out, model=random_model.path), "choose a shorter name")
    assert list(tmp_path.iterdir()) == []


def test_an_input_named_like_the_checkpoint_is_never_deleted(run, random_model, tmp_path):
    photo = tmp_path / "x.png.ckpt.npz"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(photo, format="PNG")
    result = run("stylize", photo, STYLE, "-o", tmp_path / "x.png", *QUICK, "--model",
                 random_model.path)  # fmt: skip
    _one_line_error(result, "x.png.ckpt.npz", "checkpoint")
    assert photo.is_file()


def test_ctrl_c_outside_a_run_is_one_line(run, monkeypatch):
    from ortstyle import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.onnxruntime, "get_available_providers", interrupted)
    result = run("info")
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == "error: interrupted; nothing was written"


def test_interrupt_in_a_coarse_pass_saves_an_image_of_the_output_size(
    run, random_model, tmp_path, monkeypatch
):
    out = tmp_path / "o.png"
    real = _interrupt_at(monkeypatch, 3)  # in the first of two passes
    args = ["--iterations", "4", "--scales", "2", "--optimizer", "adam"]
    result = _stylize(run, out, *args, model=random_model.path)
    assert result.exit_code == 130
    assert "stopped in a 24x18 px pass" in result.output
    assert Image.open(out).size == (48, 36)
    monkeypatch.setattr(Stylizer, "evaluate", real)
    result = _stylize(run, out, *args, "--resume", model=random_model.path)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (48, 36)
