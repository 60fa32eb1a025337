"""`ortstyle bench`: the cost model, the memory fit, and a tiny run through the CLI."""

import errno
import json
from pathlib import Path

import onnxruntime
import pytest
import typer
from typer.testing import CliRunner

from ortstyle.bench import bench, evaluation_gflop, memory_fit, network_macs
from ortstyle.models import resolve_model

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# VGG19 up to conv5_1: (input channels, output channels, pools before it).
VGG19_CONVS = [(3, 64, 0), (64, 64, 0), (64, 128, 1), (128, 128, 1), (128, 256, 2)]
VGG19_CONVS += [(256, 256, 2)] * 3 + [(256, 512, 3)] + [(512, 512, 3)] * 3 + [(512, 512, 4)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One export cache for the test session (shared with test_reference)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORTSTYLE_CACHE", str(tmp_path_factory.getbasetemp() / "ortstyle-cache"))
        yield


@pytest.fixture
def app():
    app = typer.Typer(add_completion=False)
    app.command()(bench)
    return app


@pytest.mark.parametrize("shape_hw", [(256, 256), (45, 67)])
def test_network_macs_counts_vgg19_convolutions(cache, shape_hw):
    model = resolve_model("random", "avg").model
    expected = 0
    for in_channels, out_channels, pools in VGG19_CONVS:
        height, width = (side // 2**pools for side in shape_hw)
        expected += height * width * in_channels * out_channels * 9
    assert network_macs(model.proto, *shape_hw) == expected
    if shape_hw == (256, 256):
        assert evaluation_gflop(model.proto, 256, 256) == pytest.approx(94.7, abs=0.1)


def test_memory_fit_recovers_a_linear_cost():
    sizes = (128, 256, 512)
    results = [
        {
            "height": s,
            "width": s,
            "ort_rss_bytes": 500e6 + 2000 * s * s,
            "eager_rss_bytes": 900e6 + 3000 * s * s,
        }
        for s in sizes
    ]
    fit = memory_fit(results)
    assert fit["ort"]["bytes_per_pixel"] == pytest.approx(2000)
    assert fit["eager"]["base_bytes"] == pytest.approx(900e6)
    assert fit["ort"]["largest_square_px"] > fit["eager"]["largest_square_px"] > 0
    assert "ort" not in memory_fit(results[:1])


def test_bench_runs_at_a_tiny_size(cache, app, tmp_path):
    report_path, plot_path = tmp_path / "bench.json", tmp_path / "bench.png"
    args = ["--sizes", "32", "--repeats", "1", "--warmup", "0", "--threads", "1"]
    args += ["--content", str(EXAMPLES / "tubingen.jpg")]
    args += ["--style", str(EXAMPLES / "starry_night.jpg"), "--weights", "random"]
    args += ["--whole-run", "--iterations", "2", "--json", str(report_path)]
    args += ["--plot", str(plot_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    report = json.loads(report_path.read_text())
    assert report["command"].startswith("ortstyle bench --sizes 32 ")
    assert report["machine"]["versions"]["onnxruntime"]
    (record,) = report["results"]
    assert record["size"] == 32 and record["ort_ms"] > 0 and record["eager_ms"] > 0
    assert record["ratio"] == pytest.approx(record["eager_ms"] / record["ort_ms"])
    assert record["grad_rel_l2"] < 1e-3 and record["loss_rel_diff"] < 1e-4
    assert record["ort_rss_bytes"] > 0 and record["eager_rss_bytes"] > 0
    assert set(record["matmul_gflops"]) == {"onnxruntime", "numpy", "torch"}
    assert report["peak_gflops"] == max(record["matmul_gflops"].values())
    assert record["ort_peak_fraction"] > 0 and len(record["eager_others_cpu"]) == 1
    (run,) = report["whole_runs"]
    assert run["ort_evaluations"] == run["eager_evaluations"] == 2
    assert run["eager_final_loss"] == pytest.approx(run["ort_final_loss"], rel=1e-3)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "time per evaluation" in result.output


def _one_line_error(result, *fragments):
    """Exit code 1 through typer.Exit (not an escaped exception), the message last."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sizes", "256,x"], "comma-separated whole numbers"),
        (["--sizes", "8"], "at least 16 px"),
        (["--sizes", "0"], "--sizes '0': each size must be at least 16 px"),
        (["--sizes", "-5"], "--sizes '-5': each size must be at least 16 px"),
        (["--sizes", ""], "give at least one size"),
        (["--repeats", "0"], "--repeats 0"),
        (["--repeats", "-1"], "--repeats -1: must be at least 1"),
        (["--warmup", "-1"], "--warmup -1: must be 0 or more"),
        (["--threads", "-1"], "--threads -1: must be from 0 (the physical cores)"),
        (["--threads", "100000"], "--threads 100000: must be from 0"),
        (["--pooling", "median"], "not one of: avg, max"),
        (["--plot", "out.jpg"], "must end in .png"),
        (["--quiet", "1.5"], "--quiet 1.5"),
        (["--provider", "auto"], "--provider 'auto' is not one of: cpu, cuda, tensorrt"),
        (["--precision", "fp8"], "--precision 'fp8' is not one of: fp32, fp16"),
    ],
)
def test_bench_refuses_bad_options(app, args, message):
    _one_line_error(CliRunner().invoke(app, args), message)


def test_a_gpu_provider_that_cannot_start_is_one_line(app, monkeypatch):
    from ortstyle.engine import providers

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(providers, "probe_provider", lambda name: "libcuda.so.1: not found")
    result = CliRunner().invoke(app, ["--sizes", "32", "--provider", "cuda"])
    _one_line_error(result, "provider cuda could not start: libcuda.so.1: not found")
    assert "--provider auto" not in result.output  # bench compares named providers only


def test_half_precision_engine_against_float32_eager(cache, app, tmp_path):
    """--precision reaches the engine's worker; the eager side stays in float32."""
    report_path = tmp_path / "bench.json"
    args = ["--sizes", "32", "--repeats", "1", "--warmup", "0", "--threads", "1"]
    args += ["--weights", "random", "--precision", "fp16", "--json", str(report_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["settings"]["provider"] == "cpu" and report["settings"]["precision"] == "fp16"
    (record,) = report["results"]
    assert record["ort_setup"]["precision"] == "fp16" and record["eager_setup"]["device"] == "cpu"
    assert record["ort_setup"]["placement"] is None  # checked on GPU providers only
    # Half precision differs from float32 by about 1e-2 (test_precision), not by 1e-5.
    assert 1e-5 < record["grad_rel_l2"] < 5e-2


def test_huge_sizes_name_the_largest_that_fits(app):
    result = CliRunner().invoke(app, ["--sizes", "256,100000"])
    _one_line_error(result, "100000 px needs about", "GiB is free", "the largest size that fits")


@pytest.mark.parametrize(
    "outputs, fragments",
    [
        ({"--json": "missing/b.json"}, ["--json: output folder", "does not exist"]),
        ({"--plot": "missing/b.png"}, ["--plot: output folder", "does not exist"]),
        ({"--json": "folder"}, ["--json: output", "is a folder"]),
        ({"--plot": "folder.png"}, ["--plot: output", "is a folder"]),
        ({"--json": "same.png", "--plot": "same.png"}, ["--plot", "is the --json file"]),
        ({"--json": "content.jpg"}, ["--json", "is one of the input files"]),
    ],
)
def test_bench_refuses_bad_outputs(app, tmp_path, outputs, fragments):
    for name in ("folder", "folder.png"):
        (tmp_path / name).mkdir()
    content = tmp_path / "content.jpg"
    content.write_bytes((EXAMPLES / "tubingen.jpg").read_bytes())
    args = ["--sizes", "32", "--content", str(content)]
    for option, name in outputs.items():
        args += [option, str(tmp_path / name)]
    _one_line_error(CliRunner().invoke(app, args), *fragments)
    assert content.read_bytes() == (EXAMPLES / "tubingen.jpg").read_bytes()
    assert not (tmp_path / "same.png").exists()


def test_plot_without_matplotlib_is_refused_up_front(app, monkeypatch, tmp_path):
    from ortstyle.bench import command

    find_spec = command.util.find_spec
    monkeypatch.setattr(
        command.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a),
    )
    result = CliRunner().invoke(app, ["--plot", str(tmp_path / "b.png")])
    _one_line_error(result, "--plot needs matplotlib")


def _canned_report(settings, gflops, progress=None) -> dict:
    """A run's report without running it: one size, both sides alike."""
    record = {"size": 32, "gflop": 1.0, "ratio": 1.0, "ratio_of_minima": 1.0}
    record.update(engine_estimate_bytes=1, grad_rel_l2=0.0, loss_rel_diff=0.0)
    for side in ("ort", "eager"):
        record.update({f"{side}_{key}": 1.0 for key in ("ms", "ms_min", "ms_max")})
        record.update({f"{side}_{key}": 0.5 for key in ("peak_fraction", "best_peak_fraction")})
        record.update({f"{side}_rss_bytes": 1, f"{side}_process_peak_bytes": 1})
        record[f"{side}_others_cpu"] = [0.0]
    return {
        "settings": {"threads": settings.threads},
        "peak_gflops": 1.0,
        "results": [record],
        "whole_runs": [],
        "load_before": (0.0,),
        "load_after": (0.0,),
        "machine": {"logical_cores": 1},
    }


def test_a_failed_write_leaves_the_old_report_whole(cache, app, monkeypatch, tmp_path):
    from ortstyle.bench import command

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    resolve_model("random", "avg")  # exported, if need be, before the disk "fills"
    monkeypatch.setattr(command, "run_bench", _canned_report)
    monkeypatch.setattr(Path, "write_text", full_disk)
    report_path = tmp_path / "bench.json"
    report_path.write_bytes(b"old\n")
    result = CliRunner().invoke(
        app, ["--sizes", "32", "--weights", "random", "--json", str(report_path)]
    )
    _one_line_error(result, f"could not write {report_path}", "No space left on device")
    assert report_path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]


def test_a_missing_image_names_the_option(app, tmp_path):
    result = CliRunner().invoke(app, ["--sizes", "32", "--content", str(tmp_path / "no.jpg")])
    _one_line_error(result, "--content", "no.jpg", "give --content and --style")


def test_python_m_ortstyle_bench_gives_the_same_one_line_errors(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ortstyle.bench", "--bogus"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "error: No such option: --bogus; see `ortstyle bench --help`"
