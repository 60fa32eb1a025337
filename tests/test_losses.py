"""The numpy loss layer's values and gradients against torch.autograd in float64."""

import numpy as np
import pytest

from ortstyle.engine.losses import (
    LossWeights,
    Targets,
    content_loss,
    evaluate_losses,
    gram_matrix,
    layer_weights,
    style_loss,
    tv_loss,
)

torch = pytest.importorskip("torch")
TOLERANCE = 1e-4  # float32 numpy vs float64 autograd, relative


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


def _t(array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _torch_gram(f):
    _, c, h, w = f.shape
    flat = f.reshape(c, h * w)
    return flat @ flat.T / (h * w)


def test_gram_matrix_matches_definition(rng):
    f = rng.random((1, 8, 5, 7), dtype=np.float32)
    expected = _torch_gram(torch.tensor(f, dtype=torch.float64)).numpy()
    assert _rel(gram_matrix(f), expected) < TOLERANCE


def test_content_loss_and_gradient(rng):
    f, p = rng.standard_normal((2, 1, 16, 6, 5)).astype(np.float32)
    loss, grad = content_loss(f, p)
    ft = _t(f)
    pt = torch.tensor(p, dtype=torch.float64)
    ref = ((ft - pt) ** 2).sum() / (pt**2).sum()
    ref.backward()
    assert abs(loss - ref.item()) / ref.item() < TOLERANCE
    assert _rel(grad, ft.grad.numpy()) < TOLERANCE


def test_style_loss_and_gradient(rng):
    f = rng.random((1, 12, 9, 11), dtype=np.float32)
    s = gram_matrix(rng.random((1, 12, 4, 6), dtype=np.float32))
    loss, grad = style_loss(f, s)
    ft = _t(f)
    st = torch.tensor(s, dtype=torch.float64)
    ref = ((_torch_gram(ft) - st) ** 2).sum() / (st**2).sum()
    ref.backward()
    assert abs(loss - ref.item()) / ref.item() < TOLERANCE
    assert _rel(grad, ft.grad.numpy()) < TOLERANCE


def test_tv_loss_and_gradient(rng):
    x = rng.random((1, 3, 7, 10), dtype=np.float32)
    loss, grad = tv_loss(x.copy())
    xt = _t(x)
    ref = ((xt[:, :, 1:] - xt[:, :, :-1]) ** 2).mean() + ((xt[..., 1:] - xt[..., :-1]) ** 2).mean()
    ref.backward()
    assert abs(loss - ref.item()) / ref.item() < TOLERANCE
    assert _rel(grad, xt.grad.numpy()) < TOLERANCE


def test_combined_losses_sum_shared_layer_gradients(rng):
    weights = LossWeights(2.0, 30.0, 0.5, layer_weights(["a"]), layer_weights(["a", "b"], [1, 3]))
    feats = {
        "a": rng.random((1, 4, 6, 6), dtype=np.float32),
        "b": rng.random((1, 8, 3, 3), dtype=np.float32),
    }
    targets = Targets.build(
        {k: rng.random(v.shape, dtype=np.float32) for k, v in feats.items()},
        [{k: rng.random(v.shape, dtype=np.float32) for k, v in feats.items()}],
        [1.0],
        weights,
    )
    image = rng.random((1, 3, 6, 6), dtype=np.float32)
    parts, grads, image_grad = evaluate_losses(feats, image.copy(), targets, weights)

    t = {k: _t(v) for k, v in feats.items()}
    it = _t(image)
    pa = torch.tensor(targets.content["a"], dtype=torch.float64)
    content = ((t["a"] - pa) ** 2).sum() / (pa**2).sum()
    style = 0.0
    for layer, w in (("a", 0.25), ("b", 0.75)):
        s = torch.tensor(targets.grams[layer], dtype=torch.float64)
        style = style + w * ((_torch_gram(t[layer]) - s) ** 2).sum() / (s**2).sum()
    tv = ((it[:, :, 1:] - it[:, :, :-1]) ** 2).mean() + ((it[..., 1:] - it[..., :-1]) ** 2).mean()
    total = 2.0 * content + 30.0 * style + 0.5 * tv
    total.backward()
    assert abs(parts.total - total.item()) / total.item() < TOLERANCE
    for layer in feats:
        assert _rel(grads[layer], t[layer].grad.numpy()) < TOLERANCE
    assert _rel(image_grad, it.grad.numpy()) < TOLERANCE


def test_style_targets_blend_grams_not_images(rng):
    weights = LossWeights(1.0, 1.0, 0.0, layer_weights(["a"]), layer_weights(["a"]))
    one = {"a": rng.random((1, 4, 5, 5), dtype=np.float32)}
    two = {"a": rng.random((1, 4, 9, 3), dtype=np.float32)}
    targets = Targets.build(one, [one, two], [3.0, 7.0], weights)
    expected = 0.3 * gram_matrix(one["a"]) + 0.7 * gram_matrix(two["a"])
    assert _rel(targets.grams["a"], expected) < TOLERANCE


def test_layer_weights_are_normalised_and_checked():
    assert layer_weights(["a", "b"], [1, 3]) == {"a": 0.25, "b": 0.75}
    with pytest.raises(ValueError, match="2 non-negative"):
        layer_weights(["a", "b"], [1])
    with pytest.raises(ValueError):
        layer_weights(["a"], [-1])


def test_losses_do_not_depend_on_spatial_size_of_style(rng):
    texture = rng.random((1, 4, 8, 8), dtype=np.float32)
    tiled = np.tile(texture, (1, 1, 2, 2))
    np.testing.assert_allclose(gram_matrix(texture), gram_matrix(tiled), rtol=1e-5)
