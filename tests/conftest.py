"""Shared fixtures: an offline cache folder, the random-weight model, small real images."""

import os
from pathlib import Path

import numpy as np
import pytest

# Tests never download and never touch the user's cache.
os.environ["ORTSTYLE_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session", autouse=True)
def ortstyle_cache(tmp_path_factory):
    """A cache folder for the whole session, so the model is exported once."""
    path = tmp_path_factory.mktemp("ortstyle-cache")
    os.environ["ORTSTYLE_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def random_model(ortstyle_cache):
    """The random-weight, average-pooling VGG19 export (needs torch)."""
    pytest.importorskip("torch")
    from ortstyle.models import resolve_model

    return resolve_model("random", "avg").model


@pytest.fixture(scope="session")
def random_model_max(ortstyle_cache):
    """The random-weight, max-pooling VGG19 export (needs torch)."""
    pytest.importorskip("torch")
    from ortstyle.models import resolve_model

    return resolve_model("random", "max").model


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def pytest_collection_modifyitems(config, items):
    """GPU tests carry the `gpu` marker and are skipped where onnxruntime has no CUDA."""
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs onnxruntime-gpu and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
