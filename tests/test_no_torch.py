"""Deployment without PyTorch: the engine imports and a whole stylization runs from a model file."""

import subprocess
import sys

from conftest import EXAMPLES

# Makes `import torch` (and torchvision) fail in the child as if they were not installed.
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoTorch())
"""


def _python(code: str, tmp_path, cache=None):
    env = {
        "PATH": "/usr/bin:/bin",
        "ORTSTYLE_CACHE": str(cache or tmp_path / "cache"),
        "ORTSTYLE_OFFLINE": "1",
        "HOME": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_engine_imports_without_torch(tmp_path):
    code = (
        "import ortstyle.engine.stylize, ortstyle.cli, ortstyle.models\n"
        "assert 'torch' not in sys.modules\nprint('ok')"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_stylize_from_a_model_file_without_torch(tmp_path, random_model):
    out = tmp_path / "out.png"
    code = (
        "from ortstyle.cli import app\n"
        f"app([{str(EXAMPLES / 'tubingen.jpg')!r}, {str(EXAMPLES / 'starry_night.jpg')!r}, "
        f"'-o', {str(out)!r}, '--size', '48', '--iterations', '3', "
        f"'--model', {str(random_model.path)!r}], prog_name='ortstyle', standalone_mode=False)\n"
        "assert 'torch' not in sys.modules"
    )
    code = code.replace("app([", "app(['stylize', ")
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_without_torch_and_without_a_model_the_message_says_what_to_do(tmp_path):
    code = (
        "from ortstyle.cli import app\n"
        f"app(['stylize', {str(EXAMPLES / 'tubingen.jpg')!r}, "
        f"{str(EXAMPLES / 'starry_night.jpg')!r}, "
        f"'-o', {str(tmp_path / 'o.png')!r}, '--size', '48'], prog_name='ortstyle')\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 1
    assert "needs PyTorch" in result.stderr and "--model" in result.stderr
    assert "Traceback" not in result.stderr
