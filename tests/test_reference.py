"""The eager-PyTorch reference objective against the ONNX Runtime engine."""

import numpy as np
import pytest

from ortstyle.engine.stylize import Stylizer
from ortstyle.export.reference import ReferenceObjective
from ortstyle.export.vgg import load_weights
from ortstyle.models import resolve_model
from ortstyle.options import StyleOptions

LOSS_TOLERANCE = 1e-4  # relative difference of the total loss
GRAD_TOLERANCE = 1e-3  # relative L2 error of the input gradient (float32, see NOTES.md)
SHAPE_HW = (45, 67)  # odd and non-square: padding and pooling remainders


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One export cache for the test session (shared with test_bench)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORTSTYLE_CACHE", str(tmp_path_factory.getbasetemp() / "ortstyle-cache"))
        yield


@pytest.fixture(scope="module")
def weights():
    return load_weights("random")


def _pair(seed: int = 0):
    rng = np.random.default_rng(seed)
    content = rng.random((50, 70, 3), dtype=np.float32)
    styles = [rng.random((40, 52, 3), dtype=np.float32), rng.random((30, 30, 3), dtype=np.float32)]
    image = rng.random((1, 3, *SHAPE_HW), dtype=np.float32)
    return content, styles, image


def _rel_l2(actual, expected) -> float:
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def _both(weights, options):
    model = resolve_model("random", options.pooling).model
    return Stylizer(model, options), ReferenceObjective(weights, options)


@pytest.mark.parametrize(
    "options",
    [
        StyleOptions(pooling="avg", threads=1),
        StyleOptions(pooling="max", threads=1),
        StyleOptions(
            pooling="avg",
            threads=1,
            content_layers=("relu3_2", "relu4_2"),
            style_layers=("relu1_1", "relu3_1", "relu5_1"),
            style_layer_weights=(1.0, 2.0, 0.5),
            style_blend_weights=(3.0, 1.0),
            style_weight=50.0,
            tv_weight=0.0,
        ),
    ],
    ids=["avg", "max", "layers-blend-no-tv"],
)
def test_reference_matches_engine(cache, weights, options):
    engine, reference = _both(weights, options)
    content, styles, image = _pair()
    styles = styles[: len(options.style_blend_weights or [1])]

    engine_targets = engine.targets(content, styles, SHAPE_HW)
    reference_targets = reference.targets(content, styles, SHAPE_HW)
    for layer, gram in engine_targets.grams.items():
        assert _rel_l2(reference_targets.grams[layer], gram) < GRAD_TOLERANCE
    for layer, features in engine_targets.content.items():
        assert _rel_l2(reference_targets.content[layer], features) < GRAD_TOLERANCE

    engine_parts, engine_grad = engine.evaluate(image, engine_targets)
    reference_parts, reference_grad = reference.evaluate(image, reference_targets)
    assert reference_grad.shape == engine_grad.shape == (1, 3, *SHAPE_HW)
    assert reference_grad.dtype == np.float32
    assert abs(reference_parts.total - engine_parts.total) / engine_parts.total < LOSS_TOLERANCE
    for term in ("content", "style", "tv"):
        expected = getattr(engine_parts, term)
        assert getattr(reference_parts, term) == pytest.approx(expected, rel=LOSS_TOLERANCE)
    assert _rel_l2(reference_grad, engine_grad) < GRAD_TOLERANCE


def test_reference_weights_are_frozen(weights):
    reference = ReferenceObjective(weights, StyleOptions(threads=1))
    assert not any(p.requires_grad for p in reference.network.parameters())


def test_reference_stylize_follows_engine(cache, weights):
    options = StyleOptions(size=32, iterations=4, scales=1, threads=1)
    engine, reference = _both(weights, options)
    content, styles, _ = _pair(1)

    expected = engine.stylize(content, styles[:1])
    result = reference.stylize(content, styles[:1])
    assert result.evaluations == expected.evaluations == 4
    assert result.image.shape == expected.image.shape
    np.testing.assert_allclose(result.history, expected.history, rtol=1e-3)
    assert result.final_loss < result.initial_loss


def test_reference_refuses_multiscale(weights):
    reference = ReferenceObjective(weights, StyleOptions(size=32, scales=2, threads=1))
    content, styles, _ = _pair()
    with pytest.raises(NotImplementedError, match="single-scale"):
        reference.stylize(content, styles[:1])
