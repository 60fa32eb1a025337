"""Whole stylizations through the engine: the loss falls, faults stop cleanly, seeds repeat."""

import numpy as np
import pytest
from conftest import EXAMPLES

from ortstyle.engine.stylize import Stylizer, check_size, scale_sizes
from ortstyle.images import load_image, resize
from ortstyle.options import StyleOptions

SMALL = 64  # px, long side: big enough for every pooling stage, quick on two cores
# At 64 px relu5_1 is 4x3: too few positions to match a Gram matrix well, so the test of
# the loss falling runs at 128 px.
E2E = 128


@pytest.fixture(scope="module")
def pair():
    content = resize(load_image(EXAMPLES / "tubingen.jpg"), (96, 128))
    style = resize(load_image(EXAMPLES / "starry_night.jpg"), (80, 128))
    return content, style


def _style_loss(stylizer, content, style, pixels):
    targets = stylizer.targets(content, [style], pixels.shape[:2])
    image = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])
    return stylizer.evaluate(image, targets)[0].style


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_style_loss_falls_and_output_leaves_the_content(random_model, pair, optimizer):
    content, style = pair
    options = StyleOptions(size=E2E, iterations=60, optimizer=optimizer, learning_rate=0.03)
    stylizer = Stylizer(random_model, options)
    result = stylizer.stylize(content, [style])
    start = resize(content, result.image.shape[:2])
    before = _style_loss(stylizer, content, style, start)
    after = _style_loss(stylizer, content, style, result.image)
    assert result.stopped is None and result.evaluations == 60
    assert result.image.shape == (96, 128, 3)
    assert after < before / 10, f"style loss {before:.3g} -> {after:.3g}"
    assert np.abs(result.image - start).mean() > 0.03
    assert result.final_loss < result.initial_loss / 3
    assert result.image.min() >= 0 and result.image.max() <= 1
    # C9: the pixels stay valid without clamping inside steps, so the loss never leaps.
    history = np.asarray(result.history)
    assert (history[1:] / history[:-1]).max() < 10


def test_same_seed_same_image(random_model, pair):
    content, style = pair
    options = StyleOptions(size=SMALL, iterations=8, init="noise", seed=7)
    first = Stylizer(random_model, options).stylize(content, [style]).image
    second = Stylizer(random_model, options).stylize(content, [style]).image
    other = Stylizer(random_model, StyleOptions(size=SMALL, iterations=8, init="noise", seed=8))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other.stylize(content, [style]).image)


def test_non_finite_loss_stops_with_the_last_good_image(random_model, pair):
    content, style = pair
    stylizer = Stylizer(random_model, StyleOptions(size=SMALL, iterations=20, optimizer="adam"))
    real = stylizer.evaluate
    calls = []

    def failing(image, targets):
        calls.append(image.copy())
        parts, grad = real(image, targets)
        if len(calls) == 4:
            grad[0, 0, 0, 0] = np.nan
        return parts, grad

    stylizer.evaluate = failing
    result = stylizer.stylize(content, [style])
    assert result.stopped and "nan" in result.stopped.lower() or "evaluation 4" in result.stopped
    assert result.evaluations == 3
    assert np.isfinite(result.image).all()


def test_interrupt_keeps_the_best_image(random_model, pair):
    content, style = pair
    stylizer = Stylizer(random_model, StyleOptions(size=SMALL, iterations=50))

    def interrupt(it):
        if it.evaluation == 5:
            raise KeyboardInterrupt

    result = stylizer.stylize(content, [style], callback=interrupt)
    assert result.stopped == "interrupted" and result.evaluations == 5
    assert result.state.evaluations == 5
    assert result.image.shape == (48, 64, 3)


def test_multiscale_runs_coarse_to_fine(random_model, pair):
    content, style = pair
    options = StyleOptions(size=SMALL, iterations=5, scales=2)
    seen = []
    result = Stylizer(random_model, options).stylize(
        content, [style], callback=lambda it: seen.append((it.scale, it.image.shape[2:]))
    )
    assert [s for s, _ in seen] == [1] * 5 + [2] * 5
    assert seen[0][1] == (24, 32) and seen[-1][1] == (48, 64)
    assert result.image.shape == (48, 64, 3)


def test_scale_sizes_skip_passes_too_small_for_the_network():
    options = StyleOptions(size=40, scales=4)
    assert scale_sizes((30, 40), options) == [(30, 40)]


def test_too_small_size_names_the_smallest_that_works():
    with pytest.raises(ValueError, match="--size 80 or more"):
        check_size((100, 500), 40)  # 40x8 output: 8 px is too few for four poolings


def test_odd_sizes_are_kept(random_model, pair):
    content, style = pair
    content = resize(content, (77, 101))
    result = Stylizer(random_model, StyleOptions(size=101, iterations=2)).stylize(content, [style])
    assert result.image.shape == (77, 101, 3)


def test_original_colors_keep_the_content_chroma(random_model, pair):
    from ortstyle.engine.colors import rgb_to_ycc

    content, style = pair
    options = StyleOptions(size=SMALL, iterations=10, original_colors=True)
    result = Stylizer(random_model, options).stylize(content, [style])
    chroma = rgb_to_ycc(result.image)[:, :, 1:]
    expected = rgb_to_ycc(resize(content, result.image.shape[:2]))[:, :, 1:]
    # Only clipping to [0, 1] may move the chroma: where no channel clipped, it is exact.
    unclipped = ((result.image > 0) & (result.image < 1)).all(axis=2)
    assert unclipped.mean() > 0.8
    assert np.abs(chroma - expected)[unclipped].max() < 1e-4


def test_target_loss_ends_the_last_pass_early(random_model, pair):
    content, style = pair
    full = Stylizer(random_model, StyleOptions(size=SMALL, iterations=30)).stylize(content, [style])
    goal = full.history[9]  # what the run had reached after ten evaluations
    options = StyleOptions(size=SMALL, iterations=30, target_loss=goal)
    early = Stylizer(random_model, options).stylize(content, [style])
    assert early.evaluations <= 10 and early.final_loss <= goal


@pytest.mark.parametrize(("size", "passes"), [(256, 1), (500, 1), (512, 2), (1024, 3), (2048, 4)])
def test_auto_scales_halve_down_to_256(size, passes):
    from ortstyle.engine.stylize import pass_count

    assert pass_count(StyleOptions(size=size, scales=0)) == passes
    assert pass_count(StyleOptions(size=size)) == 1  # the default: one pass
