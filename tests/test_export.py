"""Exporting VGG19 to ONNX: features against eager PyTorch, metadata, weights, the cache."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest

from ortstyle.errors import OrtStyleError
from ortstyle.layers import FEATURE_LAYERS
from ortstyle.models import cache_is_intact

torch = pytest.importorskip("torch")
from ortstyle.export.onnx_export import cached_model, export_model  # noqa: E402
from ortstyle.export.vgg import VGGFeatures, imagenet_checkpoint, load_weights  # noqa: E402

FEATURE_TOLERANCE = 1e-4  # largest |ORT - eager| relative to the layer's largest value


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_onnx_features_match_eager_pytorch(pooling, random_model, random_model_max, rng):
    model = random_model if pooling == "avg" else random_model_max
    image = rng.random((1, 3, 51, 38), dtype=np.float32)
    session = onnxruntime.InferenceSession(
        model.proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    ours = session.run(list(FEATURE_LAYERS), {"image": image})
    with torch.no_grad():
        eager = VGGFeatures(load_weights("random"), pooling)(torch.from_numpy(image))
    for name, a, e in zip(FEATURE_LAYERS, ours, eager):
        e = e.numpy()
        assert a.shape == e.shape, name
        assert np.abs(a - e).max() <= FEATURE_TOLERANCE * np.abs(e).max(), name


def test_metadata_says_what_the_file_is(random_model):
    meta = {p.key: p.value for p in random_model.proto.metadata_props}
    assert meta["ortstyle.weights"] == "random"
    assert meta["ortstyle.pooling"] == "avg"
    assert len(meta["ortstyle.weights_sha256"]) == 64
    assert json.loads(meta["ortstyle.layers"]) == list(FEATURE_LAYERS)
    assert json.loads(meta["ortstyle.normalization"])["mean"] == [0.485, 0.456, 0.406]
    assert {"torch", "torchvision", "onnx"} <= set(json.loads(meta["ortstyle.exported_with"]))
    assert json.loads(meta["ortstyle.check"])["max_rel_diff"] < 1e-3


def test_dynamic_height_and_width(random_model):
    dims = random_model.proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == [1, 3, "height", "width"]


@pytest.mark.parametrize("prefix", ["features.", ""])
def test_state_dict_file_whole_model_or_features(tmp_path, prefix):
    random = load_weights("random")
    path = tmp_path / "w.pth"
    torch.save({prefix + k: v for k, v in random.state_dict.items()}, path)
    loaded = load_weights(str(path))
    assert loaded.sha256 == random.sha256


def test_unrelated_state_dict_is_refused(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(OrtStyleError, match="not a VGG19 state dict"):
        load_weights(str(path))
    path.write_bytes(b"not a pickle")
    with pytest.raises(OrtStyleError, match="could not be read"):
        load_weights(str(path))


def test_imagenet_weights_load_from_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    with pytest.raises(OrtStyleError, match="not cached"):
        load_weights("imagenet", download=False)
    checkpoint = imagenet_checkpoint()
    checkpoint.parent.mkdir(parents=True)
    state = {"features." + k: v for k, v in load_weights("random").state_dict.items()}
    torch.save(state, checkpoint)  # same format as torchvision's file, random values
    weights = load_weights("imagenet", download=False)
    assert weights.source == "imagenet"
    assert weights.sha256 == load_weights("random").sha256


def test_cache_is_reused_and_a_damaged_file_rebuilt(ortstyle_cache, random_model):
    path, exported = cached_model("random", "avg")
    assert not exported and cache_is_intact(path)
    path.write_bytes(path.read_bytes()[:1000])  # truncated by a crash or a full disk
    assert not cache_is_intact(path)
    path, exported = cached_model("random", "avg")
    assert exported and cache_is_intact(path)


def test_concurrent_exports_do_not_corrupt_the_cache(tmp_path):
    code = (
        "from ortstyle.export.onnx_export import cached_model; "
        "print(cached_model('random', 'max')[1])"
    )
    env = {**os.environ, "ORTSTYLE_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert sorted(out.strip() for out, _ in results) == ["False", "True"]  # exported once
    path = tmp_path / "models" / "vgg19-random-max.onnx"
    assert cache_is_intact(path)
    onnx.checker.check_model(onnx.load(str(path)))


def test_export_to_a_file_checks_against_eager(tmp_path):
    report = export_model(load_weights("random"), "max", tmp_path / "m.onnx")
    assert report.max_rel_diff < 1e-3
    assert not list(tmp_path.glob("*.part"))


def test_auto_weights_pick_imagenet_from_the_torch_hub_cache(tmp_path, monkeypatch):
    from ortstyle.models import resolve_model

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ORTSTYLE_CACHE", str(tmp_path / "cache"))
    assert resolve_model("auto", "avg").model.weights == "random"  # nothing cached: says so
    checkpoint = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    checkpoint.parent.mkdir(parents=True)
    state = {"features." + k: v for k, v in load_weights("random").state_dict.items()}
    torch.save(state, checkpoint)  # torchvision's format; random values stand in offline
    resolved = resolve_model("auto", "avg")
    assert resolved.model.weights == "imagenet" and not resolved.notes
    assert resolved.model.path.name == "vgg19-imagenet-avg.onnx"


def test_weights_of_the_wrong_shape_or_with_nan_are_refused(tmp_path):
    state = dict(load_weights("random").state_dict)
    state["0.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(OrtStyleError, match=r"0.weight has shape \(3, 3, 3, 3\)"):
        load_weights(str(tmp_path / "shape.pth"))
    state = dict(load_weights("random").state_dict)
    state["2.weight"] = state["2.weight"].clone().fill_(float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(OrtStyleError, match="NaN"):
        load_weights(str(tmp_path / "nan.pth"))


def test_a_failed_export_leaves_nothing_in_the_cache(ortstyle_cache, tmp_path):
    from ortstyle.export.onnx_export import EXPORT_LOCK, cached_model, models_dir

    def listing():  # the folder's one shared lock file may appear; nothing else may
        return sorted(p.name for p in models_dir().iterdir() if p.name != EXPORT_LOCK)

    path = tmp_path / "w.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    before = listing()
    with pytest.raises(OrtStyleError, match="not a VGG19 state dict"):
        cached_model(str(path), "avg")
    assert listing() == before
