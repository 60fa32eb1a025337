"""Reading exported model files: every unusable file gets one clear line (CASES.md C12)."""

import pytest
from onnx import TensorProto, helper

from ortstyle.engine.model import read_model_file
from ortstyle.errors import OrtStyleError


def test_reads_an_export(random_model):
    assert random_model.pooling == "avg" and random_model.is_random
    assert "relu5_1" in random_model.layers
    assert "random weights" in random_model.describe()


def test_missing_file(tmp_path):
    with pytest.raises(OrtStyleError, match="does not exist"):
        read_model_file(tmp_path / "none.onnx")


def test_folder(tmp_path):
    with pytest.raises(OrtStyleError, match="not a file"):
        read_model_file(tmp_path)


def test_truncated_model(tmp_path, random_model):
    path = tmp_path / "cut.onnx"
    path.write_bytes(random_model.path.read_bytes()[:5000])
    with pytest.raises(OrtStyleError, match="not a readable ONNX file"):
        read_model_file(path)


def test_unrelated_file(tmp_path):
    path = tmp_path / "photo.onnx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(OrtStyleError, match=str(path)):
        read_model_file(path)


def _tiny_model(path, opset=17, metadata=None):
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["y"])],
        "g",
        [x],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    path.write_bytes(model.SerializeToString())
    return path


def test_onnx_model_that_is_not_an_ortstyle_export(tmp_path):
    with pytest.raises(OrtStyleError, match="not an ortstyle export"):
        read_model_file(_tiny_model(tmp_path / "other.onnx"))


def test_model_newer_than_the_installed_onnx(tmp_path):
    path = _tiny_model(
        tmp_path / "new.onnx", opset=99, metadata={"ortstyle.format": "ortstyle-vgg19/1"}
    )
    with pytest.raises(OrtStyleError, match="opset 99, newer than"):
        read_model_file(path)
