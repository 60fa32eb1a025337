"""`ortstyle bench`: the cost model, the memory fit, and a tiny run through the CLI."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ortstyle.bench import bench, evaluation_gflop, memory_fit, network_macs
from ortstyle.models import resolve_model

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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sizes", "256,x"], "comma-separated whole numbers"),
        (["--sizes", "8"], "at least 16 px"),
        (["--repeats", "0"], "--repeats 0"),
        (["--pooling", "median"], "not one of: avg, max"),
        (["--plot", "out.jpg"], "must end in .png"),
        (["--quiet", "1.5"], "--quiet 1.5"),
    ],
)
def test_bench_refuses_bad_options(app, args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
